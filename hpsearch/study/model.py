"""The study file's sections as pydantic models, and the ``Study`` they make.

Field defaults are the defaults a user gets; ``docs/study-file.md`` is checked against
them. URIs of the stores (where results live) are resolved here too.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
)

from hpsearch.study.metrics import DEFAULT_METRIC, METRICS, Metric, user_metric
from hpsearch.study.references import ReferenceOrFunction, portable_reference
from hpsearch.study.space import (
    Branches,
    Dimension,
    Range,
    Scalar,
    _check_parameter_names,
    _Section,
)

# Names every Keras user knows that configure training rather than the architecture;
# every other searched name goes to the builder. ``class_weight`` (classification):
# ``balanced``, ``none``, as ``training.class_weight`` says.
TRAINING_PARAMETERS = (
    "optimizer",
    "learning_rate",
    "momentum",
    "batch_size",
    "epochs",
    "class_weight",
)
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")  # the Keras optimizers that take ``momentum``

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
DEFAULT_OPTUNA_STORAGE = "sqlite:///mlruns/optuna.db"

SAMPLERS = ("tpe", "random", "grid", "cmaes", "gp", "qmc", "nsga2")
PRUNERS = ("none", "median", "hyperband", "successive_halving")
# Pruners that share out a budget of epochs: with one, ``epochs`` is their resource.
BUDGET_PRUNERS = ("hyperband", "successive_halving")
STARTUP_SAMPLERS = ("tpe", "gp", "cmaes")  # those with a random start (n_startup_trials)

IN_PYTHON = "<study>"  # the source's name of a study given from Python, not read from a file


# --- the sections ----------------------------------------------------------------------


class DataSection(_Section):
    loader: ReferenceOrFunction  # or, from Python, the function itself
    params: dict[str, Any] = {}
    # What X holds: numbers, token ids (integers for an Embedding) or raw text. Unset, the
    # loader's Dataset(inputs=...) says, else strings are text and anything else numbers.
    inputs: Literal["numbers", "tokens", "text"] | None = None
    # Numbers are standardised per feature with each fit's training rows (and the exported
    # model does the same in front); false hands them to the model as they are.
    standardize: StrictBool = True

    @field_validator("params")
    @classmethod
    def _check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        _check_parameter_names(params)
        return params


# The ``model`` section's settings that reach the estimator as parameters of its own
# (``build_model`` applies them): never a builder parameter or a searched name.
MODEL_SETTINGS = ("jit_compile", "steps_per_execution")


class ModelSection(_Section):
    builder: ReferenceOrFunction  # or, from Python, the function itself
    params: dict[str, Any] = {}
    loss: StrictStr | None = None
    # XLA for the model's steps. Unset is Keras's "auto": off on CPU-only machines. On CPU
    # it halves a recurrent model's steady epochs on long sequences but compiles again for
    # every new input shape (~1-4 s each): it pays for many epochs per built model, not for
    # many short trials (docs/benchmarks.md, XLA). A builder using an op XLA cannot compile
    # fails every trial with it on.
    jit_compile: StrictBool | None = None
    # Training batches per call into TensorFlow (Keras's compile(steps_per_execution)).
    # Unset is hpsearch's default (STEPS_PER_EXECUTION in hpsearch.models.estimator says
    # why); 1 is Keras's own.
    steps_per_execution: StrictInt | None = Field(default=None, ge=1)

    @field_validator("params")
    @classmethod
    def _check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        _check_parameter_names(params)
        return params


class HoldoutCV(_Section):
    holdout: StrictFloat = Field(gt=0.0, lt=1.0)


class TimeSeriesCV(_Section):
    timeseries: StrictInt = Field(ge=2)


class WarmStart(_Section):
    """``search.warm_start``: the best ``top`` parameter sets of another study in the same
    MLflow store, queued first (Optuna only)."""

    study: StrictStr = Field(min_length=1)
    top: StrictInt = Field(default=5, ge=1)


def _cv_kind(value: Any) -> str | None:
    if isinstance(value, Mapping):
        if "timeseries" in value:
            return "<timeseries>"
        return "<holdout>" if "holdout" in value else None
    return "<folds>"


CrossValidation = Annotated[
    Annotated[StrictInt, Field(ge=2), Tag("<folds>")]
    | Annotated[HoldoutCV, Tag("<holdout>")]
    | Annotated[TimeSeriesCV, Tag("<timeseries>")],
    Discriminator(
        _cv_kind,
        custom_error_type="cv",
        custom_error_message="cv is a number of folds (3), {holdout: 0.2} or {timeseries: 3}",
    ),
]


Direction = Literal["maximize", "minimize"]


class SearchSection(_Section):
    backend: Literal["optuna", "grid"] = "optuna"
    n_trials: StrictInt | None = Field(default=None, ge=1)
    timeout: StrictInt | StrictFloat | None = Field(default=None, gt=0)
    sampler: Literal[SAMPLERS] | None = None  # type: ignore[valid-type]
    pruner: Literal[PRUNERS] | None = None  # type: ignore[valid-type]
    # TPE modelling the parameters jointly (Optuna's multivariate TPE, the default) or,
    # with false, one by one (Optuna 4's default).
    multivariate: StrictBool | None = None
    # Trials the model-based samplers (tpe, gp, cmaes) draw at random before modelling
    # the results (Optuna's n_startup_trials: 10 for tpe and gp, 1 for cmaes).
    startup_trials: StrictInt | None = Field(default=None, ge=0)
    # A failed trial (its own error, or its process died) is queued again with the same
    # parameters, up to this many times (Optuna's RetryHeartbeatStaleTrialCallback).
    retries: StrictInt | None = Field(default=None, ge=0)
    n_jobs: StrictInt = Field(default=1, ge=1)
    # Seconds between a running trial's heartbeats in the Optuna storage; a trial silent
    # for three of them belongs to a dead process and is failed (and retried) by others.
    heartbeat: StrictInt = Field(default=20, ge=1)
    # Trials trained by one worker process before it is replaced (TensorFlow never gives
    # back all of a model's memory); 0 trains in the study's own process.
    trials_per_process: StrictInt = Field(default=10, ge=0)
    # TensorFlow intra-op threads of each worker process, inter-op 1 (default: the cores /
    # n_jobs, or for one job TensorFlow's own default).
    threads: StrictInt | None = Field(default=None, ge=1)
    # One built model per architecture, reset between fits, and shorter fits taking the
    # epochs of longer ones (hpsearch.models.reuse).
    reuse_models: StrictBool = True
    # Optuna: a completed trial also scores the shorter ``epochs`` of the space from the
    # states its folds passed through; the best, if better than the trial, becomes a
    # trial of its own that trained nothing and does not count in ``n_trials``.
    # Default: for a list of epochs; true: a range too.
    share_epochs: StrictBool | None = None
    cv: CrossValidation = 3
    # One metric, or a list for a multi-objective study: the metric first, then model
    # facts to minimise (``[accuracy, n_params]``, ``[accuracy, predict_ms]``). A metric of
    # the user's own is a reference (``my_metrics.py:macro_recall``, a function
    # ``(y_true, y_pred) -> float``; from Python the function itself) with a direction.
    metric: ReferenceOrFunction | list[ReferenceOrFunction] | None = None
    direction: Direction | list[Direction] | None = None
    # What the user's own metric receives as y_pred: the estimator's ``predict`` (labels
    # for a classifier, values for a regressor) or its ``predict_proba`` (probabilities
    # of the positive class for two classes, one column per class for more).
    metric_input: Literal["predict", "predict_proba"] = "predict"
    space: dict[str, Dimension] = {}
    # Known-good starting points, evaluated first (optuna); each names some searched values.
    enqueue: list[dict[str, Scalar]] = []
    # Another study's best parameter sets (in this study's space), queued after enqueue.
    warm_start: WarmStart | None = None
    storage: StrictStr | None = None
    # Where a grid's fits run: worker processes of ours, or a Dask cluster (joblib's Dask
    # backend); dask_scheduler is its address, none for a LocalCluster of n_jobs workers.
    grid_backend: Literal["workers", "dask"] = "workers"
    dask_scheduler: StrictStr | None = None

    @field_validator("space")
    @classmethod
    def _check_space(cls, space: dict[str, Any]) -> dict[str, Any]:
        _check_parameter_names(space)
        return space


class TrackingSection(_Section):
    uri: StrictStr | None = None
    # MLflow's system metrics (CPU, memory, disk, network) sampled during every trial.
    system_metrics: StrictBool = True
    system_metrics_interval: StrictInt | StrictFloat = Field(default=1.0, gt=0)
    # Optuna's plots of the study (HTML and PNG) on the parent run when the study ends.
    plots: StrictBool = True


class EarlyStopping(_Section):
    """``training.early_stopping``: each cross-validation fit stops when its held-out rows
    stop improving (Keras's ``EarlyStopping``); ``epochs`` becomes the ceiling."""

    # ``val_loss``, or a metric's name (the study's own metric, or a built-in one of the
    # task), scored on the fold's held-out rows after every epoch.
    monitor: StrictStr = "val_loss"
    patience: StrictInt = Field(default=3, ge=0)
    min_delta: StrictInt | StrictFloat = Field(default=0.0, ge=0)
    # The fit ends with the weights of its best epoch, which the fold's score is then of.
    restore_best_weights: StrictBool = True


ClassWeight = Literal["balanced"] | dict[StrictStr | StrictInt, StrictInt | StrictFloat]


class TrainingSection(_Section):
    """How each fit trains: early stopping, class weights, the user's own callbacks."""

    early_stopping: EarlyStopping | None = None
    # Classification: "balanced" (n_samples / (n_classes * count of the class)) or a
    # weight per label, multiplying each row's sample weight in training.
    class_weight: ClassWeight | None = None
    # Factories of Keras callbacks ("my_callbacks.py:make_reduce_lr"), each called with no
    # arguments once per fit, so that no state passes from one fold to the next.
    callbacks: list[ReferenceOrFunction] = []

    @field_validator("class_weight")
    @classmethod
    def _check_class_weight(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if not value:
                raise ValueError("a weight per label ({label: weight}), or balanced")
            for label, weight in value.items():
                if weight < 0:
                    raise ValueError(f"the weight of {label!r} must be >= 0 (got {weight})")
        return value


class Study(_Section):
    name: StrictStr = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
    task: Literal["classification", "regression"]
    seed: StrictInt = 42
    data: DataSection
    model: ModelSection
    search: SearchSection = SearchSection()
    training: TrainingSection = TrainingSection()
    tracking: TrackingSection = TrackingSection()

    # Set by load_study: where the file is, so "file.py:function" resolves next to it. A
    # study given from Python (a dict, or a Study built there) is IN_PYTHON in the folder
    # its references resolve from: errors then begin "<study>: ...".
    source: Path = Field(default=Path(IN_PYTHON), exclude=True)

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    @property
    def objectives(self) -> list[Any]:
        """The metric, then the secondary objectives of a multi-objective study (a name, a
        reference to the user's metric, or from Python the function)."""
        metric = self.search.metric or DEFAULT_METRIC[self.task]
        return list(metric) if isinstance(metric, list) else [metric]

    @property
    def objective_names(self) -> list[str]:
        """The objectives as scores are named: the metric's name (a function's own name for
        the user's), then the secondary objectives."""
        return [self.metric.name, *self.objectives[1:]]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def metric(self) -> Metric:
        """The metric that scores trials (the first objective)."""
        first = self.objectives[0]
        if isinstance(first, str) and first in METRICS:
            return METRICS[first]
        direction = self.search.direction
        direction = direction[0] if isinstance(direction, list) else direction
        return user_metric(
            portable_reference(first, self.base_dir),
            task=self.task,
            greater_is_better=direction != "minimize",
            response=self.search.metric_input,
        )

    def monitored_metric(self) -> Metric | None:
        """The metric early stopping watches; None for ``val_loss`` or no early stopping."""
        early_stopping = self.training.early_stopping
        if early_stopping is None or early_stopping.monitor == "val_loss":
            return None
        monitor = early_stopping.monitor
        if monitor in METRICS:
            return METRICS[monitor]
        return self.metric  # the study's own metric, by its name or reference

    @property
    def direction(self) -> str:
        return self.metric.direction

    @property
    def directions(self) -> list[str]:
        return [self.direction] + ["minimize"] * (len(self.objectives) - 1)

    @property
    def n_trials(self) -> int:
        return self.search.n_trials or 20

    @property
    def n_folds(self) -> int:
        cv = self.search.cv
        if isinstance(cv, int):
            return cv
        return 1 if isinstance(cv, HoldoutCV) else cv.timeseries

    @property
    def sampler(self) -> str:
        return self.search.sampler or "tpe"

    @property
    def pruner(self) -> str:
        return self.search.pruner or "none"

    @property
    def multivariate_tpe(self) -> bool:
        """TPE models the parameters jointly unless the study says otherwise: Optuna 5's
        default, set explicitly so that an Optuna 4 install samples the same way."""
        return self.sampler == "tpe" and self.search.multivariate is not False

    @property
    def epochs_budget(self) -> int | None:
        """With a pruner that shares out epochs (hyperband, successive_halving), the top of
        the searched ``epochs``: every trial may train that many and the pruner decides how
        many it gets, instead of the sampler drawing a number. Drawn, a short trial
        completes early and can win on a small hold-out, and the refit then trains too
        few epochs on all rows. None when epochs are drawn or fixed."""
        search = self.search
        epochs = search.space.get("epochs")
        if (
            search.backend != "optuna"
            or self.pruner not in BUDGET_PRUNERS
            or self.sampler == "grid"  # its candidates are fixed in advance
            or not isinstance(epochs, (list, Range))
        ):
            return None
        if isinstance(epochs, list):
            return max(int(value) for value in epochs)
        step = int(epochs.step or 1)
        return int(epochs.low) + (int(epochs.high) - int(epochs.low)) // step * step

    @property
    def shared_epochs(self) -> list[int]:
        """The ``epochs`` of the space that a completed Optuna trial scores for its shorter
        siblings (``search.share_epochs``); empty when epochs are not shared. A range only
        when the study asks: every integer of it is then scored."""
        search = self.search
        epochs = search.space.get("epochs")
        if (
            search.share_epochs is False
            or search.backend != "optuna"
            or _epochs_sharing_problem(self) is not None
        ):
            return []
        if isinstance(epochs, list):
            return sorted({int(value) for value in epochs})
        if isinstance(epochs, Range) and epochs.is_int and search.share_epochs:
            return list(range(int(epochs.low), int(epochs.high) + 1, int(epochs.step or 1)))
        return []

    def tracking_uri(self) -> str:
        """``--tracking-uri`` or ``tracking.uri``, else ``MLFLOW_TRACKING_URI``, else mlruns/."""
        return resolve_tracking_uri(self.tracking.uri)

    def optuna_storage(self) -> str:
        return absolute_sqlite(self.search.storage or DEFAULT_OPTUNA_STORAGE)

    @property
    def conditional(self) -> bool:
        return any(isinstance(value, Branches) for value in self.search.space.values())

    def dimensions(self) -> dict[str, list[Any]]:
        """Every searched name with the dimensions it has: one at the top level; one per
        branch for a name inside branches; a branching name is the list of its choices."""
        found: dict[str, list[Any]] = {}
        for name, value in self.search.space.items():
            if isinstance(value, Branches):
                found.setdefault(name, []).append(list(value.choices))
                for subspace in value.choices.values():
                    for inner, dimension in subspace.items():
                        found.setdefault(inner, []).append(dimension)
            else:
                found.setdefault(name, []).append(value)
        return found

    def grid(self) -> dict[str, list[Any]]:
        """A space without branches as scikit-learn's ``param_grid``."""
        (grid,) = self.grids()
        return grid

    def grids(self) -> list[dict[str, list[Any]]]:
        """The space as scikit-learn's ``param_grid``: a list of grids, one per combination
        of branches (fixed values are one-element lists)."""
        grids: list[dict[str, list[Any]]] = [{}]
        for name, value in self.search.space.items():
            if isinstance(value, Branches):
                grids = [
                    {**grid, name: [choice], **_grid_of(subspace)}
                    for grid in grids
                    for choice, subspace in value.choices.items()
                ]
            else:
                grids = [{**grid, **_grid_of({name: value})} for grid in grids]
        return grids

    def grid_size(self) -> int:
        return sum(math.prod(len(values) for values in grid.values()) for grid in self.grids())


def _grid_of(space: dict[str, Any]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for name, value in space.items():
        if isinstance(value, Range):
            grid[name] = value.grid_values()
        elif isinstance(value, list):
            grid[name] = list(value)
        else:
            grid[name] = [value]
    return grid


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL; None for any other store."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def absolute_sqlite(uri: str) -> str:
    """A relative SQLite URL made absolute: MLflow caches stores by URL, and "mlruns/" must
    mean the folder the command started in."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    return uri


_URI_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s:/@'\"]+:)[^\s@'\"]+@")


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` in a text (a URI, a file, JSON) fit to print or log:
    ``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return _URI_PASSWORD.sub(r"\1***@", text)


def resolve_tracking_uri(uri: str | None) -> str:
    return absolute_sqlite(uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)


def training_stops_epoch_sharing(study: Study) -> str | None:
    """Why the training section rules out shorter fits taking a longer fit's states, in
    either backend (None: it does not)."""
    if study.training.early_stopping is not None:
        return (
            "does not combine with training.early_stopping (each fit stops on its own, so a"
            " longer fit's states are not what a shorter fit would have trained)"
        )
    if study.training.callbacks:
        return (
            "does not combine with training.callbacks (a callback may act on the number of"
            " epochs, so a longer fit's states are not what a shorter fit would have trained)"
        )
    return None


def _epochs_sharing_problem(study: Study) -> str | None:
    """Why an Optuna study's trials could not share epochs (None: they can)."""
    search = study.search
    epochs = search.space.get("epochs")
    if study.sampler == "grid":
        return "does not apply to the grid sampler (its trials are fixed in advance)"
    if not search.reuse_models:
        return "needs search.reuse_models (the shorter fits take the kept states)"
    training_problem = training_stops_epoch_sharing(study)
    if training_problem is not None:
        return training_problem
    if study.epochs_budget is not None:
        return (
            f"does not apply with pruner {study.pruner}: epochs is the pruner's budget (each"
            " trial may train up to the top of the range); use pruner none or median"
        )
    if not isinstance(epochs, list) and not (isinstance(epochs, Range) and epochs.is_int):
        return (
            "needs epochs searched at the top of search.space, as a list ([4, 8, 12])"
            " or a range of integers"
        )
    return None
