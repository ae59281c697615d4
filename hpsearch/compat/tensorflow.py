"""TensorFlow's private API that hpsearch uses: the eager context's global seed, the state of
op determinism, and the graphs a ``tf.function`` has traced.

Imported only by the layers that train (``hpsearch.models``): it imports TensorFlow.
"""

from __future__ import annotations

import random

import numpy as np
import tensorflow as tf


def global_seed():
    """TensorFlow's global seed as ``tf.random.set_seed`` last set it (None if never).

    Why: a seeded fit restores it when it ends, as SciKeras's ``tensorflow_random_state``
    does. Public alternative: none (``tf.random.get_seed`` draws from the op-seed stream).
    """
    from tensorflow.python.eager import context

    return context.global_seed()


def can_set_global_seed_keeping_kernels() -> bool:
    """True if the eager context keeps its seed where ``set_global_seed_keeping_kernels``
    writes it (its random stream exists only once a global seed has been set).

    Why: otherwise a fit is seeded SciKeras's way. Public alternative: none.
    """
    try:
        from tensorflow.python.eager import context
    except ImportError:
        return False
    eager = context.context()
    return hasattr(eager, "_seed") and hasattr(eager, "_rng")


def set_global_seed_keeping_kernels(seed) -> None:
    """``Context._set_global_seed`` (what ``tf.random.set_seed`` does eagerly) without its
    ``TFE_ContextClearCaches``: the op seeds drawn from now on are the same.

    Why: the kernel cache also holds a reused model's prepared train and predict steps.
    Public alternative: ``tf.random.set_seed``, which clears that cache.
    """
    from tensorflow.python.eager import context

    eager = context.context()
    eager._seed = seed
    try:
        hash(seed)
    except TypeError:
        seed = int(np.array(seed))
    eager._rng = random.Random(seed)


def op_determinism_enabled() -> bool:
    """True while TensorFlow's op determinism is on.

    Why: a seeded fit turns it on and must restore what it found, as SciKeras does. Public
    alternative: none (``tf.config.experimental`` can only enable it).
    """
    from tensorflow.python.framework import config

    return config.is_op_determinism_enabled()


def enable_op_determinism() -> None:
    """Turn TensorFlow's op determinism on.

    Public: ``tf.config.experimental.enable_op_determinism``; here beside its two private
    companions.
    """
    tf.config.experimental.enable_op_determinism()


def disable_op_determinism() -> None:
    """Turn TensorFlow's op determinism off.

    Why: to restore the state a seeded fit found, or to let Keras compile with XLA on a CPU.
    Public alternative: none.
    """
    from tensorflow.python.framework import config

    config.disable_op_determinism()


def concrete_functions(function) -> list:
    """Every concrete function ``function`` (a ``tf.function``) has traced so far.

    Why: their graphs show whether a model's steps hold a stateful random op. Public
    alternative: ``get_concrete_function(*args)``, one input signature at a time, which
    would need each signature the function was called with.
    """
    return list(function._list_all_concrete_functions())


def missing() -> list[str]:
    """The private names above that this TensorFlow lacks."""
    names = []
    try:
        from tensorflow.python.eager import context
    except ImportError:
        context = None
    prefix = "tensorflow.python.eager.context"
    for name in ("context", "global_seed"):
        if not hasattr(context, name):
            names.append(f"{prefix}.{name}")
    set_global_seed = getattr(getattr(context, "Context", None), "_set_global_seed", None)
    if set_global_seed is None:
        names.append(f"{prefix}.Context._set_global_seed")
    else:  # the two attributes set_global_seed_keeping_kernels writes as it does
        names.extend(
            f"{prefix}.Context.{attribute}"
            for attribute in ("_seed", "_rng")
            if attribute not in _names_used(set_global_seed)
        )
    try:
        from tensorflow.python.framework import config
    except ImportError:
        config = None
    for name in ("is_op_determinism_enabled", "disable_op_determinism"):
        if not hasattr(config, name):
            names.append(f"tensorflow.python.framework.config.{name}")
    function_class = type(tf.function(lambda: None))  # traces nothing
    if not hasattr(function_class, "_list_all_concrete_functions"):
        names.append(
            f"{function_class.__module__}.{function_class.__qualname__}"
            "._list_all_concrete_functions"
        )
    return names


def _names_used(function) -> tuple[str, ...]:
    """The attribute and global names ``function``'s code uses (``self._x`` gives ``_x``)."""
    return getattr(getattr(function, "__code__", None), "co_names", ())
