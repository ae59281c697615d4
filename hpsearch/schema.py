"""The study file: its schema (pydantic), how it is read, and the checks across sections.

Everything a user can get wrong in a study file is reported here as a ``UserError`` naming
the file and the key (``studies/x.yaml: search.space.units.low: ...``), before anything
is trained or written. This module imports neither TensorFlow nor scikit-learn, so that
``hpsearch validate`` answers at once.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from hpsearch.errors import UserError
from hpsearch.metrics import DEFAULT_METRIC, METRICS, SECONDARY_OBJECTIVES

# Names every Keras user knows that configure training rather than the architecture;
# every other searched name goes to the builder.
TRAINING_PARAMETERS = ("optimizer", "learning_rate", "momentum", "batch_size", "epochs")
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")  # the Keras optimizers that take ``momentum``

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
DEFAULT_OPTUNA_STORAGE = "sqlite:///mlruns/optuna.db"

SAMPLERS = ("tpe", "random", "grid", "cmaes", "gp", "qmc", "nsga2")
PRUNERS = ("none", "median", "hyperband", "successive_halving")
STARTUP_SAMPLERS = ("tpe", "gp", "cmaes")  # those with a random start (n_startup_trials)


def _check_scalar(value: Any) -> Any:
    if not isinstance(value, (bool, int, float, str)):
        raise ValueError(
            f"expected a number, a string or true/false (got {type(value).__name__} {value!r})"
        )
    return value


Scalar = Annotated[Any, AfterValidator(_check_scalar)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- the search space ------------------------------------------------------------------


class Range(_Section):
    """``{low, high, step?, log?}``: integers when both bounds are integers."""

    low: StrictInt | StrictFloat
    high: StrictInt | StrictFloat
    step: StrictInt | StrictFloat | None = None
    log: bool = False

    @model_validator(mode="after")
    def _check_bounds(self) -> Range:
        for name in ("low", "high", "step"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number (got {value})")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must be <= high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got low = {self.low})")
        if self.step is not None:
            if self.step <= 0:
                raise ValueError(f"step must be > 0 (got {self.step})")
            if self.log:
                raise ValueError("step and log cannot be combined")
        return self

    @property
    def is_int(self) -> bool:
        return all(isinstance(v, int) for v in (self.low, self.high, self.step or 1))

    def grid_values(self) -> list[int | float]:
        """The enumerated values, for the grid backend (floats need a step)."""
        if self.is_int:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise ValueError("a float range needs a step to be enumerated")
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def describe(self) -> str:
        kind = "int" if self.is_int else "float"
        extra = f", step {self.step}" if self.step is not None else ""
        extra += ", log" if self.log else ""
        return f"{kind} in [{self.low}, {self.high}]{extra}"


def _check_choices(values: list[Any]) -> list[Any]:
    if not values:
        raise ValueError("an empty list of choices; give at least one value")
    seen = set()
    for value in values:
        marker = (type(value).__name__, value)
        if marker in seen:
            raise ValueError(f"the choice {value!r} is listed twice")
        seen.add(marker)
    return values


def _dimension_kind(value: Any) -> str:
    if isinstance(value, list):
        return "<choices>"
    if isinstance(value, Mapping):
        return "<branches>" if "choices" in value else "<range>"
    return "<fixed>"


# A dimension inside a branch: choices, a range or a fixed value.
PlainDimension = Annotated[
    Annotated[list[Scalar], AfterValidator(_check_choices), Tag("<choices>")]
    | Annotated[Range, Tag("<range>")]
    | Annotated[Scalar, Tag("<fixed>")],
    Discriminator(_dimension_kind),
]


class Branches(_Section):
    """``{choices: {value: {name: dimension, ...}, ...}}``: a choice whose values bring
    their own sub-spaces (a learning-rate range per optimizer; ``growth`` only when
    ``layers`` > 1). One level: a branch holds plain dimensions."""

    choices: dict[StrictBool | StrictInt | StrictStr, dict[str, PlainDimension]]

    @field_validator("choices")
    @classmethod
    def _check_branches(cls, choices: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
        if not choices:
            raise ValueError("no choices; give at least one value with its sub-space ({})")
        for subspace in choices.values():
            _check_parameter_names(subspace)
        return choices

    def describe(self) -> str:
        return "one of " + "; ".join(
            f"{choice!r} with {', '.join(subspace) or 'nothing more'}"
            for choice, subspace in self.choices.items()
        )


Dimension = Annotated[
    Annotated[list[Scalar], AfterValidator(_check_choices), Tag("<choices>")]
    | Annotated[Range, Tag("<range>")]
    | Annotated[Branches, Tag("<branches>")]
    | Annotated[Scalar, Tag("<fixed>")],
    Discriminator(_dimension_kind),
]


def branch_name(name: str, parent: str, choice: Any) -> str:
    """The Optuna name of a parameter inside a branch (``learning_rate[optimizer=adam]``):
    its range may differ from branch to branch, and Optuna keeps one distribution per name."""
    return f"{name}[{parent}={choice}]"


# --- the sections ----------------------------------------------------------------------


def _check_parameter_names(names) -> None:
    """Names become keyword arguments of a loader, a builder or training."""
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{name!r} is not a valid parameter name")


class DataSection(_Section):
    loader: StrictStr = Field(min_length=1)
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
    builder: StrictStr = Field(min_length=1)
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
    # facts to minimise (``[accuracy, n_params]``, ``[accuracy, predict_ms]``).
    metric: StrictStr | list[StrictStr] | None = None
    direction: Direction | list[Direction] | None = None
    space: dict[str, Dimension] = {}
    # Known-good starting points, evaluated first (optuna); each names some searched values.
    enqueue: list[dict[str, Scalar]] = []
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


class Study(_Section):
    name: StrictStr = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
    task: Literal["classification", "regression"]
    seed: StrictInt = 42
    data: DataSection
    model: ModelSection
    search: SearchSection = SearchSection()
    tracking: TrackingSection = TrackingSection()

    # Set by load_study: where the file is, so "file.py:function" resolves next to it.
    source: Path = Field(default=Path("."), exclude=True)

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    @property
    def objectives(self) -> list[str]:
        """The metric, then the secondary objectives of a multi-objective study."""
        metric = self.search.metric or DEFAULT_METRIC[self.task]
        return list(metric) if isinstance(metric, list) else [metric]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def metric(self):
        """The metric that scores trials (the first objective)."""
        return METRICS[self.objectives[0]]

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


# --- reading ---------------------------------------------------------------------------


class _StudyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, plus floats such as ``1e-4`` and an error on duplicate keys."""


_StudyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?\.?\d*[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StudyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such study file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a study file") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (it is not valid UTF-8)") from None
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        return yaml.load(text, Loader=_StudyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = " ".join(str(error.problem or error.context or "invalid YAML").split())
        raise UserError.at(path, where, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise UserError.at(path, "YAML", " ".join(str(error).split())) from None


def _format_location(location: tuple[Any, ...]) -> str:
    # Tagged unions add their tag ("<range>", "<choices>"...) to the location: drop it.
    parts = [str(part) for part in location if not str(part).startswith("<")]
    parts = [p for p in parts if not p.startswith(("function-", "literal[", "constrained-"))]
    return ".".join(parts) or "(top level)"


def _format_problem(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing (required)"
    if kind == "string_pattern_mismatch":
        return (
            "use letters, digits, '_', '.' and '-' (starting with a letter or digit,"
            f" at most 100 characters; got {error.get('input')!r})"
        )
    if "input" in error and kind not in ("missing",):
        value = error["input"]
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if kind.endswith("_type") or kind.startswith(("literal", "union_tag")):
            return f"{message} (got {shown})"
    return message


def parse_study(raw: Any, source: Path) -> Study:
    """Validate an already-read study document; raise ``UserError`` on the first problem."""
    if raw is None:
        raise UserError.at(source, "(top level)", "the file is empty")
    if not isinstance(raw, Mapping):
        raise UserError.at(
            source, "(top level)", f"a study file is a mapping of keys (got {type(raw).__name__})"
        )
    try:
        study = Study.model_validate({**raw, "source": source}, strict=False)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise UserError.at(source, _format_location(first["loc"]), _format_problem(first)) from None
    _check_across_sections(study, source)
    return study


def _epochs_sharing_problem(study: Study) -> str | None:
    """Why an Optuna study's trials could not share epochs (None: they can)."""
    search = study.search
    epochs = search.space.get("epochs")
    if study.sampler == "grid":
        return "does not apply to the grid sampler (its trials are fixed in advance)"
    if not search.reuse_models:
        return "needs search.reuse_models (the shorter fits take the kept states)"
    if not isinstance(epochs, list) and not (isinstance(epochs, Range) and epochs.is_int):
        return (
            "needs epochs searched at the top of search.space, as a list ([4, 8, 12])"
            " or a range of integers"
        )
    return None


def _check_share_epochs(study: Study, source: Path) -> None:
    """``search.share_epochs: true`` where nothing could be shared is a mistake to say."""
    problem = _epochs_sharing_problem(study) if study.search.share_epochs else None
    if problem is not None:
        raise UserError.at(source, "search.share_epochs", problem)


def _check_across_sections(study: Study, source: Path) -> None:
    search = study.search
    _check_objectives(study, source)
    if search.multivariate is not None and study.sampler != "tpe":
        raise UserError.at(
            source,
            "search.multivariate",
            f"applies to the tpe sampler only (the sampler is {study.sampler})",
        )
    if search.startup_trials is not None and study.sampler not in STARTUP_SAMPLERS:
        raise UserError.at(
            source,
            "search.startup_trials",
            f"applies to the {', '.join(STARTUP_SAMPLERS)} samplers only"
            f" (the sampler is {study.sampler})",
        )
    if search.backend == "grid":
        optuna_only = (
            "n_trials",
            "sampler",
            "pruner",
            "multivariate",
            "startup_trials",
            "retries",
            "share_epochs",
        )
        for key in optuna_only:
            if getattr(search, key) is not None:
                raise UserError.at(
                    source,
                    f"search.{key}",
                    "applies to the optuna backend only (the grid runs every candidate)",
                )
        for _, key, value in _located_dimensions(search.space):
            if isinstance(value, Range) and not value.is_int and value.step is None:
                raise UserError.at(source, key, "the grid backend needs a step for a float range")
    _check_branches(study, source)
    _check_share_epochs(study, source)
    if search.grid_backend == "dask" and search.backend != "grid":
        raise UserError.at(
            source, "search.grid_backend", "applies to the grid backend only (backend: grid)"
        )
    if search.dask_scheduler is not None and search.grid_backend != "dask":
        raise UserError.at(source, "search.dask_scheduler", "applies with grid_backend: dask only")
    if search.threads is not None and (
        search.trials_per_process == 0 or search.grid_backend == "dask"
    ):
        raise UserError.at(
            source,
            "search.threads",
            "sets the threads of hpsearch's worker processes; with trials_per_process: 0 or"
            " a Dask grid, set TF_NUM_INTRAOP_THREADS in the environment instead",
        )
    if search.backend == "optuna" and search.n_jobs > 1 and search.trials_per_process == 0:
        raise UserError.at(
            source,
            "search.n_jobs",
            "parallel Optuna trials train in worker processes; trials_per_process: 0 allows"
            " n_jobs: 1 only",
        )
    _check_enqueue(search, source)
    for name, key, value in _located_dimensions(search.space):
        if name in study.model.params:
            raise UserError.at(source, key, "also set in model.params; set it in one place")
        if name in ("epochs", "batch_size"):
            lows = _int_values(value)
            if lows is not None and min(lows) < 1:
                shown = value.describe() if isinstance(value, Range) else repr(value)
                raise UserError.at(source, key, f"must be an integer >= 1 (got {shown})")


def _located_dimensions(space: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(name, study-file key, dimension) of every dimension, inside branches too."""
    for name, value in space.items():
        if isinstance(value, Branches):
            for choice, subspace in value.choices.items():
                for inner, dimension in subspace.items():
                    yield inner, f"search.space.{name}.choices.{choice}.{inner}", dimension
        else:
            yield name, f"search.space.{name}", value


def _check_branches(study: Study, source: Path) -> None:
    """A name inside branches belongs to one branching name, and is not also top level."""
    space = study.search.space
    owner: dict[str, str] = {}
    for name, value in space.items():
        if not isinstance(value, Branches):
            continue
        for choice, subspace in value.choices.items():
            for inner in subspace:
                key = f"search.space.{name}.choices.{choice}.{inner}"
                if inner in space:
                    raise UserError.at(source, key, f"{inner!r} is also searched at the top level")
                if owner.setdefault(inner, name) != name:
                    raise UserError.at(
                        source, key, f"{inner!r} is also in the branches of {owner[inner]!r}"
                    )
    if study.conditional and study.search.backend == "optuna" and study.sampler == "grid":
        raise UserError.at(
            source,
            "search.sampler",
            "Optuna's grid sampler takes no branches; use backend: grid (a list of grids)",
        )


def _check_objectives(study: Study, source: Path) -> None:
    """The metric (first), secondary objectives, their directions; what they rule out."""
    search = study.search
    objectives = study.objectives
    if not objectives or len(set(objectives)) != len(objectives):
        raise UserError.at(source, "search.metric", "a list of different objectives, metric first")
    metric_name = objectives[0]
    if metric_name not in METRICS:
        known = ", ".join(name for name, m in METRICS.items() if m.task == study.task)
        raise UserError.at(
            source, "search.metric", f"unknown metric {metric_name!r} (known: {known})"
        )
    metric = METRICS[metric_name]
    if metric.task != study.task:
        raise UserError.at(
            source,
            "search.metric",
            f"{metric_name!r} is a {metric.task} metric, but task is {study.task}",
        )
    for name in objectives[1:]:
        if name not in SECONDARY_OBJECTIVES:
            raise UserError.at(
                source,
                "search.metric",
                f"{name!r} cannot follow the metric (objectives after it:"
                f" {', '.join(SECONDARY_OBJECTIVES)})",
            )
    directions = search.direction
    if directions is not None:
        given = directions if isinstance(directions, list) else [directions]
        if len(given) != len(objectives):
            raise UserError.at(
                source,
                "search.direction",
                f"{len(given)} direction(s) for {len(objectives)} objective(s)",
            )
        for name, wanted, direction in zip(objectives, study.directions, given, strict=True):
            if direction != wanted:
                raise UserError.at(
                    source, "search.direction", f"{name} is to {wanted}, not to {direction}"
                )
    if not study.multi_objective:
        return
    if search.backend != "optuna":
        raise UserError.at(
            source, "search.metric", "several objectives need the optuna backend (a Pareto front)"
        )
    if study.pruner != "none":
        raise UserError.at(
            source, "search.pruner", "Optuna cannot prune a multi-objective study; use none"
        )
    if study.sampler == "cmaes":
        raise UserError.at(
            source,
            "search.sampler",
            "cmaes optimises one objective; use nsga2, tpe, random or qmc",
        )


def _check_enqueue(search: SearchSection, source: Path) -> None:
    """Each enqueued start names searched values the space can produce."""
    if search.enqueue and search.backend != "optuna":
        raise UserError.at(
            source, "search.enqueue", "applies to the optuna backend only (a grid runs all)"
        )
    for index, start in enumerate(search.enqueue):
        if not start:
            raise UserError.at(source, f"search.enqueue.{index}", "an empty start; name values")
        reachable = dict(search.space)  # the top level, and the branches this start takes
        for name, value in start.items():
            dimension = search.space.get(name)
            if isinstance(dimension, Branches) and value in dimension.choices:
                reachable.update(dimension.choices[value])
        for name, value in start.items():
            key = f"search.enqueue.{index}.{name}"
            if name not in reachable:
                raise UserError.at(
                    source,
                    key,
                    f"{name!r} is not in search.space (nor in a branch this start chooses)",
                )
            problem = _outside(reachable[name], value)
            if problem:
                raise UserError.at(source, key, problem)


def _outside(dimension: Any, value: Any) -> str | None:
    """Why ``value`` is not a value of ``dimension``; None when it is."""
    if isinstance(dimension, Branches):
        return _outside(list(dimension.choices), value)
    if isinstance(dimension, list):
        same_type = [c for c in dimension if type(c) is type(value) and c == value]
        return None if same_type else f"{value!r} is not one of the choices {dimension}"
    if isinstance(dimension, Range):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number"
        if dimension.is_int and not isinstance(value, int):
            return f"{value!r} is not an integer (the range is {dimension.describe()})"
        if not dimension.low <= value <= dimension.high:
            return f"{value!r} is outside the range {dimension.describe()}"
        if dimension.step is not None:
            steps = (value - dimension.low) / dimension.step
            if abs(steps - round(steps)) > 1e-9:
                return f"{value!r} is not on the range's steps ({dimension.describe()})"
        return None
    return None if value == dimension else f"fixed at {dimension!r} in search.space"


def _int_values(value: Any) -> list[int] | None:
    """The values a dimension can take, where they should all be integers."""
    if value is None:
        return None
    if isinstance(value, Range):
        return [value.low] if value.is_int else [0]
    values = value if isinstance(value, list) else [value]
    if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        return [0]
    return values


def apply_overrides(raw: Any, overrides: Mapping[str, Any]) -> Any:
    """Command-line options (``--n-trials``...) written over the file's ``a.b`` keys."""
    if not isinstance(raw, Mapping) or not overrides:
        return raw
    merged = {
        key: dict(value) if isinstance(value, Mapping) else value for key, value in raw.items()
    }
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        if not key:
            merged[section] = value
            continue
        target = merged.get(section)
        merged[section] = {**(target if isinstance(target, Mapping) else {}), key: value}
    return merged


def load_study(path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None) -> Study:
    """Read, override and validate a study file."""
    source = Path(path)
    raw = apply_overrides(read_yaml(source), overrides or {})
    return parse_study(raw, source)
