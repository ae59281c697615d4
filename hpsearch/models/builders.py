"""The built-in builders: a dense baseline and the recurrent cells, for numbers or tokens.

Inputs are read from ``meta``: ``(n, steps, features)`` floats are numeric sequences,
``(n, steps)`` integers are token sequences fed through an Embedding, ``(n, steps)``
floats are one-feature sequences. Keras is imported inside the functions so that listing
the builders costs nothing.
"""

from __future__ import annotations

import inspect
from typing import Any

from hpsearch.models.heads import output_layer


def _input_tensor(meta: dict[str, Any]):
    import keras

    shape = tuple(meta["X_shape_"][1:])
    if meta["X_dtype_"].kind in "iu":
        return keras.Input(shape=shape, dtype="int32", name="tokens")
    return keras.Input(shape=shape, dtype="float32", name="features")


def build_dense(
    meta: dict[str, Any],
    *,
    units: int = 64,
    layers: int = 1,
    dropout: float = 0.0,
    activation: str = "relu",
    init: str = "glorot_uniform",
):
    """A multi-layer perceptron on the flattened input: the baseline every RNN must beat."""
    import keras

    inputs = _input_tensor(meta)
    x = keras.layers.Flatten()(inputs) if len(meta["X_shape_"]) > 2 else inputs
    x = keras.ops.cast(x, "float32") if meta["X_dtype_"].kind in "iu" else x
    for _ in range(int(layers)):
        x = keras.layers.Dense(int(units), activation=activation, kernel_initializer=init)(x)
        if dropout:
            x = keras.layers.Dropout(float(dropout))(x)
    return keras.Model(inputs, output_layer(meta)(x), name="dense")


_CELLS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def build_recurrent(
    meta: dict[str, Any],
    *,
    cell: str = "lstm",
    units: int = 32,
    layers: int = 1,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    activation: str = "tanh",
    init: str = "glorot_uniform",
    bidirectional: bool = False,
    embedding_dim: int = 32,
    vocab_size: int | None = None,
    mask_zero: bool = True,
):
    """Stacked recurrent layers (``return_sequences`` between them) with dropout after each.

    Token inputs go through ``Embedding(vocab_size, embedding_dim)``; ``vocab_size`` comes
    from the data unless the study sets it.
    """
    import keras

    if cell not in _CELLS:
        raise ValueError(f"cell must be one of {sorted(_CELLS)}, not {cell!r}")
    inputs = _input_tensor(meta)
    x = inputs
    if meta["X_dtype_"].kind in "iu":
        if vocab_size is None:
            raise ValueError("token inputs need vocab_size")
        x = keras.layers.Embedding(int(vocab_size), int(embedding_dim), mask_zero=mask_zero)(x)
    elif len(meta["X_shape_"]) == 2:
        x = keras.layers.Reshape((meta["X_shape_"][1], 1))(x)
    layer_class = getattr(keras.layers, _CELLS[cell])
    for index in range(int(layers)):
        layer = layer_class(
            int(units),
            activation=activation,
            kernel_initializer=init,
            recurrent_dropout=float(recurrent_dropout),
            return_sequences=index < int(layers) - 1,
        )
        x = keras.layers.Bidirectional(layer)(x) if bidirectional else layer(x)
        if dropout:
            x = keras.layers.Dropout(float(dropout))(x)
    return keras.Model(inputs, output_layer(meta)(x), name=cell)


def _builder_for_cell(cell: str):
    def build(meta: dict[str, Any], **params: Any):
        return build_recurrent(meta, cell=cell, **params)

    signature = inspect.signature(build_recurrent)
    build.__signature__ = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != "cell"]
    )
    build.__name__ = build.__qualname__ = f"build_{cell}"
    build.__doc__ = f"{_CELLS[cell]} layers; see ``build_recurrent`` for the parameters."
    return build


build_simple_rnn = _builder_for_cell("simple_rnn")
build_lstm = _builder_for_cell("lstm")
build_gru = _builder_for_cell("gru")
