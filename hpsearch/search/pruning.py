"""Pruning Optuna trials epoch by epoch, from the process that trains them.

A trial's first fold reports its validation score (the study's metric, in its natural
sign) to Optuna after every epoch, and stops as soon as the pruner says so; the other folds
of a trial that survived its first fold train to the end. Reporting the first fold only
keeps the steps comparable (step = epoch) across trials, which is what the pruners compare.

The fit runs in a worker process: it opens the study in the same Optuna storage and reports
as the trial, by id, as ``optuna.integration``'s callbacks would in one process.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EpochReports:
    """Where a fold's fit reports after each epoch (picklable, to reach a worker)."""

    storage_url: str
    study_name: str
    trial_id: int


def open_trial(reports: EpochReports, study):
    """The running Optuna trial, seen through the study's storage with the study's pruner."""
    import warnings

    import optuna

    from hpsearch.compat.optuna import running_trial
    from hpsearch.search.optuna_search import make_pruner

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna_study = optuna.load_study(
            study_name=reports.study_name,
            storage=reports.storage_url,
            pruner=make_pruner(study),
        )
    return running_trial(optuna_study, reports.trial_id)


def report_epochs_callback(trial, score):
    """A Keras callback: after each epoch ``trial.report(score(), epoch)``; stop the fit
    when the pruner says so (``pruned_at`` then holds the epoch)."""
    import keras

    class ReportEpochs(keras.callbacks.Callback):
        pruned_at: int | None = None

        def on_epoch_end(self, epoch, logs=None):
            trial.report(score(), step=epoch + 1)
            if trial.should_prune():
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    return ReportEpochs()
