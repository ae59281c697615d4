"""Whether LSTM and GRU layers run on cuDNN's fast kernel when a GPU trains them.

Keras (TensorFlow backend) picks the cuDNN kernel only for a layer with ``activation``
tanh, ``recurrent_activation`` sigmoid, ``recurrent_dropout`` 0, ``unroll`` false,
``use_bias`` true (and, for a GRU, ``reset_after`` true), and ``use_cudnn`` left at
"auto" or true; its mask, if any, must be right-padded (hpsearch's own text tokens pad at
the end). Any other layer runs a generic kernel, many times slower on a GPU (on a CPU both
are the same loop).

Two views: ``cudnn_eligible(model)`` of a built model (each trial is tagged with it), and
``choices_leaving_cudnn(study)`` of a study's settings, before anything is built
(``validate`` says which keys and values leave the fast kernel). Keras is imported only by
the first.
"""

from __future__ import annotations

from typing import Any

from hpsearch.study import Range, Study

# The settings of the fast kernel, as a builder parameter of that name would set them.
FAST_KERNEL = {
    "activation": "tanh",
    "recurrent_activation": "sigmoid",
    "recurrent_dropout": 0.0,
    "unroll": False,
    "use_bias": True,
}

# The built-in builders with LSTM or GRU layers, and which of their parameters reach those
# layers (``cnn_lstm``'s ``activation`` is its convolutions'). ``cell: simple_rnn`` builds
# a layer cuDNN has no kernel for.
RECURRENT_BUILDERS = {
    "lstm": ("activation", "recurrent_dropout"),
    "gru": ("activation", "recurrent_dropout"),
    "recurrent": ("activation", "recurrent_dropout", "cell"),
    "cnn_lstm": ("recurrent_dropout", "cell"),
}
FAST_CELLS = ("lstm", "gru")


def cudnn_eligible(model) -> bool | None:
    """True when every LSTM and GRU layer of ``model`` (wrapped ones too) can run on
    cuDNN; None for a model without any."""
    import keras

    from hpsearch.compat.keras import all_layers

    recurrent = [
        layer
        for layer in all_layers(model)
        if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU))
    ]
    if not recurrent:
        return None
    return all(_layer_eligible(layer) for layer in recurrent)


def _layer_eligible(layer) -> bool:
    import keras

    cell = layer.cell
    eligible = (
        getattr(layer, "use_cudnn", "auto") in ("auto", True)
        and _named(cell.activation) == "tanh"
        and _named(cell.recurrent_activation) == "sigmoid"
        and not float(cell.recurrent_dropout)
        and not layer.unroll
        and bool(cell.use_bias)
    )
    if isinstance(layer, keras.layers.GRU):
        eligible = eligible and bool(cell.reset_after)
    return eligible


def _named(function) -> str:
    return getattr(function, "__name__", str(function))


def choices_leaving_cudnn(study: Study) -> list[str]:
    """``key value`` for each setting of the study that builds LSTM/GRU layers off the
    fast kernel: the built-in recurrent builders' ``activation``, ``recurrent_dropout``
    and ``cell``; for a builder of the user's, the names that can mean nothing else
    (``recurrent_activation``, ``recurrent_dropout``, ``unroll``, ``use_bias``)."""
    builder = study.model.builder
    if isinstance(builder, str) and builder in RECURRENT_BUILDERS:
        names = RECURRENT_BUILDERS[builder]
    elif isinstance(builder, str) and builder in ("dense", "simple_rnn", "conv_lstm2d"):
        return []  # no LSTM or GRU layer
    else:
        names = ("recurrent_activation", "recurrent_dropout", "unroll", "use_bias")
    found = []
    settings = [(f"model.params.{n}", v) for n, v in study.model.params.items()]
    settings += [
        (f"search.space.{name}", dimension)
        for name, dimensions in study.dimensions().items()
        for dimension in dimensions
    ]
    for key, value in settings:
        name = key.rpartition(".")[2]
        if name not in names:
            continue
        leaving = _values_off_the_fast_kernel(name, value)
        if leaving:
            found.append(f"{key} {', '.join(leaving)}")
    return found


def _values_off_the_fast_kernel(name: str, value: Any) -> list[str]:
    if isinstance(value, Range):
        # A range of recurrent dropout leaves the kernel above its low end.
        return [f"up to {value.high}"] if float(value.high) > 0 else []
    values = value if isinstance(value, list) else [value]
    if name == "cell":
        return [str(v) for v in values if str(v).lower() not in FAST_CELLS]
    fast = FAST_KERNEL[name]
    off = []
    for v in values:
        if isinstance(fast, float):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and float(v) != fast:
                off.append(str(v))
        elif (str(v).lower() if isinstance(fast, str) else v) != fast:
            off.append(str(v))
    return off


def describe_leaving(found: list[str]) -> str:
    """The one line ``validate`` prints."""
    return (
        f"cuDNN: {'; '.join(found)}: off the fast cuDNN kernel of LSTM/GRU layers, a"
        " generic one many times slower on a GPU (fast: activation tanh,"
        " recurrent_activation sigmoid, recurrent_dropout 0, unroll false, use_bias true)"
    )
