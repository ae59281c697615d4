"""``hpsearch rerun``: one trial trained again from its MLflow record, fold by fold.

The record holds all it takes: the trial's parameters and seed, the study file on the
parent run, the training data's hash and the package versions. The trial is trained again
in a worker process, as the search trained it, and each fold's score is set beside the
recorded ``cv_score_fold_K``. Every fit is seeded from the study's seed, so on a CPU with
the same data and versions the scores are the same to the last bit; a changed data set or
package is named, and the trial still runs.

A trial scored from another trial's states (``hpsearch.shared_from``) trained nothing of
its own: it is rerun as what it stands for, its parameters trained for its own epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hpsearch.errors import TrialFailed
from hpsearch.tracking.names import DATA_SHA_TAG
from hpsearch.tracking.provenance import package_versions
from hpsearch.tracking.tracker import TrialRecord

TOLERANCE = 1e-6  # a fold's score within this of the record matches it
VERSION_TAG_PREFIX = "hpsearch.version."


@dataclass
class FoldCheck:
    fold: int
    recorded: float | None  # None: the record has no score for this fold
    rerun: float

    @property
    def matches(self) -> bool:
        return (
            self.recorded is not None
            and math.isfinite(self.rerun)
            and abs(self.rerun - self.recorded) <= TOLERANCE
        )


@dataclass
class RerunResult:
    study_name: str
    metric: str
    trial: TrialRecord
    seed: int
    folds: list[FoldCheck]
    data_sha256: str
    recorded_data_sha256: str | None  # None: not recorded (a study run by an older hpsearch)
    # (package, recorded version, this environment's version) where they differ.
    version_changes: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    error: str | None = None  # the rerun failed to train

    @property
    def data_same(self) -> bool | None:
        if self.recorded_data_sha256 is None:
            return None
        return self.recorded_data_sha256 == self.data_sha256

    @property
    def matches(self) -> bool:
        """Every recorded fold trained again to its recorded score."""
        return (
            self.error is None
            and len(self.folds) == len(self.trial.fold_scores)
            and all(fold.matches for fold in self.folds)
        )

    @property
    def params(self) -> dict[str, Any]:
        return self.trial.params


def rerun_trial(run_id: str, tracking_uri: str) -> RerunResult:
    """Train the trial of MLflow run ``run_id`` again and compare its fold scores."""
    from hpsearch.data.fingerprint import data_sha256
    from hpsearch.search.replay import study_trainer
    from hpsearch.tracking.study_record import recorded_study, tracker_of_run

    tracker, trial = tracker_of_run(run_id, tracking_uri)
    study = recorded_study(tracker, trial, tracking_uri)
    parent_tags = tracker.parent_run().data.tags
    trial_tags = tracker.client.get_run(run_id).data.tags
    folds: list[FoldCheck] = []
    error = None
    with study_trainer(study) as (cross_validation, trainer):
        digest = data_sha256(cross_validation.dataset.X, cross_validation.dataset.y)
        try:
            for fold in range(len(cross_validation.splits)):
                result = trainer.evaluate_fold(trial.params, fold, None, trial.number)
                recorded = trial.fold_scores[fold] if fold < len(trial.fold_scores) else None
                folds.append(FoldCheck(fold, recorded, cross_validation.natural(result.score)))
        except TrialFailed as failure:
            error = str(failure)
    return RerunResult(
        study_name=tracker.study_name,
        metric=study.metric.name,
        trial=trial,
        seed=study.seed,
        folds=folds,
        data_sha256=digest,
        recorded_data_sha256=parent_tags.get(DATA_SHA_TAG),
        version_changes=_version_changes(trial_tags),
        error=error,
    )


def _version_changes(tags: dict[str, str]) -> list[tuple[str, str | None, str | None]]:
    """The packages whose version here differs from the one the trial ran with."""
    recorded = {
        key.removeprefix(VERSION_TAG_PREFIX): value
        for key, value in tags.items()
        if key.startswith(VERSION_TAG_PREFIX)
    }
    here = package_versions()
    return [
        (name, recorded.get(name), here.get(name))
        for name in sorted(set(recorded) | set(here))
        if recorded.get(name) != here.get(name)
    ]
