"""What a search's cleverness saved: epochs not trained, built models reused, and the time
that stands for.

Counted over the study's trials as MLflow recorded them (every session's): the epochs
they trained (``trained_epochs``) against the epochs the same trials would have trained
with no pruning, no early stopping and no epoch sharing (each trial's ``epochs`` times the
study's folds; a trial scored from another's states trained none but would have trained
its own), the fits that took a built model instead of building one (``fits_reused``), and
those epochs in seconds at the study's own pace (``train_time`` over ``trained_epochs``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hpsearch.tracking.tracker import StudyTracker, TrialRecord

# Keras's (SciKeras's) epochs when a study sets none.
DEFAULT_EPOCHS = 1


@dataclass
class Savings:
    epochs_trained: int
    epochs_without_savings: int
    fits_reused: int
    fits: int  # the fits whose reuse was recorded
    seconds_per_epoch: float | None  # measured over the trials' trained epochs

    @property
    def epochs_saved(self) -> int:
        return self.epochs_without_savings - self.epochs_trained

    @property
    def seconds_saved(self) -> float | None:
        if self.seconds_per_epoch is None:
            return None
        return self.epochs_saved * self.seconds_per_epoch

    def metrics(self) -> dict[str, float | None]:
        """The parent run's metrics."""
        return {**asdict(self), "seconds_saved": self.seconds_saved}


def study_savings(trials: list[TrialRecord], *, folds: int, default_epochs: int) -> Savings:
    """The savings of ``trials``: those that recorded the epochs they trained, and those
    scored from another trial's states. ``folds``: the study's folds per trial;
    ``default_epochs``: a trial's epochs when its parameters name none."""
    trained = without = reused = fits = 0
    seconds = timed_epochs = 0.0
    for trial in trials:
        metrics = trial.metrics
        shared = trial.shared_from is not None
        if "trained_epochs" not in metrics and not shared:
            continue  # failed before a fit ended, or its folds' records were not seen
        epochs = int(trial.params.get("epochs") or default_epochs)
        own = 0 if shared else int(metrics["trained_epochs"])
        trained += own
        without += epochs * folds
        if "fits_reused" in metrics:
            reused += int(metrics["fits_reused"])
            fits += len(trial.fold_scores)
        if own and metrics.get("train_time"):
            seconds += float(metrics["train_time"])
            timed_epochs += own
    pace = seconds / timed_epochs if timed_epochs else None
    return Savings(trained, without, reused, fits, pace)


def log_savings(study, tracker: StudyTracker) -> Savings:
    """The study's savings over all its recorded trials, logged on the parent run."""
    savings = study_savings(
        tracker.trials(),
        folds=study.n_folds,
        default_epochs=int(study.model.params.get("epochs", DEFAULT_EPOCHS)),
    )
    tracker.log_study_metrics(savings.metrics())
    return savings
