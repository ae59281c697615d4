"""Pruning Optuna trials epoch by epoch, from the process that trains them, and the
pruners a study names.

A trial's first fold reports its validation score (the study's metric, in its natural
sign) to Optuna after every epoch, and stops as soon as the pruner says so; the other folds
of a trial that survived its first fold train to the end. Reporting the first fold only
keeps the steps comparable (step = epoch) across trials, which is what the pruners compare.

The fit runs in a worker process: it opens the study in the same Optuna storage and reports
as the trial, by id, as ``optuna.integration``'s callbacks would in one process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import optuna

from hpsearch.search.optuna_experimental import experimental
from hpsearch.study import Range


@dataclass(frozen=True)
class EpochReports:
    """Where a fold's fit reports after each epoch (picklable, to reach a worker)."""

    storage_url: str
    study_name: str
    trial_id: int


def open_trial(reports: EpochReports, study):
    """The running Optuna trial, seen through the study's storage with the study's pruner."""

    import optuna

    from hpsearch.compat.optuna import running_trial

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with experimental():
        optuna_study = optuna.load_study(
            study_name=reports.study_name,
            storage=_reporting_storage(reports.storage_url),
            pruner=make_pruner(study),
        )
    return running_trial(optuna_study, reports.trial_id)


@functools.cache
def _reporting_storage(url: str) -> optuna.storages.RDBStorage:
    """The storage a process reports epochs to, opened once: opening one loads Alembic's
    migration scripts to check the schema's version, about 0.1 s a trial otherwise. It
    keeps no connection between reports (``NullPool``), so a database dropped after its
    study is not held open by a worker or a test process that outlives it."""
    from sqlalchemy.pool import NullPool

    return optuna.storages.RDBStorage(url, engine_kwargs={"poolclass": NullPool})


def report_epochs_callback(trial, score):
    """A Keras callback: after each epoch ``trial.report(score(), epoch)``; stop the fit
    when the pruner says so (``pruned_at`` then holds the epoch). The pruner is asked only
    after the epochs where it can stop a trial (``decides_at``): each question reads the
    whole study from its storage."""
    import keras

    decides_at = getattr(trial.study.pruner, "decides_at", lambda step: True)

    class ReportEpochs(keras.callbacks.Callback):
        pruned_at: int | None = None

        def on_epoch_end(self, epoch, logs=None):
            trial.report(score(), step=epoch + 1)
            if decides_at(epoch + 1) and trial.should_prune():
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    return ReportEpochs()


def make_pruner(study) -> optuna.pruners.BasePruner:
    name = study.pruner
    if name == "median":
        # step = epoch: 2 is the first step it may prune at (never after one epoch).
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    if name == "hyperband":
        return HyperbandForEveryTrial(min_epochs(study), max_epochs(study))
    if name == "successive_halving":
        return SuccessiveHalving(min_epochs(study))
    return optuna.pruners.NopPruner()


class _AtRungs(optuna.pruners.BasePruner):
    """A successive-halving pruner whose rungs end after ``min_resource`` times a power of
    ``reduction_factor`` epochs: only there can it stop a trial (``decides_at``). Elsewhere
    Optuna's answers no, after reading every trial of the study from its storage."""

    def __init__(self, pruner, min_resource: int, reduction_factor: int) -> None:
        self._pruner = pruner
        self._min_resource, self._reduction_factor = min_resource, reduction_factor

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return self._pruner.prune(study, trial)

    def decides_at(self, step: int) -> bool:
        rung_end = self._min_resource
        while rung_end < step:
            rung_end *= self._reduction_factor
        return rung_end == step


class SuccessiveHalving(_AtRungs):
    """Optuna's ``SuccessiveHalvingPruner`` (its reduction factor, 4)."""

    def __init__(self, min_resource: int, reduction_factor: int = 4) -> None:
        super().__init__(
            optuna.pruners.SuccessiveHalvingPruner(
                min_resource=min_resource, reduction_factor=reduction_factor
            ),
            min_resource,
            reduction_factor,
        )


class HyperbandForEveryTrial(_AtRungs):
    """Hyperband's pruning, with the sampler learning from every trial wherever it prunes.

    Once a study's ``HyperbandPruner`` has pruned in a process, Optuna hands that process's
    sampler only the running trial's bracket (``optuna.pruners._filter_study``; before, every
    trial is in bracket 0), which pays TPE's random start once per bracket: 24 random draws
    of 30 in the KerasTuner benchmark's study (2-12 epochs, 3 brackets). hpsearch samples in
    the study's process and prunes in workers with pruners of their own, so its sampler has
    always seen every trial; this keeps it so if both ever share a process. Each bracket
    is a successive halving whose rungs start at ``min_resource`` times a power of the
    reduction factor (3, Optuna's), so ``decides_at`` holds for all of them."""

    def __init__(self, min_resource: int, max_resource: int, reduction_factor: int = 3) -> None:
        super().__init__(
            optuna.pruners.HyperbandPruner(
                min_resource=min_resource,
                max_resource=max_resource,
                reduction_factor=reduction_factor,
            ),
            min_resource,
            reduction_factor,
        )


def min_epochs(study) -> int:
    """The fewest epochs a trial trains before a pruner that shares out epochs may stop it:
    the bottom of the searched ``epochs`` (``Study.epochs_budget``), else 1. A searched
    range says which epochs are worth a look; one epoch of a recurrent net ranks its
    learning rates by how fast they start, not by where they end."""
    if study.epochs_budget is None:
        return 1
    epochs = study.search.space["epochs"]
    return min(int(value) for value in epochs) if isinstance(epochs, list) else int(epochs.low)


def max_epochs(study) -> int:
    """The most epochs a trial can train (the resource Hyperband shares out): the pruner's
    budget where epochs are one (``Study.epochs_budget``), else the largest ``epochs``
    anywhere in the space."""
    if study.epochs_budget is not None:
        return study.epochs_budget
    most = 1
    for dimension in study.dimensions().get("epochs", []):
        if isinstance(dimension, Range):
            most = max(most, int(dimension.high))
        elif isinstance(dimension, list):
            most = max(most, *(int(value) for value in dimension))
        else:
            most = max(most, int(dimension))
    return most
