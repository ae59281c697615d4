"""Loading a study's data and checking it before anything trains."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpsearch.errors import UserError
from hpsearch.registry import check_parameters, resolve


@dataclass(frozen=True)
class Dataset:
    """Training data (searched with cross-validation) and an optional held-out test set."""

    X: Any
    y: np.ndarray
    X_test: Any = None
    y_test: np.ndarray | None = None
    # What the data tells a builder that the study file need not repeat (``vocab_size``).
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def has_test(self) -> bool:
        return self.X_test is not None

    def describe(self) -> str:
        text = f"{len(self.y)} training samples of shape {tuple(np.shape(self.X)[1:])}"
        if self.has_test:
            text += f", {len(self.y_test)} test samples"
        return text


def resolve_loader(study):
    from hpsearch.data import LOADERS

    where = f"{study.source}: data.loader"
    loader = resolve(
        study.data.loader, LOADERS, kind="loader", where=where, base_dir=study.base_dir
    )
    check_parameters(
        loader,
        {name: f"{study.source}: data.params.{name}" for name in study.data.params},
        kind="loader",
        reference=study.data.loader,
    )
    return loader


def load_dataset(study) -> Dataset:
    """Call the study's loader and check what it returns."""
    loader = resolve_loader(study)
    where = f"{study.source}: data"
    try:
        returned = loader(**study.data.params)
    except FileNotFoundError as error:
        raise UserError(
            f"{where}: the loader {study.data.loader!r} found no file: {error}"
        ) from None
    except (KeyError, ValueError) as error:
        # A missing column, a malformed file: problems with the user's data, told in a line.
        # Anything else (a bug in a loader) keeps its traceback.
        problem = f"missing column or key {error}" if isinstance(error, KeyError) else error
        raise UserError(f"{where}: the loader {study.data.loader!r} failed: {problem}") from None
    if not isinstance(returned, tuple) or len(returned) not in (2, 4):
        raise UserError(
            f"{where}: the loader {study.data.loader!r} must return (X, y) or"
            f" (X_train, y_train, X_test, y_test), not {type(returned).__name__}"
        )
    X, y = _checked_pair(returned[0], returned[1], study, f"{where} (training)")
    X_test = y_test = None
    if len(returned) == 4:
        X_test, y_test = _checked_pair(returned[2], returned[3], study, f"{where} (test)")
        if np.shape(X_test)[1:] != np.shape(X)[1:]:
            raise UserError(
                f"{where}: the test set has samples of shape {np.shape(X_test)[1:]},"
                f" the training set {np.shape(X)[1:]}"
            )
    return Dataset(X, y, X_test, y_test, facts=_facts(X, X_test))


def _checked_pair(X, y, study, where: str):
    try:
        X = np.asarray(X)
    except ValueError:  # numpy 2 refuses ragged nesting outright
        X = np.empty(1, dtype=object)
    y = np.asarray(y)
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


def _facts(X, X_test) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if X.dtype.kind in "iu" and X.ndim == 2:
        # Integer token sequences: the Embedding must cover every token, test set included.
        top = int(X.max()) if X_test is None else max(int(X.max()), int(np.max(X_test)))
        facts["vocab_size"] = top + 1
    return facts
