"""Each fit seeded as SciKeras seeds it, without making TensorFlow prepare its steps again.

SciKeras fits a seeded estimator inside ``tensorflow_random_state``: Python's, NumPy's and
TensorFlow's global seeds and op determinism, restored when the fit ends. TensorFlow's
``set_seed`` also clears the eager context's kernel cache, so that a stateful random op
(``tf.random.uniform``: its kernel counts its draws) starts its sequence again. That cache
holds the instantiated, graph-optimized train and predict steps as well: a model reused
across folds and candidates (``hpsearch.models.reuse``) prepared them again at the start
of every fit and again for the first prediction after it, ~0.3 s per fit of a small LSTM
here (docs/benchmarks.md).

``seeded_fit`` sets the same seeds the same way but keeps the cache when nothing cached
for the model counts draws: Keras 3's random ops are stateless (their state is the model's
seed-generator variables, which reuse restores), so its steps hold no stateful random op.
A model whose traced steps hold one (a layer calling ``tf.random.*`` itself), or that runs
eagerly, or whose steps cannot be inspected, is fitted SciKeras's way.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import tensorflow as tf

from hpsearch.compat.tensorflow import (
    can_set_global_seed_keeping_kernels,
    concrete_functions,
    disable_op_determinism,
    enable_op_determinism,
    global_seed,
    op_determinism_enabled,
    set_global_seed_keeping_kernels,
)

# What ``tf.function`` returns: the traced steps are looked into through it.
Function = tf.types.experimental.PolymorphicFunction

# TensorFlow ops whose kernel keeps a random stream between calls (GuardedPhiloxRandom);
# their stateless counterparts (``Stateless*``), which Keras uses, keep none.
STATEFUL_RANDOM_OPS = frozenset(
    {
        "RandomUniform",
        "RandomUniformInt",
        "RandomStandardNormal",
        "TruncatedNormal",
        "ParameterizedTruncatedNormal",
        "RandomGamma",
        "RandomPoisson",
        "RandomPoissonV2",
        "Multinomial",
        "RandomShuffle",
        "RandomCrop",
    }
)

# Where Keras (and ``hpsearch.models.prediction``) keep a model's traced steps.
_STEP_ATTRIBUTES = ("train_function", "test_function", "predict_function", "_hpsearch_predict")


def keeps_kernels_safely(model) -> bool:
    """True if no traced step of ``model`` holds a stateful random op (nor can it, yet)."""
    if getattr(model, "run_eagerly", False) or not can_set_global_seed_keeping_kernels():
        return False
    functions = []
    for name in _STEP_ATTRIBUTES:
        step = getattr(model, name, None)
        found = [] if step is None else list(_tf_functions(step))
        if step is not None and not found:  # a step we cannot see into: assume the worst
            return False
        functions.extend(found)
    signature = tuple((id(f), f.experimental_get_tracing_count()) for f in functions)
    checked = getattr(model, "_hpsearch_kernels_checked", None)
    if checked is not None and checked[0] == signature:
        return checked[1]
    try:
        safe = not any(_holds_stateful_random_op(function) for function in functions)
    except Exception:  # noqa: BLE001 - TensorFlow internals moved: SciKeras's way is safe
        safe = False
    model._hpsearch_kernels_checked = (signature, safe)
    return safe


@contextmanager
def seeded_fit(seed: int) -> Iterator[None]:
    """SciKeras's ``tensorflow_random_state(seed)`` but for clearing TensorFlow's kernel
    cache: the same seeds, determinism and environment, restored afterwards."""
    saved_environment = os.environ.get("TF_DETERMINISTIC_OPS")
    saved_python, saved_numpy = random.getstate(), np.random.get_state()
    saved_tf_seed = global_seed()
    determinism_was_on = op_determinism_enabled()
    try:
        os.environ["TF_DETERMINISTIC_OPS"] = "1"
        random.seed(seed)
        np.random.seed(seed)
        set_global_seed_keeping_kernels(seed)
        enable_op_determinism()
        yield
    finally:
        if saved_environment is None:
            os.environ.pop("TF_DETERMINISTIC_OPS", None)
        else:
            os.environ["TF_DETERMINISTIC_OPS"] = saved_environment
        random.setstate(saved_python)
        np.random.set_state(saved_numpy)
        set_global_seed_keeping_kernels(saved_tf_seed)
        if not determinism_was_on:
            disable_op_determinism()


def _tf_functions(step, depth: int = 2) -> Iterator[Function]:
    """The ``tf.function``s a step is, or calls through Keras's wrappers (closures)."""
    if isinstance(step, Function):
        yield step
        return
    if depth == 0:
        return
    if isinstance(step, Sequence) and not isinstance(step, str):  # (key, function) pairs
        for item in step:
            yield from _tf_functions(item, depth - 1)
        return
    for cell in getattr(step, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        yield from _tf_functions(value, depth - 1)


def _holds_stateful_random_op(function: Function) -> bool:
    for concrete in concrete_functions(function):
        graph = concrete.graph.as_graph_def()  # with the functions it calls
        nodes = [*graph.node, *(node for f in graph.library.function for node in f.node_def)]
        if any(node.op in STATEFUL_RANDOM_OPS for node in nodes):
            return True
    return False
