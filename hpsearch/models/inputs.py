"""The estimator's feature encoder: X prepared by kind, with statistics of each fit's rows.

- numbers: standardised per feature (the last axis) with the mean and spread of the fit's
  training rows, so counts, codes and 0-255 pixels train as well as values near 0. Done
  outside the model (a ``Normalization`` layer adapted inside it would be traced with the
  first fold's statistics, and no built model could serve another fold); the exported
  model gets the same standardisation back in front (``model_for_raw_inputs``).
- token ids: integers, as they are (``int32``).
- raw text: token ids of a vocabulary learnt from the fit's training rows
  (``hpsearch.models.text_tokens``).

``meta`` tells builders the kind (``input_kind_``) and, for standardised numbers, the
statistics (``input_mean_``, ``input_scale_``: a residual forecaster needs raw values back).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpsearch.data.inputs import NUMBERS, TEXT, TOKENS, resolve_input_kind
from hpsearch.models.text_tokens import TextTokens, text_model

# Meta keys a builder sees.
INPUT_KIND = "input_kind_"
INPUT_MEAN = "input_mean_"
INPUT_SCALE = "input_scale_"


class InputEncoder:
    """``fit`` on a fit's training rows, ``transform`` any rows; SciKeras's feature encoder.

    ``inputs`` is the declared kind (None: strings are text, anything else numbers);
    ``standardize`` applies to numbers only.
    """

    def __init__(
        self,
        inputs: str | None = None,
        standardize: bool = True,
        vocab_size: int | None = None,
        sequence_length: int | None = None,
    ):
        self.inputs = inputs
        self.standardize = standardize
        self.vocab_size = vocab_size
        self.sequence_length = sequence_length

    def fit(self, X, y=None) -> InputEncoder:
        self.kind_, self.decided_ = resolve_input_kind(X, self.inputs)
        self.text_ = self.mean_ = self.scale_ = None
        if self.kind_ == TEXT:
            self.text_ = TextTokens(self.vocab_size, self.sequence_length).fit(X)
        elif self.kind_ == NUMBERS and self.standardize:
            values = np.asarray(X, dtype="float64")
            axes = tuple(range(values.ndim - 1))
            self.mean_ = values.mean(axis=axes).astype("float32")
            spread = values.std(axis=axes)
            # A constant feature carries nothing to scale: it becomes 0, not NaN.
            self.scale_ = np.where(spread > 0, spread, 1.0).astype("float32")
        return self

    def transform(self, X):
        if self.kind_ == TEXT:
            return self.text_.transform(X)
        if self.kind_ == TOKENS:
            return np.asarray(X).astype("int32", copy=False)
        if self.mean_ is None:
            return X
        return (np.asarray(X, dtype="float32") - self.mean_) / self.scale_

    def get_metadata(self) -> dict[str, Any]:
        """What builders read in ``meta`` (empty before ``fit``)."""
        if not hasattr(self, "kind_"):
            return {}
        meta: dict[str, Any] = {INPUT_KIND: self.kind_}
        if self.text_ is not None:
            meta.update(self.text_.get_metadata())
        if self.mean_ is not None:
            meta.update({INPUT_MEAN: self.mean_, INPUT_SCALE: self.scale_})
        return meta


def model_for_raw_inputs(model, encoder: InputEncoder | None):
    """``model`` behind what ``encoder`` did to its inputs: a model taking the data as is.

    Text gets the fit's vectorizer in front; standardised numbers a ``Normalization``
    holding the fit's statistics (a built-in layer: safe-mode loadable).
    """
    if encoder is None or not hasattr(encoder, "kind_"):
        return model
    if encoder.text_ is not None:
        return text_model(model, encoder.text_)
    if encoder.mean_ is None:
        return model
    import keras

    inputs = keras.Input(shape=model.inputs[0].shape[1:], dtype="float32", name="features")
    scaled = keras.layers.Normalization(
        axis=-1,
        mean=encoder.mean_,
        variance=np.square(encoder.scale_),
        name="standardize",
    )(inputs)
    return keras.Model(inputs, model(scaled), name=model.name)
