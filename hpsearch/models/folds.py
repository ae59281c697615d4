"""What a fit needs to know about the cross-validation it is part of.

scikit-learn's GridSearchCV and cross_validate slice every array-like fit parameter to the
training rows of the fold, and pass other objects through untouched. hpsearch passes both
``row_index`` (``arange(n)``, so each fit learns which rows it trains on) and a ``FoldPlan``
(the splits and the full data): from them a fit finds its held-out rows, validates on them
each epoch, and leaves its per-epoch history where the search can read it, also from a
worker process.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _rows_digest(rows: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()


def _json_safe(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


class FoldPlan:
    """The splits of one search, and a folder where each fold's fit records its history.

    Deliberately not array-like (no ``__len__``), so scikit-learn hands it to every fit as is.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        splits: Sequence[tuple[np.ndarray, np.ndarray]],
        names: Iterable[str],
        records_dir: str | os.PathLike[str],
        sample_weight: Any = None,
    ) -> None:
        self.X = X
        self.y = y
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.splits = [(np.asarray(train), np.asarray(test)) for train, test in splits]
        self.names = sorted(names)
        self.records_dir = str(records_dir)
        self.trial: int | None = None  # whose records (``for_trial``)
        self._fold_by_train = {_rows_digest(train): k for k, (train, _) in enumerate(self.splits)}

    def fit_params(self) -> dict[str, Any]:
        """What every fit of the search is given (scikit-learn slices the arrays per fold)."""
        params = {"row_index": np.arange(len(self.y)), "fold_plan": self}
        if self.sample_weight is not None:
            params["sample_weight"] = self.sample_weight
        return params

    def fold_of(self, row_index: np.ndarray | None) -> int | None:
        """The fold whose training rows these are; None for a fit on other rows (a refit)."""
        if row_index is None:
            return None
        return self._fold_by_train.get(_rows_digest(np.asarray(row_index)))

    def validation_rows(self, fold: int):
        test = self.splits[fold][1]
        return _take(self.X, test), _take(self.y, test)

    def validation_weights(self, fold: int) -> np.ndarray | None:
        """The sample weights of the fold's held-out rows (None: unweighted)."""
        if self.sample_weight is None:
            return None
        return self.sample_weight[self.splits[fold][1]]

    def for_trial(self, trial: int | None) -> FoldPlan:
        """This plan, its fits' records named after ``trial`` too: two Optuna trials that
        drew the same values and run at once then do not read each other's records."""
        if trial is None:
            return self
        plan = copy.copy(self)
        plan.trial = trial
        return plan

    def key(self, parameters: dict[str, Any]) -> str:
        """Names one candidate (of one trial, ``for_trial``): its searched hyperparameters,
        whatever else it was given."""
        chosen: dict[str, Any] = {name: _json_safe(parameters.get(name)) for name in self.names}
        if self.trial is not None:
            chosen = {"trial": self.trial, "params": chosen}
        return hashlib.sha1(json.dumps(chosen, sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]

    def record(
        self,
        parameters: dict[str, Any],
        fold: int,
        *,
        history: dict[str, list[float]],
        error: str | None = None,
        model: dict[str, Any] | None = None,
        trained_epochs: int | None = None,
        epoch_seconds: list[float] | None = None,
        reused: bool | None = None,
        best_epoch: int | None = None,
    ) -> None:
        """Leave one fold's per-epoch history, its error, (``model``) what the model is:
        ``n_params`` and the ``summary`` text, how many epochs the fit trained (0 when
        it took the state of a longer fit of the fold), the seconds each took, and whether
        the fit took a built model instead of building one (``hpsearch.models.reuse``),
        and the epoch early stopping found best (None without early stopping)."""
        payload = {
            "fold": fold,
            "history": {k: [float(v) for v in values] for k, values in dict(history).items()},
            "error": error,
            "model": model,
            "trained_epochs": trained_epochs,
            "epoch_seconds": [float(t) for t in epoch_seconds or []],
            "reused": reused,
            "best_epoch": best_epoch,
        }
        target = Path(self.records_dir) / f"{self.key(parameters)}.{fold}.json"
        # A Dask worker on another machine may not have the folder: it writes there, and
        # the study, not seeing it, keeps the fold's score without its curves.
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=self.records_dir, delete=False, suffix=".tmp"
        ) as f:
            json.dump(payload, f, default=repr)
        os.replace(f.name, target)

    def collect(self, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        """The records the folds of one candidate left, in fold order; removed once read."""
        key = self.key(parameters)
        records = []
        for path in sorted(Path(self.records_dir).glob(f"{key}.*.json")):
            records.append(json.loads(path.read_text()))
            path.unlink()
        return sorted(records, key=lambda record: record["fold"])


def _take(data: Any, rows: np.ndarray) -> Any:
    if hasattr(data, "iloc"):
        return data.iloc[rows]
    return np.asarray(data)[rows]
