"""One built (and traced) model per architecture, reset between fits: same numbers as fresh.

A search's folds, and grid candidates that differ only in batch size or epochs, reuse one
model, and a search that alternates architectures finds each one's model kept; the results
must be exactly those of fresh models, curves included.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_validate

from hpsearch.models.estimator import make_estimator
from hpsearch.models.folds import FoldPlan
from hpsearch.models.reuse import BUILT_MODELS, architecture_key, epochs_group_key


def _digits(n: int = 150):
    digits = load_digits()
    return digits.images[:n].astype("float32") / 16, digits.target[:n] % 3


def _batch_size_search(
    records, X, y, params: dict, batch_sizes, seed: int, reuse: bool, builder="lstm"
):
    """Each batch size x 2 folds: scores, curves, models and fitted estimators of every fit."""
    return _search_over("batch_size", batch_sizes, records, X, y, params, seed, reuse, builder)


def _search_over(
    name: str, values, records, X, y, params: dict, seed: int, reuse: bool, builder="lstm"
):
    """Each value of ``name`` x 2 folds: scores, curves, models and fitted estimators."""
    splits = list(StratifiedKFold(2, shuffle=True, random_state=0).split(X, y))
    records.mkdir()
    plan = FoldPlan(X, y, splits, names=[name], records_dir=records)
    scores, curves, models, estimators = [], [], [], []
    for value in values:
        estimator = make_estimator("classification", builder, {**params, name: value}, seed=seed)
        with BUILT_MODELS.reusing() if reuse else _nothing():
            result = cross_validate(
                estimator,
                X,
                y,
                cv=splits,
                params=plan.fit_params(),
                error_score="raise",
                return_estimator=True,
            )
        scores.extend(result["test_score"])
        models.extend(id(fitted.model_) for fitted in result["estimator"])
        estimators.extend(result["estimator"])
        curves.extend(r["history"] for r in plan.collect({name: value}))
    BUILT_MODELS.forget()
    return scores, curves, models, estimators


def _search(tmp_path, reuse: bool):
    """Two candidates (batch sizes) x 2 folds; (scores, histories, models) of every fit."""
    X, y = _digits()
    params = {"units": 5, "dropout": 0.3, "recurrent_dropout": 0.1, "epochs": 2}
    params.update(learning_rate=0.01)
    records = tmp_path / ("reused" if reuse else "fresh")
    scores, histories, models, _ = _batch_size_search(records, X, y, params, (16, 32), 3, reuse)
    return scores, histories, models


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.slow
def test_reused_model_gives_exactly_the_scores_and_curves_of_fresh_models(tmp_path):
    fresh_scores, fresh_curves, fresh_models = _search(tmp_path, reuse=False)
    scores, curves, models = _search(tmp_path, reuse=True)
    assert len(set(fresh_models)) == 4  # a model per fit
    assert len(set(models)) == 1  # one model for both folds of both batch sizes
    assert scores == fresh_scores
    assert curves == fresh_curves and all(len(c["val_loss"]) == 2 for c in curves)


@pytest.mark.slow
def test_candidates_differing_in_learning_rate_share_one_model_with_fresh_results(tmp_path):
    """The learning rate is a variable of the optimizer that the traced step reads: the
    model built for the first learning rate trains the others, as fresh models would."""
    X, y = _digits()
    params = {"units": 5, "epochs": 2, "batch_size": 32, "optimizer": "adam"}
    rates = (0.003, 0.03)

    def search(reuse: bool):
        records = tmp_path / f"rates-{reuse}"
        # Dense: the learning rate is the optimizer's, whatever the network.
        return _search_over("learning_rate", rates, records, X, y, params, 3, reuse, "dense")

    fresh_scores, fresh_curves, fresh_models, fresh = search(reuse=False)
    scores, curves, models, fitted = search(reuse=True)
    assert len(set(fresh_models)) == 4 and len(set(models)) == 1
    assert scores == fresh_scores and curves == fresh_curves
    assert fresh_curves[0] != fresh_curves[2]  # the rates do train differently
    learned = [float(f.model_.optimizer.learning_rate.numpy()) for f in (fresh[2], fresh[0])]
    assert learned == pytest.approx([0.03, 0.003])
    # Epochs are shared only between fits with the same learning rate.
    meta = fitted[0]._get_metadata()
    keys = {epochs_group_key(f.get_params(), meta, "cv") for f in fitted}
    assert len({architecture_key(f.get_params(), meta) for f in fitted}) == 1 and len(keys) == 2


@pytest.mark.slow
def test_alternating_architectures_each_keep_their_model_with_fresh_results(tmp_path):
    """Optuna's samplers alternate architectures (8, 16, 8, ... units): each architecture's
    built model is kept beside the others and comes back reset, training as a fresh model
    would (with one kept model, every change built and traced again)."""
    X, y = _digits()
    params = {"units": 5, "dropout": 0.3, "epochs": 2, "batch_size": 32}

    def search(units, reuse: bool):
        records = tmp_path / f"units-{reuse}"
        # Dense: keeping one model per architecture is the same for any network.
        return _search_over("units", units, records, X, y, params, 3, reuse, "dense")

    # Fresh models of each architecture once: a fresh fit repeats itself exactly
    # (test_estimator.py: the same seed, the same model), so (5, 7) stands for (5, 7, 5, 7).
    fresh_scores, fresh_curves, fresh_models, _ = search((5, 7), reuse=False)
    scores, curves, models, _ = search((5, 7, 5, 7), reuse=True)
    assert len(set(fresh_models)) == 4
    assert len(set(models)) == 2 and models[:2] == models[4:6]  # 5 units: one model
    assert scores == fresh_scores * 2 and curves == fresh_curves * 2


STATEFUL_NOISE = """
import keras
import tensorflow as tf
from hpsearch.models.heads import output_layer

class StatefulNoise(keras.layers.Layer):
    # TensorFlow's own random op: its kernel counts its draws (Keras's are stateless).
    def call(self, x, training=False):
        return x + tf.random.uniform(tf.shape(x), maxval=0.5) if training else x

def build(meta, units=4):
    return keras.Sequential([
        keras.Input(meta["X_shape_"][1:]),
        keras.layers.Flatten(),
        StatefulNoise(),
        keras.layers.Dense(units, activation="relu"),
        output_layer(meta),
    ])
"""


@pytest.mark.slow
@pytest.mark.parametrize("builder", ["lstm", "stateful-noise"])
def test_reused_models_keep_their_prepared_steps_unless_they_draw_statefully(
    tmp_path, monkeypatch, builder
):
    """SciKeras seeds every fit with ``tf.random.set_seed``, which also clears TensorFlow's
    kernel cache: the prepared train and predict steps (~0.3 s per fit to prepare again).
    A reused model's fits keep them (Keras's random ops are stateless), but where a traced
    step holds a stateful random op the cache is cleared, restarting its stream. Either
    way the folds score exactly as fresh models do."""
    from tensorflow.python.eager import context

    from hpsearch.compat.scikeras import WrapperHooks

    if builder == "stateful-noise":
        (tmp_path / "noise.py").write_text(STATEFUL_NOISE)
        builder = f"{tmp_path / 'noise.py'}:build"
    clears: list[int] = []  # per fit: TensorFlow seeds set the clearing way
    inside = [False]
    fit_keras_model, set_global_seed = (
        WrapperHooks._fit_keras_model,
        context.Context._set_global_seed,
    )

    def counted_fit(self, *args, **kwargs):
        clears.append(0)
        inside[0] = True
        try:
            return fit_keras_model(self, *args, **kwargs)
        finally:
            inside[0] = False

    def counted_seed(self, seed):
        if inside[0]:
            clears[-1] += 1
        return set_global_seed(self, seed)

    monkeypatch.setattr(WrapperHooks, "_fit_keras_model", counted_fit)
    monkeypatch.setattr(context.Context, "_set_global_seed", counted_seed)
    X, y = _digits()
    params = {"units": 5, "epochs": 2}

    def search(reuse: bool):
        records = tmp_path / f"{reuse}"
        return _search_over("batch_size", (16, 32), records, X, y, params, 3, reuse, builder)

    fresh_scores, fresh_curves, fresh_models, _ = search(reuse=False)
    clears.clear()
    scores, curves, models, _ = search(reuse=True)
    assert len(set(fresh_models)) == 4 and len(set(models)) == 1
    assert scores == fresh_scores and curves == fresh_curves
    if builder == "lstm":
        assert clears == [0, 0, 0, 0]
    else:  # the first fit of the model has nothing cached yet
        assert clears == [0, 2, 2, 2]


def test_models_with_layers_adapted_per_fit_are_never_shared():
    X, y = _digits(60)
    normalized = {"units": 2, "epochs": 1, "normalize": True}
    with BUILT_MODELS.reusing():
        fitted = [
            make_estimator("classification", "dense", normalized, seed=1).fit(X, y)
            for _ in range(2)
        ]
    BUILT_MODELS.forget()
    # Normalization is adapted on each fit's own rows: a model per fit.
    assert fitted[0].model_ is not fitted[1].model_


def _reviews(n: int):
    rng = np.random.default_rng(0)
    words = ["film", "plot", "actor", "scene", "music", "story", "ending", "cast"]
    texts, labels = [], []
    for k in range(n):
        mood = ["great", "superb"] if k % 2 else ["awful", "dull"]
        texts.append(" ".join([*rng.choice(words, 3), rng.choice(mood), *rng.choice(words, 2)]))
        labels.append("pos" if k % 2 else "neg")
    # New string objects per row, as pandas gives them (not two interned literals): the
    # labels' object array must compare by value for the model to be reused.
    return np.array(texts, dtype=object), np.array(labels, dtype=str).astype(object)


def _text_search(tmp_path, reuse: bool):
    """Two batch sizes x 2 folds of raw text: scores, curves, models, vocabularies."""
    X, y = _reviews(60)
    params = {"units": 3, "epochs": 2, "vocab_size": 12, "sequence_length": 6}
    records = tmp_path / f"text-{reuse}"
    # Dense (a bag of embeddings): the vocabulary is the estimator's, whatever the network.
    scores, curves, models, fitted = _batch_size_search(
        records, X, y, params, (8, 16), 5, reuse, "dense"
    )
    return scores, curves, models, [f.feature_encoder_.text_.vocabulary_ for f in fitted]


@pytest.mark.slow
def test_text_models_are_reused_with_each_folds_own_vocabulary(tmp_path):
    from hpsearch.models import text_tokens

    text_tokens._VOCABULARIES.clear()
    fresh_scores, fresh_curves, fresh_models, fresh_vocabularies = _text_search(tmp_path, False)
    # Each fold's vocabulary was learnt once and kept for the other batch size.
    assert len(text_tokens._VOCABULARIES) == 2
    scores, curves, models, vocabularies = _text_search(tmp_path, True)
    assert len(set(fresh_models)) == 4 and len(set(models)) == 1
    assert vocabularies == fresh_vocabularies
    assert vocabularies[0] != vocabularies[1]  # the two folds' training rows differ
    assert scores == fresh_scores
    assert curves == fresh_curves


def test_token_ids_are_those_of_a_vectorizer_adapted_on_the_training_rows():
    import tensorflow as tf
    from keras.layers import TextVectorization

    from hpsearch.models.text_tokens import TextTokens

    texts, _ = _reviews(40)
    train, other = texts[:30], texts[30:]
    encoder = TextTokens(vocab_size=10, sequence_length=5).fit(train)
    layer = TextVectorization(max_tokens=10, output_sequence_length=5)
    layer.adapt(tf.constant(train.astype(str)))
    for part in (train, other):
        expected = layer(tf.constant(part.astype(str))).numpy()
        tokens = encoder.transform(part)
        assert tokens.dtype == np.int32 and tokens.shape == (len(part), 5)
        np.testing.assert_array_equal(tokens, expected)
        assert encoder.transform(part) is tokens  # kept, not computed again
    with np.testing.assert_raises(ValueError):
        tokens[0, 0] = 1  # shared by every fit of the fold: read-only


def test_outside_a_search_estimators_never_share_a_model():
    X, y = _digits(60)
    first = make_estimator("classification", "dense", {"units": 3, "epochs": 1}, seed=1).fit(X, y)
    second = make_estimator("classification", "dense", {"units": 3, "epochs": 1}, seed=1).fit(X, y)
    assert first.model_ is not second.model_


def _epochs_search(tmp_path, share: bool, keep_epochs: bool = True):
    """Candidates 3, 2 and 1 epochs x 2 folds, longest first (as the grid orders them);
    with ``share``, inside ``BUILT_MODELS.reusing(keep_epochs=keep_epochs)``."""
    X, y = _digits()
    splits = list(StratifiedKFold(2, shuffle=True, random_state=1).split(X, y))
    records = tmp_path / (("shared" if keep_epochs else "reused") if share else "separate")
    records.mkdir()
    plan = FoldPlan(X, y, splits, names=["epochs"], records_dir=records)
    scores, fold_records = [], []
    for epochs in (3, 2, 1):
        params = {"units": 5, "dropout": 0.3, "recurrent_dropout": 0.1, "batch_size": 16}
        params.update(epochs=epochs, learning_rate=0.01)
        estimator = make_estimator("classification", "lstm", params, seed=4)
        with BUILT_MODELS.reusing(keep_epochs=keep_epochs) if share else _nothing():
            result = cross_validate(
                estimator, X, y, cv=splits, params=plan.fit_params(), error_score="raise"
            )
        scores.extend(result["test_score"])
        fold_records.extend(plan.collect({"epochs": epochs}))
    BUILT_MODELS.forget()
    return scores, fold_records


@pytest.mark.slow
def test_shorter_fits_take_a_longer_fits_epochs_with_exactly_the_same_results(tmp_path):
    separate_scores, separate = _epochs_search(tmp_path, share=False)
    scores, shared = _epochs_search(tmp_path, share=True)
    assert scores == separate_scores
    assert [r["history"] for r in shared] == [r["history"] for r in separate]
    assert [len(r["history"]["val_loss"]) for r in shared] == [3, 3, 2, 2, 1, 1]
    # Trained separately: 3 + 2 + 1 epochs per fold; shared: only the longest fit trains.
    assert [r["trained_epochs"] for r in separate] == [3, 3, 2, 2, 1, 1]
    assert [r["trained_epochs"] for r in shared] == [3, 3, 0, 0, 0, 0]
    # Where no shorter fit may come (Optuna without shared epochs), the model is still
    # reused but no epoch's state is kept: every fit trains its own epochs, alike.
    reused_scores, reused = _epochs_search(tmp_path, share=True, keep_epochs=False)
    assert reused_scores == separate_scores
    assert [r["trained_epochs"] for r in reused] == [3, 3, 2, 2, 1, 1]
    assert [r["reused"] for r in reused] == [False, True, True, True, True, True]
