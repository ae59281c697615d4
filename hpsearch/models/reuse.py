"""One built model per architecture, reused by every fit that needs that architecture.

Building a Keras model and tracing its train and predict steps costs a second or two
here, often more than a small model's training on one fold. The folds of one candidate
share their architecture, and so do candidates that differ only in ``batch_size``,
``epochs`` or ``learning_rate`` (a variable of the optimizer, read by the traced step):
the model is built once, the values of all its variables (weights and random seed state)
and of its optimizer's (values are restored, not zeroed) are saved right after building,
and restored before every later fit, with that fit's learning rate. A reused model starts
each fit exactly where a fresh one would; the scores are the same
(tests/test_model_reuse.py).

Epochs are shared too: while a fit of a cross-validation fold trains, the model's variables
and history after each epoch are kept; a later fit of the same fold that differs only in
asking for fewer epochs (a grid's ``epochs: [1, 2, 3]``) takes that state instead of
training again. Each fit seeds TensorFlow the same way (SciKeras's ``random_state``), so the
first e epochs of a longer fit are exactly an e-epoch fit: same scores, same curves.

Not reused: models with a preprocessing layer adapted on each fit's data
(``Normalization``, a builder's own ``TextVectorization``; hpsearch's estimators tokenize
text before the model, see ``hpsearch.models.text_tokens``). ``adapt`` replaces their
lookup tables or the constant tensors their ``call`` reads, so traced steps would keep the
first fold's vocabulary or statistics.
"""

from __future__ import annotations

import hashlib
import pickle
import types
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

# Parameters that change how a model is fitted, not which model is built.
FIT_ONLY = frozenset(
    {
        "epochs",
        "batch_size",
        "verbose",
        "callbacks",
        "validation_batch_size",
        "validation_split",
        "shuffle",
        "warm_start",
        "class_weight",
    }
)


# Facts of one fit's rows, not of the architecture: the statistics that standardise numeric
# inputs before the model (``hpsearch.models.inputs``). The residual head, the one builder
# part that reads them, reads the target's too, which stay in the key.
PER_FIT_FACTS = frozenset({"input_mean_", "input_scale_"})

# Parameters held in the optimizer's variables: the traced train step reads them, so a
# model built and traced for one value trains with another once it is assigned
# (``BuiltModels.get``). Only whether one is given at all changes the build.
OPTIMIZER_VARIABLES = frozenset({"learning_rate"})


def architecture_key(params: dict[str, Any], meta: dict[str, Any]) -> str:
    """Names what a build depends on: the parameters, and the data's facts minus row counts."""
    chosen = {
        k: _comparable(v) for k, v in params.items() if k not in FIT_ONLY | OPTIMIZER_VARIABLES
    }
    chosen.update({k: params.get(k) is None for k in OPTIMIZER_VARIABLES})
    facts = {}
    for name, value in meta.items():
        if name in PER_FIT_FACTS:
            continue
        if name.endswith("shape_") and isinstance(value, tuple):
            facts[name] = value[1:]  # the rows of a fold do not change the model
        elif isinstance(value, np.ndarray):
            # An object array's bytes are addresses (string labels): compare its values.
            content = value.tolist() if value.dtype.kind == "O" else value.tobytes()
            facts[name] = (value.dtype.str, value.shape, content)
        elif isinstance(value, (str, int, float, bool, type(None), tuple)):
            facts[name] = value
        elif "dtype" in type(value).__name__.lower() or isinstance(value, np.dtype):
            facts[name] = str(value)
        # encoders, fitted models and histories describe a fit, not the architecture
    payload = pickle.dumps((sorted(chosen.items(), key=str), sorted(facts.items())), protocol=4)
    return hashlib.sha1(payload).hexdigest()


def _comparable(value: Any) -> Any:
    """A parameter as the key holds it: a function by what it is in this process (a builder
    given from Python may be a lambda, which pickle cannot write; the keys never leave the
    process)."""
    if isinstance(value, types.FunctionType):
        return ("function", value.__module__, value.__qualname__, id(value))
    return value


@dataclass
class EpochState:
    """A model's variables and its per-epoch history after some epochs of a fit."""

    variables: list[np.ndarray]
    history: dict[str, list[float]]


KEPT_MODELS = 4  # built models a process keeps: a search may alternate architectures


@dataclass
class _Kept:
    """A built model and the values of its variables and its optimizer's right after."""

    model: Any
    initial: list[np.ndarray]
    initial_optimizer: list[np.ndarray]


class BuiltModels:
    """Keeps the last ``KEPT_MODELS`` built models (by architecture) and their initial
    states: a grid runs its candidates architecture by architecture, but Optuna's samplers
    alternate (8, 16, 8, … units), and one kept model meant a build and a trace at each
    change.

    Only inside ``reusing()``: there every fit is scored before the next one starts (a
    search's folds, its refit). Elsewhere two estimators must never share a model.
    """

    def __init__(self) -> None:
        self.active = False
        # Whether fits keep their epochs' states for shorter fits of their group (a grid's
        # candidates that differ in ``epochs``, Optuna's ``search.share_epochs``).
        self.keeps_epochs = False
        self._kept: OrderedDict[str, _Kept] = OrderedDict()  # least recently used first
        # The epoch states of one group of fits (same model, data and fit settings but
        # the number of epochs), by (fold, epochs): a grid moves on group by group.
        self._epochs_group: str | None = None
        self._epochs: dict[tuple[int, int], EpochState] = {}
        self._last_fit_group: str | None = None  # the group of the latest fit (None: none)

    def get(self, key: str, learning_rate: float | None = None):
        """The model built for ``key``, reset to its initial state with this fit's
        ``learning_rate`` (when given); None if not kept."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        self._kept.move_to_end(key)
        for variable, value in zip(kept.model.variables, kept.initial, strict=True):
            variable.assign(value)
        optimizer = kept.model.optimizer
        for variable, value in zip(optimizer.variables, kept.initial_optimizer, strict=True):
            variable.assign(value)
        if learning_rate is not None:
            optimizer.learning_rate = float(learning_rate)  # assigns its variable
        return kept.model

    @contextmanager
    def reusing(self, enabled: bool = True, *, keep_epochs: bool = True) -> Iterator[None]:
        """Share built models between the fits inside; with ``keep_epochs``, each fit also
        keeps the state after each of its epochs for shorter fits of its group (a copy of
        every variable after every epoch, wasted where no shorter fit can come)."""
        self.active, self.keeps_epochs = enabled, enabled and keep_epochs
        try:
            yield
        finally:
            self.active = self.keeps_epochs = False

    def keep(self, key: str, model) -> None:
        """Remember ``model`` (just built and compiled) as the one for ``key``; the least
        recently used one goes when more than ``KEPT_MODELS`` are kept."""
        if not reusable(model):
            return
        optimizer = model.optimizer
        if not optimizer.built:
            # Its slots exist from now on, so their initial values can be saved.
            optimizer.build(model.trainable_variables)
        self._kept[key] = _Kept(
            model,
            [np.array(v.numpy()) for v in model.variables],
            [np.array(v.numpy()) for v in optimizer.variables],
        )
        self._kept.move_to_end(key)
        while len(self._kept) > KEPT_MODELS:
            self._kept.popitem(last=False)

    def forget(self) -> None:
        """Drop every kept model (a process that lives on after its trial)."""
        self._kept.clear()
        self._epochs_group, self._epochs = None, {}
        self._last_fit_group = None

    def holds(self, model) -> bool:
        return model is not None and any(kept.model is model for kept in self._kept.values())

    def epoch_state(self, group: str, fold: int, epochs: int) -> EpochState | None:
        """The state after ``epochs`` epochs of an earlier fit of this group and fold."""
        if group != self._epochs_group:
            return None
        return self._epochs.get((fold, epochs))

    def fitting(self, group: str | None) -> None:
        """Note the group of the fit starting now (None: it shares no epochs)."""
        self._last_fit_group = group

    def kept_epochs(self) -> set[tuple[int, int]]:
        """(fold, epochs) of the states a fit like the latest one could take: none when
        the latest fit shared no epochs (its states would belong to other fits)."""
        if self._last_fit_group is None or self._last_fit_group != self._epochs_group:
            return set()
        return set(self._epochs)

    def keep_epoch(self, group: str, fold: int, epochs: int, state: EpochState) -> None:
        if group != self._epochs_group:
            self._epochs_group, self._epochs = group, {}
        self._epochs[(fold, epochs)] = state


def epochs_group_key(params: dict[str, Any], meta: dict[str, Any], cv_id: str) -> str:
    """Names the fits that may share epochs: the architecture, the optimizer's settings,
    every fit setting but the number of epochs, and the cross-validation they belong to."""
    shared = (FIT_ONLY | OPTIMIZER_VARIABLES) - {"epochs", "verbose", "callbacks"}
    fit = {k: v for k, v in params.items() if k in shared}
    payload = pickle.dumps((architecture_key(params, meta), sorted(fit.items()), cv_id), 4)
    return hashlib.sha1(payload).hexdigest()


def release_keras_memory() -> None:
    """Drop what Keras keeps between models (graphs, name counters) and collect garbage
    (``clear_session`` runs a full collection: see ``freeze_long_lived_objects``)."""
    import keras

    keras.backend.clear_session(free_memory=True)


def freeze_long_lived_objects() -> None:
    """Put every object alive now out of the garbage collector's reach (``gc.freeze``).

    A process with TensorFlow, MLflow and Optuna loaded holds ~500,000 objects, and each
    full collection (``release_keras_memory``, before every new model) walked them all:
    0.3-0.45 s per collection on these machines, 19 of 99 s of a 10-trial study in one
    process (docs/benchmarks.md). Frozen, they are no longer walked (a collection takes
    milliseconds) yet still freed by reference counting when they die; only a reference
    cycle among them would stay. Call it once the process has imported and loaded what it
    keeps, before its first model.
    """
    import gc

    gc.collect()
    gc.freeze()


def reusable(model) -> bool:
    """A compiled model with no layer adapted to each fit's data."""
    from hpsearch.compat.keras import all_layers

    if getattr(model, "optimizer", None) is None:
        return False
    return not any(hasattr(layer, "adapt") for layer in all_layers(model))


BUILT_MODELS = BuiltModels()
