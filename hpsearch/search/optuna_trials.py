"""What hpsearch keeps on an Optuna trial, and what it reads back from one: its own error,
the longer trial a shared trial was scored from, its id in the storage, a retry's origin,
and whether it counts against the study's budget."""

from __future__ import annotations

import optuna

from hpsearch.search.optuna_experimental import experimental
from hpsearch.tracking.names import spends_budget

ERROR_ATTR = "error"  # set on trials that failed by themselves (they count in the budget)
SHARED_ATTR = "shared_from"  # on trials scored from a longer trial's fits (not counted)
GRACE_HEARTBEATS = 3  # heartbeats a trial may miss before it counts as abandoned
TAKEN_OVER = (
    "its heartbeat was silent past the grace period (a paused machine or a lost connection),"
    " so another worker failed it and ran a trial in its place; this result does not count"
)


class TrialTakenOver(Exception):
    """A worker's trial that another worker failed while its heartbeat was silent: recorded
    FAIL in MLflow, and not to be told to Optuna, which holds it FAIL already."""


def is_shared(trial) -> bool:
    """A trial scored from a longer trial's fits: outside the budget, never retried."""
    return SHARED_ATTR in trial.user_attrs


def storage_trial_id(trial: optuna.Trial) -> int:
    """A running trial's id in its storage, which the storage's methods and a worker process
    (``EpochReports``) take. ``optuna.Trial`` does not show it: the storage finds it from the
    study's name and the trial's number."""
    storage = trial.storage
    study_id = storage.get_study_id_from_name(trial.study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)


def retried_trial_number(trial: optuna.Trial) -> int | None:
    """The number of the failed trial that ``trial`` retries, if it is a retry."""
    frozen = trial.storage.get_trial(storage_trial_id(trial))
    with experimental():
        return optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)


def failed_elsewhere(trial: optuna.Trial) -> bool:
    """The running trial is FAIL in the storage: another worker found its heartbeat stale."""
    frozen = trial.storage.get_trial(storage_trial_id(trial))
    return frozen.state == optuna.trial.TrialState.FAIL


def counts_in_budget(trial) -> bool:
    """``hpsearch.tracking.names.spends_budget`` of an Optuna trial: its own error is the
    ``error`` user attribute a trial that failed by itself carries."""
    return spends_budget(
        trial.state.name,
        own_result=bool(trial.user_attrs.get(ERROR_ATTR)),
        shared=is_shared(trial),
    )
