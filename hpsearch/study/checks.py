"""Checks across the study file's sections, which no single field can make: the space
against the backend and sampler, objectives, branches, enqueued candidates, epoch sharing.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hpsearch.errors import UserError
from hpsearch.study.metrics import METRICS, SECONDARY_OBJECTIVES
from hpsearch.study.model import STARTUP_SAMPLERS, SearchSection, Study, _epochs_sharing_problem
from hpsearch.study.references import reference_text, resolve_reference
from hpsearch.study.space import Branches, Range


def _check_share_epochs(study: Study, source: Path) -> None:
    """``search.share_epochs: true`` where nothing could be shared is a mistake to say."""
    problem = _epochs_sharing_problem(study) if study.search.share_epochs else None
    if problem is not None:
        raise UserError.at(source, "search.share_epochs", problem)


def _check_across_sections(study: Study, source: Path) -> None:
    search = study.search
    _check_objectives(study, source)
    _check_training(study, source)
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
            "warm_start",
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
    if search.warm_start is not None and search.warm_start.study == study.name:
        raise UserError.at(
            source, "search.warm_start.study", "names this study itself; name another study"
        )
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
    if is_user_metric(metric_name):
        _check_user_metric(study, source)
    elif metric_name not in METRICS:
        known = ", ".join(name for name, m in METRICS.items() if m.task == study.task)
        raise UserError.at(
            source,
            "search.metric",
            f"unknown metric {metric_name!r} (known: {known}; or your own as"
            " 'file.py:function' with search.direction)",
        )
    elif METRICS[metric_name].task != study.task:
        raise UserError.at(
            source,
            "search.metric",
            f"{metric_name!r} is a {METRICS[metric_name].task} metric, but task is {study.task}",
        )
    elif search.metric_input != "predict":
        raise UserError.at(
            source,
            "search.metric_input",
            "applies to a metric of your own only (a built-in metric knows what it needs)",
        )
    for name in objectives[1:]:
        if not isinstance(name, str) or name not in SECONDARY_OBJECTIVES:
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
                    source,
                    "search.direction",
                    f"{reference_text(name)} is to {wanted}, not to {direction}",
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


def is_user_metric(value: Any) -> bool:
    """A metric of the user's own: a reference (``file.py:fn``, ``module:fn``) or a function."""
    return callable(value) or (isinstance(value, str) and ":" in value)


def _check_user_metric(study: Study, source: Path) -> None:
    """The user's metric resolves to a function of (y_true, y_pred), with its direction."""
    search = study.search
    if search.direction is None:
        raise UserError.at(
            source,
            "search.direction",
            "a metric of your own needs its direction: maximize or minimize",
        )
    if search.metric_input == "predict_proba" and study.task != "classification":
        raise UserError.at(
            source, "search.metric_input", "predict_proba applies to classification only"
        )


def _check_training(study: Study, source: Path) -> None:
    """Early stopping's monitor, class weights and callbacks against the rest of the study."""
    training = study.training
    early_stopping = training.early_stopping
    if early_stopping is not None and early_stopping.monitor != "val_loss":
        monitor = early_stopping.monitor
        own = study.metric
        own_names = {own.name, reference_text(study.objectives[0])}
        builtin = METRICS.get(monitor)
        if monitor not in own_names and (builtin is None or builtin.task != study.task):
            known = ", ".join(
                ["val_loss", *(name for name, m in METRICS.items() if m.task == study.task)]
            )
            raise UserError.at(
                source,
                "training.early_stopping.monitor",
                f"unknown {monitor!r} (known: {known}, or the study's metric)",
            )
    searched_weights = "class_weight" in study.dimensions()
    if study.task != "classification" and (training.class_weight is not None or searched_weights):
        key = "training.class_weight" if training.class_weight is not None else "search.space"
        raise UserError.at(source, key, "class weights apply to classification only")
    if searched_weights and training.class_weight is not None:
        raise UserError.at(
            source,
            "search.space.class_weight",
            "also set in training.class_weight; set it in one place",
        )


def check_functions(study: Study) -> None:
    """The user's metric and callback factories resolve, and take what hpsearch passes.

    Apart from the file's own checks (``load_study``): resolving imports the user's files,
    which ``validate`` and ``run`` do, as they do for the builder.
    """
    metric = study.objectives[0]
    if is_user_metric(metric):
        _check_function(study, metric, "search.metric", "metric", 2, "must take (y_true, y_pred)")
    for index, value in enumerate(study.training.callbacks):
        _check_function(
            study,
            value,
            f"training.callbacks.{index}",
            "callback factory",
            0,
            "must be callable with no arguments (it is called once per fit and returns a"
            " keras.callbacks.Callback)",
        )


def _check_function(study: Study, value: Any, key: str, kind: str, count: int, problem: str):
    """``value`` resolves to a function that takes ``count`` positional arguments."""
    function = resolve_reference(
        value, {}, kind=kind, where=f"{study.source}: {key}", base_dir=study.base_dir
    )
    try:
        inspect.signature(function).bind(*([None] * count))
    except TypeError:
        raise UserError.at(study.source, key, f"{reference_text(value)} {problem}") from None
    except ValueError:  # no signature to read (a builtin): it is called as it is
        pass


def _check_enqueue(search: SearchSection, source: Path) -> None:
    """Each enqueued start names searched values the space can produce."""
    if search.enqueue and search.backend != "optuna":
        raise UserError.at(
            source, "search.enqueue", "applies to the optuna backend only (a grid runs all)"
        )
    for index, start in enumerate(search.enqueue):
        if not start:
            raise UserError.at(source, f"search.enqueue.{index}", "an empty start; name values")
        for name, problem in start_problems(search.space, start).items():
            raise UserError.at(source, f"search.enqueue.{index}.{name}", problem)


def start_problems(space: dict[str, Any], start: dict[str, Any]) -> dict[str, str]:
    """Why each value of a start (``search.enqueue``, ``search.warm_start``) is not one the
    space can produce, by name: a name neither at the top of the space nor in a branch
    the start chooses, or a value outside its dimension. Empty when the start fits."""
    reachable = dict(space)  # the top level, and the branches this start takes
    for name, value in start.items():
        dimension = space.get(name)
        if isinstance(dimension, Branches) and value in dimension.choices:
            reachable.update(dimension.choices[value])
    problems = {}
    for name, value in start.items():
        if name not in reachable:
            problems[name] = f"{name!r} is not in search.space (nor in a branch this start chooses)"
            continue
        problem = _outside(reachable[name], value)
        if problem:
            problems[name] = problem
    return problems


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
