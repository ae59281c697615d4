"""Which study names go to training and which to the builder, checked without TensorFlow."""

from __future__ import annotations

from functools import cache
from typing import Any

from hpsearch.errors import UserError
from hpsearch.study import (
    MODEL_SETTINGS,
    MOMENTUM_OPTIMIZERS,
    TRAINING_PARAMETERS,
    Branches,
    Study,
)
from hpsearch.study.checks import check_functions
from hpsearch.study.references import (
    accepted_parameters,
    check_parameters,
    portable_reference,
    reference_text,
    resolve_reference,
)

# SciKeras's own constructor arguments: a builder parameter of the same name would be
# taken by the wrapper instead (tests/test_estimator.py keeps this list in step).
WRAPPER_PARAMETERS = frozenset(
    {
        "model",
        "build_fn",
        "warm_start",
        "random_state",
        "optimizer",
        "loss",
        "metrics",
        "batch_size",
        "validation_batch_size",
        "verbose",
        "callbacks",
        "validation_split",
        "shuffle",
        "run_eagerly",
        "epochs",
        "class_weight",
    }
)
# Taken by hpsearch's estimators for their feature encoder (from the study's data section).
ESTIMATOR_INPUT_SETTINGS = frozenset({"inputs", "standardize"})
# Taken by hpsearch's estimators from the study's training section (class_weight is
# SciKeras's, and a searchable training name).
ESTIMATOR_TRAINING_SETTINGS = frozenset({"early_stopping", "training_callbacks"})
RESERVED_NAMES = (
    (WRAPPER_PARAMETERS - set(TRAINING_PARAMETERS))
    | {"builder", "meta", "compile_kwargs", "params"}
    | ESTIMATOR_INPUT_SETTINGS  # the estimator's own: how it prepares X
    | ESTIMATOR_TRAINING_SETTINGS  # the estimator's own: how it trains
    | set(MODEL_SETTINGS)  # a parameter so named would be taken for the setting
)

# What Keras users pass to ``fit`` that the study's training section holds.
TRAINING_SECTION_NAMES = {
    "callbacks": "training.callbacks (factories, each called once per fit)",
    "early_stopping": "training.early_stopping",
}

# Keras 3's optimizers by the names keras.optimizers.get accepts.
OPTIMIZERS = frozenset(
    {
        "adadelta",
        "adafactor",
        "adagrad",
        "adam",
        "adamw",
        "adamax",
        "ftrl",
        "lamb",
        "lion",
        "nadam",
        "rmsprop",
        "sgd",
    }
)


@cache
def resolve_builder_reference(reference):
    """The builder function for a canonical reference (absolute paths for files), or the
    builder itself when the estimator was given the function."""
    from hpsearch.models import BUILDERS

    return resolve_reference(reference, BUILDERS, kind="builder", where="model.builder")


def builder_reference(study: Study):
    """The builder as the estimator takes it: a reference that resolves in any process (a
    function given from Python as its ``module:name``), or a function only this process
    has, where the trials train here (``check_functions_reach_workers``)."""
    return portable_reference(study.model.builder, study.base_dir)


def check_model(study: Study, facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resolve the builder and check every name the study gives it.

    Returns the builder's fixed parameters: ``model.params`` plus the data's facts
    (``vocab_size``) that the builder takes and the study did not set.
    """
    from hpsearch.models import BUILDERS

    source = study.source
    builder = resolve_reference(
        study.model.builder,
        BUILDERS,
        kind="builder",
        where=f"{source}: model.builder",
        base_dir=study.base_dir,
    )
    names = {name: f"{source}: model.params.{name}" for name in study.model.params}
    names.update(
        {
            name: f"{source}: search.space.{name}"
            for name in study.dimensions()
            if name not in TRAINING_PARAMETERS
        }
    )
    for name, key in names.items():
        if name in MODEL_SETTINGS:
            raise UserError(f"{key}: {name!r} is a fixed setting of the study: set model.{name}")
        if name in ESTIMATOR_INPUT_SETTINGS:
            raise UserError(f"{key}: {name!r} is a setting of the data: set data.{name}")
        if name in TRAINING_SECTION_NAMES:
            raise UserError(
                f"{key}: {name!r} belongs in the training section: {TRAINING_SECTION_NAMES[name]}"
            )
        if name in RESERVED_NAMES:
            raise UserError(f"{key}: {name!r} is reserved by hpsearch/SciKeras; rename it")
    for name in TRAINING_PARAMETERS:
        if name in study.model.params:
            where = {"class_weight": "training.class_weight or search.space"}.get(
                name, "search.space"
            )
            raise UserError(f"{source}: model.params.{name}: a training setting; put it in {where}")
    check_parameters(builder, names, kind="builder", reference=reference_text(study.model.builder))
    _check_optimizers(study)
    check_functions(study)  # the user's metric and callback factories
    fixed = dict(study.model.params)
    searched = study.dimensions()
    accepted = accepted_parameters(builder)
    for name, value in (facts or {}).items():
        if name not in fixed and name not in searched:
            if accepted is not None and name in accepted:
                fixed[name] = value
    return fixed


def _check_optimizers(study: Study) -> None:
    for value in study.dimensions().get("optimizer", []):
        _check_optimizer_choices(study, value)
    if "momentum" not in study.search.space:  # top level: every optimizer must take it
        return
    optimizers = study.search.space.get("optimizer", "rmsprop")  # Keras's default
    if isinstance(optimizers, Branches):
        optimizers = list(optimizers.choices)
    others = [
        choice
        for choice in (optimizers if isinstance(optimizers, list) else [optimizers])
        if str(choice).lower() not in MOMENTUM_OPTIMIZERS
    ]
    if others:
        raise UserError(
            f"{study.source}: search.space.momentum: {others[0]!r} takes no momentum (only"
            f" {', '.join(MOMENTUM_OPTIMIZERS)}); put momentum in their branches"
            " (optimizer: {choices: {sgd: {momentum: ...}, ...}})"
        )


def _check_optimizer_choices(study: Study, value) -> None:
    for choice in value if isinstance(value, list) else [value]:
        if not isinstance(choice, str) or choice.lower() not in OPTIMIZERS:
            known = ", ".join(sorted(OPTIMIZERS))
            raise UserError(
                f"{study.source}: search.space.optimizer: unknown optimizer {choice!r}"
                f" (known: {known})"
            )
