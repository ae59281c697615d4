"""The names hpsearch writes into MLflow and the rules read back from them, defined once.

A trial's state (``COMPLETE``, ``PRUNED``, ``FAIL``) is the ``hpsearch.state`` tag of its
run; every tag name hpsearch sets is here, so that the search, the report, the export and
the console read what the tracker wrote. ``spends_budget`` is the one rule of which trials
count against a study's ``n_trials``, for MLflow's records and Optuna's trials alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

COMPLETE, PRUNED, FAIL, RUNNING = "COMPLETE", "PRUNED", "FAIL", "RUNNING"

# MLflow's run status of a trial cut short: Ctrl-C, SIGTERM, a dead worker process.
KILLED_STATUS = "KILLED"

# Tags of every run of a study.
STUDY_TAG = "hpsearch.study"
ROLE_TAG = "hpsearch.role"  # "parent" or "trial"
BACKEND_TAG = "hpsearch.backend"
SAMPLER_TAG = "hpsearch.sampler"
PRUNER_TAG = "hpsearch.pruner"
# Tags of a trial's run.
TRIAL_TAG = "hpsearch.trial"
STATE_TAG = "hpsearch.state"
PARAMS_TAG = "hpsearch.params"  # the typed parameters as JSON (MLflow params are strings)
ERROR_TAG = "hpsearch.error"
# On a trial scored from the states of a longer trial's fits: that trial's number.
SHARED_FROM_TAG = "hpsearch.shared_from"
WORKER_TAG = "hpsearch.worker"  # host:pid of the worker that ran a trial (hpsearch worker)
# "true"/"false": whether the trial's LSTM/GRU layers can run cuDNN's fast kernel on a GPU
# (absent for a model without any: hpsearch.models.cudnn).
CUDNN_TAG = "hpsearch.cudnn"
RETRY_OF_TAG = "hpsearch.retry_of"  # the trial a retry (search.retries) runs again
# Tags of the parent run.
DATA_TAG = "hpsearch.data"  # the loader, its parameters and the data's shape, as JSON
METRIC_TAG = "hpsearch.metric"
DIRECTION_TAG = "hpsearch.direction"
BASELINE_TAG = "hpsearch.baseline"
BEST_RUN_TAG = "hpsearch.best_run_id"
BEST_PARAMS_TAG = "hpsearch.best_params"
MODEL_TRIAL_TAG = "hpsearch.model_trial_run_id"
PARETO_TAG = "hpsearch.pareto_front"  # trial numbers, as JSON (multi-objective studies)
# What a trial needs to be trained again from its record alone (``hpsearch rerun``).
SEED_TAG = "hpsearch.seed"  # the study's seed (the parent's and every trial's)
DATA_SHA_TAG = "hpsearch.data_sha256"  # the training data's content (X and y), on the parent
STUDY_DIR_TAG = "hpsearch.study_dir"  # where the study file's own references resolve
STORAGE_TAG = "hpsearch.storage"  # the Optuna storage, any password as *** (optuna studies)
# On a trial's run: its candidate refitted on all training data (``export --trial``).
REFIT_TAG = "hpsearch.refitted"


def spends_budget(state: str, *, own_result: bool, shared: bool) -> bool:
    """Whether a trial counts against ``n_trials``: it ended with a result of its own (a
    score, a prune, or an error of its own), and was neither cut short (``own_result``
    False: interrupted, its process died) nor scored from another trial's fits
    (``shared``)."""
    if shared:
        return False
    if state == FAIL:
        return own_result
    return state in (COMPLETE, PRUNED)


def best_of(trials: Iterable[Any], direction: str):
    """The best COMPLETE trial with a finite score (the lowest number among equals); None
    when none completed. Trials have ``state``, ``score`` and ``number``."""
    complete = [t for t in trials if t.state == COMPLETE and math.isfinite(t.score)]
    if not complete:
        return None
    sign = -1 if direction == "maximize" else 1
    return min(complete, key=lambda t: (sign * t.score, t.number))
