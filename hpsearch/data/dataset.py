"""Loading a study's data and checking it before anything trains."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hpsearch.data.inputs import (
    INPUT_KINDS,
    TOKENS,
    check_input_kind,
    infer_input_kind,
    is_text,
)
from hpsearch.errors import UserError
from hpsearch.study.references import check_parameters, reference_text, resolve_reference

KINDS = ("plain", "forecast", "language_model")


@dataclass(frozen=True)
class Dataset:
    """Training data (searched with cross-validation) and an optional held-out test set.

    A loader may return one instead of a tuple to tell hpsearch more than X and y:

    - ``facts``: what a builder should know that the study file need not repeat
      (``vocab_size``, ``sequence_length``); given to builders that take such a parameter.
    - ``kind``: ``forecast`` (y continues the series ``X[:, -1, forecast_feature]``: the
      baseline is the last value, MAE and directional accuracy are reported) or
      ``language_model`` (y is the next word: the baseline is the unigram model,
      perplexity is reported); ``plain`` otherwise.
    - ``test_labels``: a label per test sample (a date), for plots.
    - ``inputs``: what X holds, ``numbers``, ``tokens`` (integer ids for an ``Embedding``)
      or ``text``. Unset, strings are text and anything else numbers: integers too, since
      counts, codes and pixel values are integers as often as token ids are. The study's
      ``data.inputs`` overrides it. ``inputs_decided`` says how it was decided, once
      ``load_dataset`` has.
    - ``sample_weight``: a weight per training row (>= 0), sliced with each fold: the fits
      train with them and the folds are scored with them (a metric of the user's own gets
      them where its function takes ``sample_weight``).

    Raw text is a 1-D array of strings; hpsearch hands it to Keras as shape (n, 1).
    """

    X: Any
    y: Any
    X_test: Any = None
    y_test: Any = None
    facts: dict[str, Any] = field(default_factory=dict)
    kind: str = "plain"
    forecast_feature: int | None = None
    test_labels: list[str] | None = None
    inputs: str | None = None
    inputs_decided: str | None = None
    sample_weight: Any = None

    @property
    def has_test(self) -> bool:
        return self.X_test is not None

    def describe(self) -> str:
        if is_text(np.asarray(self.X)):
            text = f"{len(self.y)} training texts"
        else:
            text = f"{len(self.y)} training samples of shape {tuple(np.shape(self.X)[1:])}"
        if self.has_test:
            text += f", {len(self.y_test)} test samples"
        return text

    def describe_inputs(self) -> str:
        """The input kind and how it was decided: ``tokens (declared by the loader)``."""
        if self.inputs is None:
            return "not decided yet"
        return f"{self.inputs} ({self.inputs_decided})" if self.inputs_decided else self.inputs


def resolve_loader(study):
    from hpsearch.data.loaders import LOADERS

    where = f"{study.source}: data.loader"
    loader = resolve_reference(
        study.data.loader, LOADERS, kind="loader", where=where, base_dir=study.base_dir
    )
    check_parameters(
        loader,
        {name: f"{study.source}: data.params.{name}" for name in study.data.params},
        kind="loader",
        reference=reference_text(study.data.loader),
    )
    return loader


def load_dataset(study) -> Dataset:
    """Call the study's loader and check what it returns."""
    loader = resolve_loader(study)
    where = f"{study.source}: data"
    name = reference_text(study.data.loader)
    try:
        returned = loader(**study.data.params)
    except FileNotFoundError as error:
        raise UserError(f"{where}: the loader {name!r} found no file: {error}") from None
    except (KeyError, ValueError) as error:
        # A missing column, a malformed file: problems with the user's data, told in a line.
        # Anything else (a bug in a loader) keeps its traceback.
        problem = f"missing column or key {error}" if isinstance(error, KeyError) else error
        raise UserError(f"{where}: the loader {name!r} failed: {problem}") from None
    if isinstance(returned, Dataset):
        described = returned
    elif isinstance(returned, tuple) and len(returned) in (2, 4):
        described = Dataset(*returned)
    else:
        raise UserError(
            f"{where}: the loader {name!r} must return (X, y),"
            f" (X_train, y_train, X_test, y_test) or a Dataset, not {type(returned).__name__}"
        )
    X, y = _checked_pair(described.X, described.y, study, f"{where} (training)")
    X_test = y_test = None
    if described.X_test is not None:
        X_test, y_test = _checked_pair(described.X_test, described.y_test, study, f"{where} (test)")
        if np.shape(X_test)[1:] != np.shape(X)[1:]:
            raise UserError(
                f"{where}: the test set has samples of shape {np.shape(X_test)[1:]},"
                f" the training set {np.shape(X)[1:]}"
            )
    _check_description(described, X, study, where)
    sample_weight = _checked_weights(described.sample_weight, len(y), where)
    inputs, decided = _input_kind(described, X, X_test, study, where)
    return replace(
        described,
        X=X,
        y=y,
        X_test=X_test,
        y_test=y_test,
        facts={**_facts(X, X_test, described, inputs), **described.facts},
        inputs=inputs,
        inputs_decided=decided,
        sample_weight=sample_weight,
    )


def _checked_weights(weights, n_rows: int, where: str) -> np.ndarray | None:
    """The loader's sample weights as floats, one per training row, finite and >= 0."""
    if weights is None:
        return None
    try:
        values = np.asarray(weights, dtype="float64")
    except (TypeError, ValueError):
        raise UserError(f"{where}: sample_weight must be numbers, one per training row") from None
    if values.ndim != 1 or len(values) != n_rows:
        raise UserError(
            f"{where}: sample_weight has shape {values.shape}; one weight per training row"
            f" ({n_rows}) is needed"
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise UserError(f"{where}: sample_weight must be finite and >= 0")
    if not np.any(values > 0):
        raise UserError(f"{where}: sample_weight is 0 for every row")
    return values


def _input_kind(dataset: Dataset, X, X_test, study, where: str) -> tuple[str, str]:
    """The kind of X (``hpsearch.data.inputs``) and how it was decided, checked."""
    if study.data.inputs is not None:
        kind, decided, key = study.data.inputs, "declared by data.inputs", "data.inputs"
    elif dataset.inputs is not None:
        name = reference_text(study.data.loader)
        kind, decided = dataset.inputs, f"declared by the loader {name!r}"
        key = "data"
        if kind not in INPUT_KINDS:
            raise UserError(
                f"{where}: the loader {name!r} declares inputs={kind!r};"
                f" known: {', '.join(INPUT_KINDS)}"
            )
    else:
        kind = infer_input_kind(X)
        why = "strings" if kind == "text" else "not strings; declare data.inputs: tokens for ids"
        return kind, f"inferred: {why}"
    for part, rows in (("training", X), ("test", X_test)):
        if rows is None:
            continue
        try:
            check_input_kind(rows, kind)
        except ValueError as error:
            raise UserError(f"{study.source}: {key}: {error} ({part} set)") from None
    return kind, decided


def _check_description(dataset: Dataset, X, study, where: str) -> None:
    if dataset.kind not in KINDS:
        raise UserError(f"{where}: unknown dataset kind {dataset.kind!r} (known: {KINDS})")
    if dataset.kind == "forecast":
        if study.task != "regression":
            raise UserError(f"{where}: a forecast is a regression task; set task: regression")
        feature = dataset.forecast_feature
        if X.ndim != 3 or feature is None or not 0 <= feature < X.shape[2]:
            raise UserError(
                f"{where}: a forecast needs windows of shape (n, steps, features) and the"
                " index of the forecast feature"
            )
    if dataset.kind == "language_model" and study.task != "classification":
        raise UserError(
            f"{where}: next-word prediction is a classification task; set task: classification"
        )


def _checked_pair(X, y, study, where: str):
    try:
        X = np.asarray(X)
    except ValueError:  # numpy 2 refuses ragged nesting outright
        X = np.empty(1, dtype=object)
    y = np.asarray(y)
    if X.ndim == 1 and is_text(X):
        # Raw text: one string per sample, handed to Keras as shape (n, 1).
        X = X.astype(object).reshape(-1, 1)
    if X.dtype == object and not all(isinstance(value, str) for value in X.ravel()):
        raise UserError(
            f"{where}: X is not a regular array (sequences of unequal length? pad them,"
            " e.g. keras.utils.pad_sequences)"
        )
    if X.ndim < 1 or len(X) == 0:
        raise UserError(f"{where}: X is empty")
    if len(X) != len(y):
        raise UserError(f"{where}: X has {len(X)} samples but y has {len(y)}")
    if X.dtype.kind in "fc" and not np.isfinite(X).all():
        raise UserError(f"{where}: X contains NaN or infinite values")
    if study.task == "classification":
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise UserError(
                f"{where}: classification needs at least 2 classes in y, found {len(classes)}"
            )
        if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
            raise UserError(f"{where}: y holds fractional values; is the task regression?")
        if "training" in where and counts.min() < 2:
            raise UserError(
                f"{where}: class {classes[counts.argmin()]!r} has a single sample;"
                " stratified cross-validation needs at least 2 of each"
            )
    else:
        if y.dtype.kind not in "iuf":
            raise UserError(f"{where}: regression needs numeric y (got {y.dtype})")
        if not np.isfinite(y).all():
            raise UserError(f"{where}: y contains NaN or infinite values")
    return X, y


def _facts(X, X_test, described: Dataset, inputs: str) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if described.kind == "forecast":
        facts["forecast_feature"] = described.forecast_feature  # for residual forecasters
    if inputs == TOKENS:
        # The Embedding must cover every token id, test set included.
        top = int(X.max()) if X_test is None else max(int(X.max()), int(np.max(X_test)))
        facts["vocab_size"] = top + 1
    return facts
