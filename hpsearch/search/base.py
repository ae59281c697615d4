"""The contract every search backend keeps.

A backend decides which candidates to try and in which order; for each it opens a trial
run with the tracker, has the ``Trainer`` fit and score it (in a worker process) and
finishes the run with the ``TrialOutcome`` that ``CrossValidation`` makes of the folds.
Resuming is the backend's job too: it knows what "already done" means.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from hpsearch.search.coordination import StudyMutex
from hpsearch.search.evaluation import CrossValidation, TrialOutcome
from hpsearch.search.trainer import Trainer
from hpsearch.study import Study
from hpsearch.tracking.tracker import StudyTracker

ProgressCallback = Callable[[TrialOutcome], None]


class SearchBackend(ABC):
    """Runs a study's trials and reports each one as it ends."""

    def __init__(
        self,
        study: Study,
        cross_validation: CrossValidation,
        tracker: StudyTracker,
        trainer: Trainer,
        *,
        on_trial: ProgressCallback | None = None,
        exclusive: bool = False,
        mutex: StudyMutex | None = None,
    ) -> None:
        self.study = study
        # True when this process holds the study's lock (hpsearch.tracking.lock): any trial
        # still marked RUNNING was then abandoned by a process that died.
        self.exclusive = exclusive
        # Set when workers on other machines share the study (``hpsearch worker``).
        self.mutex = mutex
        self.cross_validation = cross_validation
        self.tracker = tracker
        self.trainer = trainer
        self.on_trial = on_trial or (lambda outcome: None)
        self.started = time.monotonic()

    @classmethod
    @abstractmethod
    def search_tags(cls, study: Study) -> dict[str, str]:
        """Tags of the parent and every trial run: how the study searches (backend,
        sampler, pruner), the same for every session."""

    def reported_values(self) -> dict[int, dict[int, float]] | None:
        """What each trial reported epoch by epoch (to a pruner), by trial number, for the
        study's plots; None when the backend keeps no such reports."""
        return None

    @abstractmethod
    def planned_trials(self) -> int:
        """The study's whole budget (grid size or n_trials), for progress and resume."""

    @abstractmethod
    def run(self) -> None:
        """Run (or resume) the search until its budget or timeout is spent."""

    def time_left(self) -> float | None:
        if self.study.search.timeout is None:
            return None
        return self.study.search.timeout - (time.monotonic() - self.started)

    def out_of_time(self) -> bool:
        """The study's ``search.timeout`` is spent: start no more trials."""
        time_left = self.time_left()
        return time_left is not None and time_left <= 0

    def finish_trial(self, trial_run, outcome: TrialOutcome, *, recycle: bool = True) -> None:
        """Record the trial. ``recycle=False``: the next trial needs what this one's
        process holds (a grid's epoch group), so its worker is not replaced yet."""
        trial_run.finish(outcome)
        self.trainer.trial_done(recycle=recycle)
        self.on_trial(outcome)
