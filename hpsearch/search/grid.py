"""The ``grid`` backend: scikit-learn's GridSearchCV, tracked candidate by candidate.

Each candidate (or chunk of candidates) is a GridSearchCV over exactly those candidates,
and every candidate is recorded in MLflow as soon as it ends: progress is visible and an
interrupted grid resumes, with the candidates already recorded not trained again
(GridSearchCV alone has no resume). Candidates that differ only in ``epochs`` form a group
that runs in one worker process, longest first, so the shorter ones take the longer fit's
epochs (``hpsearch.models.reuse``). With ``n_jobs`` > 1 the groups are shared out between
``n_jobs`` worker processes (one thread here waits on each), each taking the groups that
build the model it already holds while there are any; with ``trials_per_process:
0``, GridSearchCV's own ``n_jobs`` runs the folds in joblib's worker processes instead.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

from sklearn.model_selection import ParameterGrid

from hpsearch.errors import TrialFailed, UserError
from hpsearch.models.reuse import FIT_ONLY, OPTIMIZER_VARIABLES
from hpsearch.search.base import SearchBackend
from hpsearch.tracking.names import (
    BACKEND_TAG,
    KILLED_STATUS,
    PRUNER_TAG,
    RUNNING,
    SAMPLER_TAG,
)

# What a candidate may change and still use the model built for another (hpsearch.models.reuse).
NOT_ARCHITECTURE = FIT_ONLY | OPTIMIZER_VARIABLES


class GridBackend(SearchBackend):
    """Every candidate of ``search.space``, by GridSearchCV."""

    @classmethod
    def search_tags(cls, study) -> dict[str, str]:
        return {BACKEND_TAG: "grid", SAMPLER_TAG: "grid", PRUNER_TAG: "none"}

    def planned_trials(self) -> int:
        return len(self.candidates())

    def candidates(self) -> list[dict]:
        return list(ParameterGrid(self.study.grids()))

    def run(self) -> None:
        groups = _epoch_groups(self._pending(self.candidates()))
        # A worker is replaced between epoch groups only: within one, the shorter
        # candidates take the epochs the longest fit kept in that worker.
        self._group_ends = {group[-1][0] for group in groups}
        if self.trainer.jobs > 1:
            self._run_in_workers(groups)
            return
        pending = [item for group in groups for item in group]
        n_jobs = self.study.search.n_jobs  # > 1 only in this process: joblib's workers
        size = self.trainer.chunk_size(n_jobs) if pending else 1  # a Dask cluster: all of it
        for start in range(0, len(pending), size):
            if self.out_of_time():
                return
            self._evaluate_chunk(pending[start : start + size], n_jobs)

    def _run_in_workers(self, groups: list[list[tuple[int, dict]]]) -> None:
        """Groups shared out between the trainer's workers, the most epochs first, each
        worker keeping to the models it has built where it can (``_next_group``)."""
        queue = sorted(groups, key=lambda group: -_epochs(group[0][1]))
        lock = threading.Lock()
        built: dict[int, str] = {}  # by worker: the architecture it built last

        def work(worker: int) -> None:
            while True:
                with lock:
                    if not queue or self.trainer.stopping:
                        return
                    group = _next_group(queue, built, worker)
                for item in group:
                    if self.out_of_time():
                        return
                    self._evaluate_chunk([item], 1)

        jobs = self.trainer.jobs
        with ThreadPoolExecutor(jobs, thread_name_prefix="hpsearch-grid") as pool:
            for done in [pool.submit(work, worker) for worker in range(jobs)]:
                done.result()

    def _pending(self, candidates: list[dict]) -> list[tuple[int, dict]]:
        """Candidates not recorded as finished by an earlier session; killed ones are redone."""
        finished = {}
        for record in self.tracker.trials():
            if record.status == KILLED_STATUS or record.state == RUNNING:
                self.tracker.delete_run(record.run_id)
                continue
            if record.left_open:
                self.tracker.close_recorded(record)
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
                if self.trainer.stopping:  # its worker was stopped by Ctrl-C or SIGTERM
                    raise KeyboardInterrupt from None
                results, error = None, _first_line(str(failure))
            for offset, ((number, params), run) in enumerate(zip(chunk, runs, strict=True)):
                if results is None:
                    scores, fit_time = [math.nan] * n_splits, 0.0
                else:
                    scores = [results[f"split{k}_test_score"][offset] for k in range(n_splits)]
                    # Fit and score, as an Optuna trial's folds count it.
                    per_fold = results["mean_fit_time"][offset] + results["mean_score_time"][offset]
                    fit_time = float(per_fold * n_splits)
                outcome = cross_validation.outcome(number, params, scores, fit_time, error=error)
                self.finish_trial(run, outcome, recycle=number in self._group_ends)


def _epoch_groups(pending: list[tuple[int, dict]]) -> list[list[tuple[int, dict]]]:
    """Candidates that differ only in ``epochs``, together, most epochs first.

    Run one after the other in one worker, the shorter ones take the states the longer fit
    of the same folds passed through (``hpsearch.models.reuse``) instead of training
    again. Groups that build the same model (they differ only in fit settings such as
    ``batch_size`` or ``learning_rate``) run one after another, so that the model built
    and traced for the first serves the next; otherwise groups keep the grid's order.
    """
    groups: dict[str, list[tuple[int, dict]]] = {}
    for number, candidate in pending:
        groups.setdefault(_signature(candidate, {"epochs"}), []).append((number, candidate))
    architectures: dict[str, int] = {}
    for group in groups.values():
        architectures.setdefault(_architecture(group), len(architectures))
    ordered = sorted(groups.values(), key=lambda group: architectures[_architecture(group)])
    return [sorted(group, key=lambda item: -_epochs(item[1])) for group in ordered]


def _next_group(queue: list, built: dict[int, str], worker: int) -> list:
    """Take from ``queue`` the group ``worker`` trains next, and note its model in ``built``
    (by worker: the architecture it built last): the first group that builds the model
    this worker built last (reused, not built and traced again), else the first whose
    model no other worker holds (the two keep apart), else the first."""
    mine = built.get(worker)
    others = {architecture for w, architecture in built.items() if w != worker}
    architectures = [_architecture(group) for group in queue]
    if mine in architectures:
        index = architectures.index(mine)
    else:
        free = [i for i, architecture in enumerate(architectures) if architecture not in others]
        index = free[0] if free else 0
    built[worker] = architectures[index]
    return queue.pop(index)


def _architecture(group: list[tuple[int, dict]]) -> str:
    return _signature(group[0][1], NOT_ARCHITECTURE)


def _signature(candidate: dict, leaving_out) -> str:
    return repr(sorted(((k, v) for k, v in candidate.items() if k not in leaving_out), key=str))


def _epochs(candidate: dict) -> int:
    return int(candidate.get("epochs") or 0)


def _first_line(message: str) -> str:
    """The sentence that says what happened ("All the 4 fits failed.")."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return next((line for line in lines if "fits failed" in line), lines[0] if lines else "")


def _normalised(params: dict) -> dict:
    return {
        k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
        for k, v in params.items()
    }
