"""The exported MLflow model's code: a Keras model answering with labels and probabilities.

MLflow copies this file into every exported model ("models from code"), so it imports
nothing from hpsearch: a deployment needs Keras, TensorFlow, MLflow, NumPy and pandas only.
It exists because MLflow's Keras flavor hands a DataFrame's values to ``model.predict``:
strings (a raw-text model) are refused there, and a classifier would answer with bare
probabilities instead of class names.

Inputs: a raw-text model takes a column of strings (``text``); any other model takes an
array of shape ``(n, *input_shape)``, or rows of ``prod(input_shape)`` numbers, reshaped.
Outputs, one row per input: ``label`` and its ``probability`` (plus ``probability_<class>``
per class when there are at most 20 classes) for a classifier; ``prediction`` (or
``prediction_<k>`` for several outputs) for a regressor.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd

MAX_PROBABILITY_COLUMNS = 20


class KerasPredictor(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import keras

        with open(context.artifacts["facts"], encoding="utf-8") as stream:
            facts = json.load(stream)
        model = keras.saving.load_model(context.artifacts["keras_model"], safe_mode=True)
        self.configure(model, facts)

    def configure(self, model, facts: dict) -> KerasPredictor:
        """The Keras model and what its data was: ``classes``, ``input_shape``, ``input_dtype``."""
        self.model = model
        self.classes = facts.get("classes")
        self.input_shape = tuple(facts.get("input_shape") or ())
        self.text = facts.get("input_dtype") == "object"
        return self

    # The hint only tells MLflow not to infer a schema from it (without one it warns at every
    # load): the signature decides, a DataFrame for text and an array for anything else.
    def predict(self, context, model_input: pd.DataFrame, params=None):
        outputs = np.asarray(self.model.predict(self._keras_input(model_input), verbose=0))
        if self.classes is None:
            return _regression_frame(outputs)
        return _classification_frame(outputs, self.classes)

    def _keras_input(self, model_input):
        if self.text:
            import tensorflow as tf

            if isinstance(model_input, pd.DataFrame):
                model_input = model_input.iloc[:, 0]
            texts = np.asarray(model_input, dtype=object).reshape(-1).astype(str)
            return tf.constant(texts.reshape(-1, 1))
        if isinstance(model_input, pd.DataFrame):
            model_input = model_input.to_numpy()
        values = np.asarray(model_input, dtype="float32")
        return values.reshape(-1, *self.input_shape) if self.input_shape else values


def _classification_frame(outputs: np.ndarray, classes: list) -> pd.DataFrame:
    if outputs.ndim == 1 or outputs.shape[1] == 1:  # binary: P(classes[1])
        positive = outputs.reshape(-1)
        outputs = np.stack([1.0 - positive, positive], axis=1)
    best = outputs.argmax(axis=1)
    frame = pd.DataFrame(
        {
            "label": [classes[k] for k in best],
            "probability": outputs[np.arange(len(best)), best].astype("float64"),
        }
    )
    if len(classes) <= MAX_PROBABILITY_COLUMNS:
        for k, name in enumerate(classes):
            frame[f"probability_{name}"] = outputs[:, k].astype("float64")
    return frame


def _regression_frame(outputs: np.ndarray) -> pd.DataFrame:
    outputs = outputs.reshape(len(outputs), -1).astype("float64")
    if outputs.shape[1] == 1:
        return pd.DataFrame({"prediction": outputs[:, 0]})
    return pd.DataFrame({f"prediction_{k}": outputs[:, k] for k in range(outputs.shape[1])})


mlflow.models.set_model(KerasPredictor())
