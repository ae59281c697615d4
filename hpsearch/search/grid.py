"""The ``grid`` backend: scikit-learn's GridSearchCV, tracked candidate by candidate.

GridSearchCV asks its subclasses for one thing, ``_run_search(evaluate_candidates)``. Ours
evaluates the grid a few candidates at a time (as many as ``n_jobs``, their folds in
parallel) and records each candidate in MLflow as soon as its folds end, so progress is
visible and an interrupted grid resumes: candidates already recorded are not trained again.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.model_selection import GridSearchCV, ParameterGrid

from hpsearch.errors import UserError
from hpsearch.search.base import SearchBackend
from hpsearch.search.evaluation import FAIL


class TrackedGridSearchCV(GridSearchCV):
    """GridSearchCV that evaluates ``pending`` candidates in chunks and reports each chunk."""

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        pending=(),
        chunk_size=1,
        on_chunk=None,
        keep_going=None,
        **kwargs,
    ):
        super().__init__(estimator, param_grid, **kwargs)
        self.pending = pending
        self.chunk_size = chunk_size
        self.on_chunk = on_chunk
        self.keep_going = keep_going

    def _run_search(self, evaluate_candidates):
        pending = list(self.pending)
        for start in range(0, len(pending), self.chunk_size):
            if self.keep_going is not None and not self.keep_going():
                return
            chunk = pending[start : start + self.chunk_size]
            self.on_chunk(chunk, evaluate_candidates)


class GridBackend(SearchBackend):
    """Every candidate of ``search.space``, by GridSearchCV."""

    def planned_trials(self) -> int:
        return len(self.candidates())

    def candidates(self) -> list[dict]:
        return list(ParameterGrid(self.study.grid()))

    def run(self) -> None:
        candidates = self.candidates()
        pending = self._pending(candidates)
        if not pending:
            return
        cross_validation = self.cross_validation
        self._completed = 0
        search = TrackedGridSearchCV(
            cross_validation.estimator(candidates[0]),
            self.study.grid(),
            pending=pending,
            chunk_size=max(1, self.study.search.n_jobs),
            on_chunk=self._evaluate_chunk,
            keep_going=lambda: self.time_left() is None or self.time_left() > 0,
            scoring=cross_validation.scorer,
            cv=cross_validation.splits,
            n_jobs=self.study.search.n_jobs,
            error_score=np.nan,
            refit=False,  # the runner refits the best of all sessions of the study
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # failures are recorded per trial instead
            try:
                search.fit(
                    cross_validation.dataset.X,
                    cross_validation.dataset.y,
                    **cross_validation.fold_plan.fit_params(),
                )
            except IndexError:
                # GridSearchCV cannot summarise a search whose every fit failed; each
                # candidate is already recorded as FAIL.
                if self._completed:
                    raise

    def _pending(self, candidates: list[dict]) -> list[tuple[int, dict]]:
        """Candidates not recorded as finished by an earlier session; killed ones are redone."""
        finished = {}
        for record in self.tracker.trials():
            if record.status == "KILLED" or record.state == "RUNNING":
                self.tracker.delete_run(record.run_id)
                continue
            finished[record.number] = record
        for number, record in finished.items():
            if number >= len(candidates) or _normalised(record.params) != _normalised(
                candidates[number]
            ):
                raise UserError(
                    f"{self.study.source}: search.space: the grid changed since this study"
                    f" started (trial {number} was {record.params}); give the study a new name"
                )
        return [(n, c) for n, c in enumerate(candidates) if n not in finished]

    def _evaluate_chunk(self, chunk, evaluate_candidates) -> None:
        from contextlib import ExitStack

        cross_validation = self.cross_validation
        with ExitStack() as stack:
            runs = [stack.enter_context(self.tracker.trial(n, params)) for n, params in chunk]
            try:
                results = evaluate_candidates([params for _, params in chunk])
                error = None
            except ValueError as failure:
                if "fits failed" not in str(failure):
                    raise
                results, error = None, str(failure).strip().splitlines()[0]
            n_splits = len(cross_validation.splits)
            for offset, ((number, params), run) in enumerate(zip(chunk, runs, strict=True)):
                if results is None:
                    scores, fit_time = [math.nan] * n_splits, 0.0
                else:
                    index = len(results["params"]) - len(chunk) + offset
                    scores = [results[f"split{k}_test_score"][index] for k in range(n_splits)]
                    fit_time = float(results["mean_fit_time"][index] * n_splits)
                outcome = cross_validation.outcome(number, params, scores, fit_time, error=error)
                if outcome.state != FAIL:
                    self._completed += 1
                self.finish_trial(run, outcome)


def _normalised(params: dict) -> dict:
    return {
        k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
        for k, v in params.items()
    }
