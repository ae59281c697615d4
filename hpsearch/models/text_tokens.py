"""Raw text turned into token ids once per training set, outside the trained model.

A ``TextVectorization`` layer inside the model had to be adapted on every fit's training
rows, so no model could be reused (adapting replaces the lookup table its traced steps
read) and every batch of every epoch split and looked up strings again. Here the
estimator's feature encoder learns the vocabulary of a fit's training rows and turns them
into ``int32`` ids of shape ``(n, sequence_length)``; the model starts at its ``Embedding``.
The vocabulary is still learnt from the fit's own training rows only (no validation or test
word shapes it), exactly as the layer inside the model did.

Vocabularies and token arrays are kept per process by content: the folds of a grid's
candidates, and the folds of every Optuna trial, share their training rows, so each fold is
tokenized once per study (per worker process) instead of once per fit.

``text_model`` puts the vectorizer back in front of the trained model for export, so the
saved model still takes raw strings.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np

from hpsearch.data.inputs import is_text

# Meta keys a builder sees when text arrives as token ids (see ``hpsearch.models.builders``).
TOKENS_LENGTH = "text_sequence_length_"
TOKENS_VOCABULARY = "text_vocab_size_"

# Defaults when neither the study nor the loader says (``facts``).
DEFAULT_VOCAB_SIZE = 20000
DEFAULT_SEQUENCE_LENGTH = 200

# How many vocabularies and token arrays a process keeps (a study's folds and test set).
_KEEP = 32
_VOCABULARIES: OrderedDict[str, list[str]] = OrderedDict()
_TOKENS: OrderedDict[str, np.ndarray] = OrderedDict()
_LAYERS: OrderedDict[str, Any] = OrderedDict()


class TextTokens:
    """The estimator's feature encoder: text -> token ids; any other input passes unchanged.

    SciKeras needs only ``fit``, ``transform`` and ``get_metadata`` of it.
    """

    def __init__(self, vocab_size: int | None = None, sequence_length: int | None = None):
        self.vocab_size = vocab_size
        self.sequence_length = sequence_length

    def fit(self, X, y=None) -> TextTokens:
        self.text_ = is_text(X)
        if self.text_:
            self.max_tokens_ = int(self.vocab_size or DEFAULT_VOCAB_SIZE)
            self.length_ = int(self.sequence_length or DEFAULT_SEQUENCE_LENGTH)
            self.vocabulary_key_ = _digest(self._settings(), _text_digest(X))
            self.vocabulary_ = _remember(
                _VOCABULARIES, self.vocabulary_key_, lambda: self._learn_vocabulary(X)
            )
        return self

    def transform(self, X):
        if not getattr(self, "text_", False):
            return X
        key = _digest(self.vocabulary_key_, _text_digest(X))
        return _remember(_TOKENS, key, lambda: self._tokens(X))

    def get_metadata(self) -> dict[str, Any]:
        """What builders read in ``meta`` (only once fitted on text)."""
        if not getattr(self, "text_", False):
            return {}
        return {TOKENS_LENGTH: self.length_, TOKENS_VOCABULARY: self.max_tokens_}

    def vectorizer(self):
        """A new ``TextVectorization`` layer holding this fit's vocabulary (for export)."""
        import keras

        return keras.layers.TextVectorization(
            max_tokens=self.max_tokens_,
            output_sequence_length=self.length_,
            vocabulary=self.vocabulary_,
            name="text_vectorization",
        )

    def _settings(self) -> str:
        return f"{self.max_tokens_}/{self.length_}"

    def _learn_vocabulary(self, X) -> list[str]:
        import keras

        layer = keras.layers.TextVectorization(
            max_tokens=self.max_tokens_, output_sequence_length=self.length_
        )
        layer.adapt(_strings(X), batch_size=1024)
        _remember(_LAYERS, self.vocabulary_key_, lambda: layer)
        # Padding ("") and out-of-vocabulary ("[UNK]") come first; a layer given the list
        # adds them itself.
        return [str(word) for word in layer.get_vocabulary(include_special_tokens=False)]

    def _tokens(self, X) -> np.ndarray:
        layer = _remember(_LAYERS, self.vocabulary_key_, self.vectorizer)
        tokens = np.asarray(layer(_strings(X)), dtype="int32")
        tokens.setflags(write=False)  # shared by every fit of the fold: nobody may change it
        return tokens


def text_model(model, encoder: TextTokens):
    """``model`` (token ids in) behind ``encoder``'s vectorizer: a model taking raw strings."""
    import keras

    inputs = keras.Input(shape=(1,), dtype="string", name="text")
    return keras.Model(inputs, model(encoder.vectorizer()(inputs)), name=model.name)


def _strings(X):
    import tensorflow as tf

    return tf.constant(np.asarray(X).reshape(-1).astype(str))


def _text_digest(X) -> str:
    texts = np.asarray(X).reshape(-1)
    digest = hashlib.sha1(str(len(texts)).encode())
    digest.update("\x1f".join(map(str, texts)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _digest(*parts: str) -> str:
    return hashlib.sha1("\x1e".join(parts).encode()).hexdigest()


def _remember(store: OrderedDict, key: str, make):
    if key in store:
        store.move_to_end(key)
        return store[key]
    value = store[key] = make()
    while len(store) > _KEEP:
        store.popitem(last=False)
    return value
