"""The ``grid`` backend: scikit-learn's GridSearchCV, tracked candidate by candidate.

The grid is evaluated a few candidates at a time (as many as ``n_jobs``, their folds in
parallel), each chunk by a GridSearchCV over exactly those candidates, and every candidate
is recorded in MLflow as soon as its chunk ends: progress is visible and an interrupted grid
resumes, with the candidates already recorded not trained again (GridSearchCV alone has no
resume). The study's trainer runs each chunk: in a worker process replaced every few
trials, or, for ``n_jobs`` > 1, here through joblib's worker processes.
"""

from __future__ import annotations

import math

from sklearn.model_selection import ParameterGrid

from hpsearch.errors import TrialFailed, UserError
from hpsearch.search.base import SearchBackend


class GridBackend(SearchBackend):
    """Every candidate of ``search.space``, by GridSearchCV."""

    def planned_trials(self) -> int:
        return len(self.candidates())

    def candidates(self) -> list[dict]:
        return list(ParameterGrid(self.study.grid()))

    def run(self) -> None:
        pending = _longest_first(self._pending(self.candidates()))
        n_jobs = self.study.search.n_jobs
        for start in range(0, len(pending), n_jobs):
            time_left = self.time_left()
            if time_left is not None and time_left <= 0:
                return
            self._evaluate_chunk(pending[start : start + n_jobs], n_jobs)

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

    def _evaluate_chunk(self, chunk, n_jobs: int) -> None:
        from contextlib import ExitStack

        cross_validation = self.cross_validation
        n_splits = len(cross_validation.splits)
        with ExitStack() as stack:
            runs = [stack.enter_context(self.tracker.trial(n, params)) for n, params in chunk]
            try:
                results = self.trainer.evaluate_grid([params for _, params in chunk], n_jobs)
                error = None
            except (ValueError, TrialFailed) as failure:
                # GridSearchCV raises when every fit of a chunk failed, even with
                # error_score=nan; a worker that died fails its chunk too.
                if isinstance(failure, ValueError) and "fits failed" not in str(failure):
                    raise
                results, error = None, _first_line(str(failure))
            for offset, ((number, params), run) in enumerate(zip(chunk, runs, strict=True)):
                if results is None:
                    scores, fit_time = [math.nan] * n_splits, 0.0
                else:
                    scores = [results[f"split{k}_test_score"][offset] for k in range(n_splits)]
                    fit_time = float(results["mean_fit_time"][offset] * n_splits)
                outcome = cross_validation.outcome(number, params, scores, fit_time, error=error)
                self.finish_trial(run, outcome)


def _longest_first(pending: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    """Candidates that differ only in ``epochs`` one after the other, most epochs first.

    The shorter ones then take the states a longer fit of the same folds passed through
    (``hpsearch.models.reuse``) instead of training again; groups keep the grid's order.
    """
    groups: dict[str, list[tuple[int, dict]]] = {}
    for number, candidate in pending:
        rest = {k: v for k, v in candidate.items() if k != "epochs"}
        groups.setdefault(repr(sorted(rest.items(), key=str)), []).append((number, candidate))
    return [
        item
        for group in groups.values()
        for item in sorted(group, key=lambda item: -int(item[1].get("epochs") or 0))
    ]


def _first_line(message: str) -> str:
    """The sentence that says what happened ("All the 4 fits failed.")."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return next((line for line in lines if "fits failed" in line), lines[0] if lines else "")


def _normalised(params: dict) -> dict:
    return {
        k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
        for k, v in params.items()
    }
