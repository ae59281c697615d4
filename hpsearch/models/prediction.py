"""Predictions of in-memory rows through one traced call per model, without tf.data.

Keras's ``predict`` builds a tf.data pipeline and an iterator on every call: ~0.1 s here
whatever the rows (60 held-out digits: 0.12 s, of which the model is ~0.02 s). A study
predicts each fold's held-out rows after every epoch (validation, pruning) and again to
score the fold, so that cost was paid hundreds of times. Here the rows go through the
model's predict step (``model(x, training=False)``) in one ``tf.function`` per model whose
batch dimension is left open (one trace, whatever a batch's size), in batches of the asked
size rounded up to a multiple of ``ALIGNED_ROWS``, with Keras's casting of floats to
``floatx``: Keras's answers within float32 rounding (tests/test_estimator.py). Where
Keras's predict does more (its own ``predict_step``, eager models, callbacks that watch
prediction, data it must convert), it still predicts.

Every batch holds a multiple of ``ALIGNED_ROWS`` rows (the last batch padded with copies of
its last row, whose answers are dropped), so that a row's answer does not depend on its
batchmates. TensorFlow's Eigen kernels compute element-wise functions in packets of 8 or 16
floats and the elements left over at a tensor's end one by one, with scalar functions that
round differently (``std::exp`` against a polynomial): without oneDNN (on by default only
on CPUs with AVX-512 VNNI, BF16 or AMX; off with ``TF_ENABLE_ONEDNN_OPTS=0``) the last rows
of a batch came out a float32 unit apart from the same rows elsewhere, and reordering the
rows changed the probabilities (scikit-learn's ``check_methods_sample_order_invariance``).
A tensor whose first dimension is a multiple of 16 has no leftover elements.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

ALIGNED_ROWS = 16

PREDICT_HOOKS = (
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


def predict_rows(model, X, batch_size: int, callbacks=()) -> Any:
    """``model.predict(X, batch_size=batch_size, verbose=0)``, faster for in-memory arrays."""
    arrays = _standardized(X)
    rows = 0 if arrays is None else len(keras.tree.flatten(arrays)[0])
    if not rows or not _predicts_plainly(model, callbacks):  # no rows: Keras's own error
        return model.predict(X, batch_size=batch_size, verbose=0, callbacks=list(callbacks))
    call = _traced_call(model, arrays)
    batch_size = -(-max(batch_size, 1) // ALIGNED_ROWS) * ALIGNED_ROWS
    parts = []
    for start in range(0, rows, batch_size):
        batch = keras.tree.map_structure(lambda a, s=start: _aligned(a[s : s + batch_size]), arrays)
        taken = min(batch_size, rows - start)
        parts.append(keras.tree.map_structure(lambda t, n=taken: t.numpy()[:n], call(batch)))
    return keras.tree.map_structure(lambda *pieces: np.concatenate(pieces), *parts)


def _aligned(rows: np.ndarray) -> np.ndarray:
    """``rows`` followed by copies of its last row up to a multiple of ``ALIGNED_ROWS``."""
    missing = -len(rows) % ALIGNED_ROWS
    return np.concatenate([rows, np.repeat(rows[-1:], missing, axis=0)]) if missing else rows


def _standardized(X):
    """X as Keras's predict would feed it (floats as ``floatx``), or None if it is not a
    structure of numeric numpy arrays with as many rows each."""
    leaves = keras.tree.flatten(X)
    if not leaves or not all(
        isinstance(a, np.ndarray) and a.ndim >= 1 and a.dtype.kind in "biuf" for a in leaves
    ):
        return None
    if len({len(a) for a in leaves}) != 1:
        return None
    floatx = keras.config.floatx()
    return keras.tree.map_structure(
        lambda a: a.astype(floatx) if a.dtype.kind == "f" and a.dtype != floatx else a, X
    )


def _predicts_plainly(model, callbacks) -> bool:
    """Keras's predict step, traced, and no callback that watches prediction."""
    if keras.backend.backend() != "tensorflow" or model.run_eagerly:
        return False
    if type(model).predict_step is not keras.Model.predict_step:
        return False
    return not any(
        getattr(type(callback), hook) is not getattr(keras.callbacks.Callback, hook)
        for callback in callbacks
        for hook in PREDICT_HOOKS
    )


def _traced_call(model, arrays):
    """The model's predict step traced for batches like ``arrays``'s, kept on the model
    (as Keras keeps its ``predict_function``) for as long as it is asked the same way."""
    import tensorflow as tf

    signature = keras.tree.map_structure(
        lambda a: tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)), arrays
    )
    wanted = (signature, bool(model.jit_compile))
    known = getattr(model, "_hpsearch_predict", None)
    if known is not None and known[0] == wanted:
        return known[1]

    def predict_step(x):
        return model.predict_step((x,))

    call = tf.function(predict_step, input_signature=[signature], jit_compile=wanted[1])
    model._hpsearch_predict = (wanted, call)
    return call
