"""Optuna's private API that hpsearch uses: a ``Trial`` for a trial another process asked for.

The rest goes through Optuna's public API: a running trial's storage id through
``storage.get_study_id_from_name`` and ``get_trial_id_from_study_id_trial_number``, a retry's
origin through ``RetryHeartbeatStaleTrialCallback.retried_trial_number``.
"""

from __future__ import annotations

import inspect

import optuna


def running_trial(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """The ``Trial`` of a trial already RUNNING in ``study``'s storage, so that the worker
    process training it reports its epochs and asks the pruner as the trial.

    Why: Optuna documents ``Trial(study, trial_id)`` but not for direct use (only ``ask`` and
    ``optimize`` build one, and both start a new trial). Public alternative: reporting through
    the storage by hand (``storage.set_trial_intermediate_value``, ``study.pruner.prune``),
    which would copy ``Trial.report``'s checks and ``should_prune``'s reading.
    """
    return optuna.trial.Trial(study, trial_id)


def missing() -> list[str]:
    """The private names above that this Optuna lacks."""
    parameters = list(inspect.signature(optuna.trial.Trial.__init__).parameters)
    if parameters[1:] != ["study", "trial_id"]:
        return ["optuna.trial.Trial.__init__(study, trial_id)"]
    return []
