"""The built-in builders: a dense baseline, the recurrent cells, CNN+LSTM and ConvLSTM2D.

Inputs are read from ``meta`` and encoded the same way by every builder (``_encoded``).
``meta["input_kind_"]`` says the kind (``hpsearch.models.inputs``); without it (a builder
called by plain SciKeras) strings are text and anything else numbers:

- raw text: hpsearch's estimators turn it into token ids before the model
  (``hpsearch.models.text_tokens``; ``meta`` then says ``text_sequence_length_`` and
  ``text_vocab_size_``), and the exported model gets the vectorizer back in front. Called
  by anything else with strings, ``(n, 1)``, a builder starts with its own
  ``TextVectorization`` (adapted on each fit's training data, ``adapt_preprocessing``);
- token ids (declared: integers alone are numbers), shape ``(n, steps)``: ``Embedding``;
- numbers, ``(n, steps, features)`` (or ``(n, steps)``: one feature per step), which
  hpsearch's estimators standardise before the model; ``normalize`` adds a
  ``Normalization`` layer adapted on each fit's training data inside the model too.

Keras is imported inside the functions so that listing the builders costs nothing.
"""

from __future__ import annotations

import inspect
from typing import Any

from hpsearch.models.heads import output_layer
from hpsearch.models.inputs import INPUT_KIND, INPUT_MEAN, INPUT_SCALE
from hpsearch.models.text_tokens import (
    DEFAULT_SEQUENCE_LENGTH,
    DEFAULT_VOCAB_SIZE,
    TOKENS_LENGTH,
    TOKENS_VOCABULARY,
)

_CELLS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
_POOLING = {"last": None, "max": "GlobalMaxPooling1D", "average": "GlobalAveragePooling1D"}


def _is_text(meta: dict[str, Any]) -> bool:
    """Raw strings reach the model."""
    if TOKENS_LENGTH in meta:  # the estimator made them token ids
        return False
    return meta.get(INPUT_KIND, "text" if meta["X_dtype_"].kind in "OUS" else None) == "text"


def _is_tokens(meta: dict[str, Any]) -> bool:
    """Token ids reach the model: declared, or text the estimator turned into ids."""
    return meta.get(INPUT_KIND) == "tokens" or TOKENS_LENGTH in meta


def _input_tensor(meta: dict[str, Any]):
    import keras

    if TOKENS_LENGTH in meta:  # text the estimator turned into token ids
        return keras.Input(shape=(int(meta[TOKENS_LENGTH]),), dtype="int32", name="tokens")
    shape = tuple(meta["X_shape_"][1:])
    if _is_text(meta):
        return keras.Input(shape=shape, dtype="string", name="text")
    if _is_tokens(meta):
        return keras.Input(shape=shape, dtype="int32", name="tokens")
    return keras.Input(shape=shape, dtype="float32", name="features")


def _regularizer(l1: float, l2: float):
    import keras

    return keras.regularizers.L1L2(l1=float(l1), l2=float(l2)) if (l1 or l2) else None


def _head(meta: dict[str, Any], inputs, x, *, residual: bool, forecast_feature: int | None):
    """The task's output layer; with ``residual``, added to the window's last known value.

    A residual forecaster predicts the change from the last value of the series (input
    feature ``forecast_feature``, which a forecast loader provides) instead of the level:
    it starts as the last-value baseline and learns a correction, and prices outside the
    training range (the usual case for a trending stock) do not saturate it. The last value
    is standardised like the target by a frozen Dense layer, so the model stays made of
    built-in layers (safe-mode loadable).
    """
    import keras
    import numpy as np

    outputs = output_layer(meta)(x)
    if not residual:
        return outputs
    if "target_mean_" not in meta:
        raise ValueError("residual needs a regression target (task: regression)")
    shape = tuple(meta["X_shape_"][1:])
    if len(shape) != 2 or _is_text(meta) or _is_tokens(meta):
        raise ValueError(f"residual needs numeric windows (n, steps, features), got {shape}")
    if forecast_feature is None or not 0 <= int(forecast_feature) < shape[1]:
        raise ValueError("residual needs forecast_feature: the input feature the target continues")
    last = keras.layers.Flatten()(keras.layers.Cropping1D((shape[0] - 1, 0))(inputs))
    standardise = keras.layers.Dense(1, trainable=False, name="last_value")
    scaled_last = standardise(last)
    mean, scale = (
        float(np.ravel(meta["target_mean_"])[0]),
        float(np.ravel(meta["target_scale_"])[0]),
    )
    # The inputs may arrive standardised by the estimator: back to prices first.
    feature = int(forecast_feature)
    input_mean = float(np.ravel(meta.get(INPUT_MEAN, np.zeros(shape[1])))[feature])
    input_scale = float(np.ravel(meta.get(INPUT_SCALE, np.ones(shape[1])))[feature])
    kernel = np.zeros((shape[1], 1), dtype="float32")
    kernel[feature, 0] = input_scale / scale
    bias = np.array([(input_mean - mean) / scale], dtype="float32")
    standardise.set_weights([kernel, bias])
    return keras.layers.Add(name="residual")([outputs, scaled_last])


def _encoded(
    meta: dict[str, Any],
    inputs,
    *,
    embedding_dim: int,
    vocab_size: int | None,
    sequence_length: int | None,
    mask_zero: bool,
    normalize: bool,
    sequence: bool = True,
):
    """The input as a float sequence ``(batch, steps, channels)`` ready for the layers.

    With ``sequence=False`` numeric inputs keep their shape (ConvLSTM2D's frames).
    """
    import keras

    if _is_text(meta):
        vocab_size = int(vocab_size or DEFAULT_VOCAB_SIZE)
        x = keras.layers.TextVectorization(
            max_tokens=vocab_size,
            output_sequence_length=int(sequence_length or DEFAULT_SEQUENCE_LENGTH),
            name="text_vectorization",
        )(inputs)
        return keras.layers.Embedding(vocab_size, int(embedding_dim), mask_zero=mask_zero)(x)
    if _is_tokens(meta):
        vocab_size = meta.get(TOKENS_VOCABULARY, vocab_size)  # the tokenizer's own size
        if vocab_size is None:
            raise ValueError("token inputs need vocab_size")
        return keras.layers.Embedding(int(vocab_size), int(embedding_dim), mask_zero=mask_zero)(
            inputs
        )
    x = inputs
    if sequence and len(meta["X_shape_"]) == 2:
        x = keras.layers.Reshape((meta["X_shape_"][1], 1))(x)
    if normalize:
        x = keras.layers.Normalization(axis=-1, name="normalization")(x)
    return x


def adapt_preprocessing(model, X) -> None:
    """Fit the model's preprocessing layers on ``X``, the training data of this fit only.

    Called by the estimator before every fresh fit, so that validation folds and the test
    set never shape the vocabulary or the scaling.
    """
    import keras
    import numpy as np

    for layer in model.layers:
        if isinstance(layer, keras.layers.TextVectorization):
            texts = X if not isinstance(X, np.ndarray) else X.astype(str)  # tensor or array
            layer.adapt(texts, batch_size=1024)
        elif isinstance(layer, keras.layers.Normalization):
            data = np.asarray(X, dtype="float32")
            if len(layer.input.shape) == data.ndim + 1:
                data = data[..., None]
            layer.adapt(data)


def build_dense(
    meta: dict[str, Any],
    *,
    units: int = 64,
    layers: int = 1,
    dropout: float = 0.0,
    activation: str = "relu",
    init: str = "glorot_uniform",
    l1: float = 0.0,
    l2: float = 0.0,
    normalize: bool = False,
    embedding_dim: int = 32,
    vocab_size: int | None = None,
    sequence_length: int | None = None,
    residual: bool = False,
    forecast_feature: int | None = None,
):
    """A multi-layer perceptron: the baseline every recurrent network must beat.

    Numbers are flattened; tokens and text are embedded and averaged (a bag of words).
    """
    import keras

    inputs = _input_tensor(meta)
    if _is_text(meta) or _is_tokens(meta):
        x = _encoded(
            meta,
            inputs,
            embedding_dim=embedding_dim,
            vocab_size=vocab_size,
            sequence_length=sequence_length,
            mask_zero=True,
            normalize=False,
        )
        x = keras.layers.GlobalAveragePooling1D()(x)
    else:
        x = _encoded(
            meta,
            inputs,
            embedding_dim=embedding_dim,
            vocab_size=None,
            sequence_length=None,
            mask_zero=False,
            normalize=normalize,
            sequence=False,
        )
        x = keras.layers.Flatten()(x) if len(x.shape) > 2 else x
    for _ in range(int(layers)):
        x = keras.layers.Dense(
            int(units),
            activation=activation,
            kernel_initializer=init,
            kernel_regularizer=_regularizer(l1, l2),
        )(x)
        if dropout:
            x = keras.layers.Dropout(float(dropout))(x)
    head = _head(meta, inputs, x, residual=residual, forecast_feature=forecast_feature)
    return keras.Model(inputs, head, name="dense")


def _recurrent_stack(
    x,
    *,
    cell: str,
    units: int,
    layers: int,
    dropout: float,
    recurrent_dropout: float,
    activation: str,
    init: str,
    bidirectional: bool,
    l1: float,
    l2: float,
    growth: float = 1.0,
    pooling: str = "last",
):
    """Stacked recurrent layers (``return_sequences`` between them), dropout after each.

    ``growth`` multiplies the units from one layer to the next (the lecture's "growing
    number of units": 50, 100, 200...). ``pooling`` says what the head sees: the last
    layer's final state (``last``), or its outputs at every step reduced by ``max`` or
    ``average``. Over long texts the final state forgets the start of the sequence; a pooled
    output keeps the strongest signal wherever it appeared.
    """
    import keras

    if cell not in _CELLS:
        raise ValueError(f"cell must be one of {sorted(_CELLS)}, not {cell!r}")
    if pooling not in _POOLING:
        raise ValueError(f"pooling must be one of {sorted(_POOLING)}, not {pooling!r}")
    layer_class = getattr(keras.layers, _CELLS[cell])
    for index in range(int(layers)):
        layer = layer_class(
            max(1, round(int(units) * float(growth) ** index)),
            activation=activation,
            kernel_initializer=init,
            kernel_regularizer=_regularizer(l1, l2),
            recurrent_dropout=float(recurrent_dropout),
            return_sequences=index < int(layers) - 1 or pooling != "last",
        )
        x = keras.layers.Bidirectional(layer)(x) if bidirectional else layer(x)
        if dropout:
            x = keras.layers.Dropout(float(dropout))(x)
    if pooling != "last":
        # The average skips masked (padding) steps. The maximum needs no mask: at those
        # steps a forward layer repeats its last real output (a backward one, its zero
        # initial state), and Keras's warning that the mask stops there is filtered
        # (``hpsearch.models``).
        x = getattr(keras.layers, _POOLING[pooling])(name=f"{pooling}_over_steps")(x)
    return x


def build_recurrent(
    meta: dict[str, Any],
    *,
    cell: str = "lstm",
    units: int = 32,
    layers: int = 1,
    growth: float = 1.0,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    activation: str = "tanh",
    init: str = "glorot_uniform",
    bidirectional: bool = False,
    l1: float = 0.0,
    l2: float = 0.0,
    normalize: bool = False,
    embedding_dim: int = 32,
    vocab_size: int | None = None,
    sequence_length: int | None = None,
    mask_zero: bool = True,
    pooling: str = "last",
    residual: bool = False,
    forecast_feature: int | None = None,
):
    """Recurrent layers of one ``cell`` (simple_rnn, lstm, gru: itself a searchable choice).

    Token and text inputs go through ``Embedding(vocab_size, embedding_dim)``; ``vocab_size``
    and ``sequence_length`` come from the data unless the study sets them. ``normalize``
    standardises numeric inputs with statistics of each fit's training data; ``residual``
    makes a forecaster predict the change from the last value (see ``_head``).
    """
    import keras

    inputs = _input_tensor(meta)
    x = _encoded(
        meta,
        inputs,
        embedding_dim=embedding_dim,
        vocab_size=vocab_size,
        sequence_length=sequence_length,
        mask_zero=mask_zero,
        normalize=normalize,
    )
    x = _recurrent_stack(
        x,
        cell=cell,
        units=units,
        layers=layers,
        growth=growth,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        activation=activation,
        init=init,
        bidirectional=bidirectional,
        l1=l1,
        l2=l2,
        pooling=pooling,
    )
    head = _head(meta, inputs, x, residual=residual, forecast_feature=forecast_feature)
    return keras.Model(inputs, head, name=cell)


def build_cnn_lstm(
    meta: dict[str, Any],
    *,
    filters: int = 32,
    kernel_size: int = 3,
    pool_size: int = 2,
    conv_layers: int = 1,
    cell: str = "lstm",
    units: int = 32,
    layers: int = 1,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    activation: str = "relu",
    init: str = "glorot_uniform",
    bidirectional: bool = False,
    l1: float = 0.0,
    l2: float = 0.0,
    normalize: bool = False,
    embedding_dim: int = 32,
    vocab_size: int | None = None,
    sequence_length: int | None = None,
    pooling: str = "last",
    residual: bool = False,
    forecast_feature: int | None = None,
):
    """Conv1D front (local patterns, shorter sequence after pooling), recurrent layers after.

    ``activation`` is the convolutions'; the recurrent cells keep their tanh.
    """
    import keras

    inputs = _input_tensor(meta)
    x = _encoded(
        meta,
        inputs,
        embedding_dim=embedding_dim,
        vocab_size=vocab_size,
        sequence_length=sequence_length,
        mask_zero=False,  # Conv1D does not carry masks
        normalize=normalize,
    )
    for _ in range(int(conv_layers)):
        x = keras.layers.Conv1D(
            int(filters),
            int(kernel_size),
            padding="same",
            activation=activation,
            kernel_initializer=init,
            kernel_regularizer=_regularizer(l1, l2),
        )(x)
        if int(pool_size) > 1 and x.shape[1] is not None and x.shape[1] >= int(pool_size):
            x = keras.layers.MaxPooling1D(int(pool_size))(x)
    x = _recurrent_stack(
        x,
        cell=cell,
        units=units,
        layers=layers,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        activation="tanh",
        init=init,
        bidirectional=bidirectional,
        l1=l1,
        l2=l2,
        pooling=pooling,
    )
    head = _head(meta, inputs, x, residual=residual, forecast_feature=forecast_feature)
    return keras.Model(inputs, head, name="cnn_lstm")


def build_conv_lstm2d(
    meta: dict[str, Any],
    *,
    filters: int = 16,
    kernel_size: int = 3,
    layers: int = 1,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    activation: str = "tanh",
    init: str = "glorot_uniform",
    l1: float = 0.0,
    l2: float = 0.0,
    normalize: bool = False,
):
    """ConvLSTM2D layers over a sequence of frames ``(n, steps, rows, cols[, channels])``.

    The last layer's feature maps are averaged over space before the output layer.
    """
    import keras

    shape = tuple(meta["X_shape_"][1:])
    if len(shape) not in (3, 4) or _is_text(meta) or _is_tokens(meta):
        raise ValueError(
            "conv_lstm2d needs frames: X of shape (n, steps, rows, cols[, channels]),"
            f" got {(None, *shape)}"
        )
    inputs = _input_tensor(meta)
    x = keras.layers.Reshape((*shape, 1))(inputs) if len(shape) == 3 else inputs
    if normalize:
        x = keras.layers.Normalization(axis=-1, name="normalization")(x)
    for index in range(int(layers)):
        x = keras.layers.ConvLSTM2D(
            int(filters),
            int(kernel_size),
            padding="same",
            activation=activation,
            kernel_initializer=init,
            kernel_regularizer=_regularizer(l1, l2),
            recurrent_dropout=float(recurrent_dropout),
            return_sequences=index < int(layers) - 1,
        )(x)
        if dropout:
            x = keras.layers.Dropout(float(dropout))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, output_layer(meta)(x), name="conv_lstm2d")


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
