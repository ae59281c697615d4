"""Predictions of in-memory rows through one traced call per model, without tf.data.

Keras's ``predict`` builds a tf.data pipeline and an iterator on every call: ~0.1 s here
whatever the rows (60 held-out digits: 0.12 s, of which the model is ~0.02 s). A study
predicts each fold's held-out rows after every epoch (validation, pruning) and again to
score the fold, so that cost was paid hundreds of times. Here the rows go through the
model's predict step (``model(x, training=False)``) in one ``tf.function`` per model whose
batch dimension is left open (one trace, whatever a batch's size), in the same batches,
with Keras's casting of floats to ``floatx``: the same answers as ``model.predict``
(tests/test_estimator.py). Where Keras's predict does more (its own ``predict_step``,
eager models, callbacks that watch prediction, data it must convert), it still predicts.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

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
    parts = [
        keras.tree.map_structure(
            lambda tensor: tensor.numpy(),
            call(keras.tree.map_structure(lambda a, s=start: a[s : s + batch_size], arrays)),
        )
        for start in range(0, rows, batch_size)
    ]
    return keras.tree.map_structure(lambda *pieces: np.concatenate(pieces), *parts)


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
