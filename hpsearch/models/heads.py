"""The output layer, loss and metrics that fit the task, read from SciKeras's ``meta``.

Builders (ours and the user's) call ``output_layer(meta)`` so that the same architecture
serves binary, multi-class and regression targets.
"""

from __future__ import annotations

from typing import Any


def output_layer(meta: dict[str, Any], name: str = "output"):
    """Sigmoid for binary, softmax for multi-class, linear units for regression."""
    import keras

    target = meta.get("target_type_", "continuous")
    if target == "binary":
        return keras.layers.Dense(1, activation="sigmoid", name=name)
    if target.startswith("multiclass"):
        return keras.layers.Dense(int(meta["n_classes_"]), activation="softmax", name=name)
    outputs = 1 if meta.get("y_ndim_", 1) == 1 else int(meta["y_shape_"][1])
    return keras.layers.Dense(outputs, name=name)


def default_loss(meta: dict[str, Any]) -> str:
    target = meta.get("target_type_", "continuous")
    if target == "binary":
        return "binary_crossentropy"
    if target.startswith("multiclass"):
        return "sparse_categorical_crossentropy"
    return "mean_squared_error"


def default_metrics(meta: dict[str, Any]) -> list[str]:
    """Compiled metrics give the per-epoch curves beside ``loss``."""
    target = meta.get("target_type_", "continuous")
    if target in ("binary",) or target.startswith("multiclass"):
        return ["accuracy"]
    return ["mean_absolute_error"]
