"""The workload builders: raw text and scaling inside the model, fitted on training rows only.

Tiny data, tiny models: each fit takes a second or two.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from hpsearch.data.synthetic import load_moving_pattern
from hpsearch.models.estimator import StandardizedTargetEncoder, deployable_model, make_estimator
from hpsearch.models.folds import FoldPlan

RNG = np.random.default_rng(7)
WORDS = ["film", "plot", "actor", "scene", "the", "a", "was", "very"]


def _reviews(n: int, extra_word: str | None = None):
    texts, labels = [], []
    for index in range(n):
        label = index % 2
        mood = ["great", "superb"] if label else ["awful", "dull"]
        words = [*RNG.choice(WORDS, 4), RNG.choice(mood), *RNG.choice(WORDS, 3)]
        if extra_word:
            words.append(extra_word)
        texts.append(" ".join(words))
        labels.append("positive" if label else "negative")
    return np.array(texts, dtype=object), np.array(labels, dtype=object)


@pytest.mark.slow
def test_text_vocabulary_comes_from_the_training_rows_of_each_fit_only(tmp_path):
    train_text, train_labels = _reviews(40)
    held_text, held_labels = _reviews(20, extra_word="zebra")  # a word only validation has
    X = np.concatenate([train_text, held_text]).reshape(-1, 1)
    y = np.concatenate([train_labels, held_labels])
    train_rows, held_rows = np.arange(40), np.arange(40, 60)
    plan = FoldPlan(X, y, [(train_rows, held_rows)], names={}, records_dir=tmp_path)
    estimator = make_estimator(
        "classification",
        "lstm",
        {"units": 4, "epochs": 2, "vocab_size": 40, "sequence_length": 10},
        seed=1,
    )
    estimator.fit(X[train_rows], y[train_rows], row_index=train_rows, fold_plan=plan)

    vocabulary = estimator.feature_encoder_.text_.vocabulary_
    assert "great" in vocabulary and "awful" in vocabulary
    assert "zebra" not in vocabulary  # validation text never reached adapt()
    assert len(estimator.history_["val_loss"]) == 2  # yet it was validated on those rows
    assert list(estimator.classes_) == ["negative", "positive"]
    # The trained model reads token ids; the deployable one takes raw strings, with the
    # fit's vocabulary, and answers as the estimator does.
    assert estimator.model_.inputs[0].dtype == "int32"
    model = deployable_model(estimator)
    exported = model.get_layer("text_vectorization").get_vocabulary(include_special_tokens=False)
    assert exported == vocabulary
    texts = np.array(["great superb film", "awful dull plot zebra"], dtype=object)
    probabilities = model.predict(tf.constant(texts.reshape(-1, 1)), verbose=0)
    assert probabilities.shape == (2, 1)
    np.testing.assert_allclose(probabilities[:, 0], estimator.predict_proba(texts)[:, 1], rtol=1e-6)


@pytest.mark.slow
def test_scaling_is_fitted_on_training_rows_and_targets_come_back_in_their_units(tmp_path):
    prices = np.cumsum(RNG.normal(0, 5, size=400)).astype("float32") + 1000
    windows = np.stack([prices[i : i + 10] for i in range(380)])[..., None]
    targets = prices[10:390]
    estimator = make_estimator(
        "regression", "lstm", {"units": 4, "epochs": 2, "normalize": True}, seed=1
    )
    estimator.fit(windows[:300], targets[:300])

    # Prices reach the model standardised with the training rows' statistics...
    inputs = estimator.feature_encoder_
    assert float(inputs.mean_[0]) == pytest.approx(windows[:300].mean(), rel=1e-4)
    assert float(inputs.scale_[0]) == pytest.approx(windows[:300].std(), rel=1e-4)
    # ...and the builder's own Normalization layer is adapted on those rows as they come.
    normalization = estimator.model_.get_layer("normalization")
    assert abs(float(np.ravel(normalization.mean)[0])) < 1e-4
    encoder = estimator.target_encoder_
    assert isinstance(encoder, StandardizedTargetEncoder)
    assert float(encoder.mean_) == pytest.approx(float(targets[:300].mean()), rel=1e-6)

    predicted = estimator.predict(windows[300:])
    assert abs(predicted.mean() - targets[300:].mean()) < 200  # dollars, not z-scores
    # The deployable model carries the inverse scaling: prices in, prices out, safe mode.
    path = tmp_path / "model.keras"
    deployable_model(estimator).save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(windows[300:], verbose=0).ravel(), predicted, rtol=1e-4, atol=1e-3
    )


@pytest.mark.parametrize("cell", ["simple_rnn", pytest.param("gru", marks=pytest.mark.slow)])
def test_recurrent_builder_takes_cell_growth_and_regularization_as_parameters(cell):
    X = RNG.normal(size=(30, 5, 2)).astype("float32")
    y = np.arange(30) % 2
    estimator = make_estimator(
        "classification",
        "recurrent",
        {"cell": cell, "units": 2, "layers": 3, "growth": 2, "l2": 0.01, "epochs": 1},
        seed=1,
    ).fit(X, y)
    cells = [layer for layer in estimator.model_.layers if hasattr(layer, "cell")]
    assert [layer.units for layer in cells] == [2, 4, 8]
    assert all(layer.cell.__class__.__name__.lower().startswith(cell[:3]) for layer in cells)
    assert cells[0].kernel_regularizer.l2 == pytest.approx(0.01)
    assert len(estimator.model_.losses) == 3  # one penalty per regularised kernel


@pytest.mark.slow
def test_cnn_lstm_on_tokens_and_on_numbers():
    tokens = RNG.integers(1, 20, size=(30, 12))
    numbers = RNG.normal(size=(30, 12, 3)).astype("float32")
    y = np.arange(30) % 3
    for X, extra in ((tokens, {"vocab_size": 20}), (numbers, {})):
        estimator = make_estimator(
            "classification",
            "cnn_lstm",
            {"filters": 4, "kernel_size": 3, "pool_size": 2, "units": 3, "epochs": 1, **extra},
            seed=1,
        ).fit(X, y)
        kinds = [layer.__class__.__name__ for layer in estimator.model_.layers]
        assert kinds.index("Conv1D") < kinds.index("MaxPooling1D") < kinds.index("LSTM")
        assert estimator.predict_proba(X).shape == (30, 3)


@pytest.mark.slow
def test_conv_lstm2d_learns_which_way_the_square_moves():
    data = load_moving_pattern(n_samples=300, steps=5, size=10, square=3, seed=1)
    assert data.X.shape == (240, 5, 10, 10, 1) and set(data.y) == {"right", "left", "up", "down"}
    estimator = make_estimator(
        "classification",
        "conv_lstm2d",
        {"filters": 8, "kernel_size": 5, "epochs": 10, "batch_size": 32, "learning_rate": 0.005},
        seed=1,
    ).fit(data.X, data.y)
    assert "ConvLSTM2D" in [layer.__class__.__name__ for layer in estimator.model_.layers]
    # Chance is 0.25; the direction is only visible across frames.
    assert (estimator.predict(data.X_test) == data.y_test).mean() > 0.5


def test_conv_lstm2d_refuses_inputs_that_are_not_frames():
    with pytest.raises(ValueError, match="frames"):
        make_estimator("classification", "conv_lstm2d", {"epochs": 1}).fit(
            RNG.normal(size=(10, 4, 3)).astype("float32"), np.arange(10) % 2
        )


def test_residual_forecaster_starts_from_the_last_value_and_saves_in_safe_mode(tmp_path):
    prices = np.cumsum(RNG.normal(0, 5, size=300)).astype("float32") + 500
    volume = RNG.uniform(1, 2, size=300).astype("float32")
    series = np.stack([volume, prices], axis=-1)
    windows = np.stack([series[i : i + 8] for i in range(290)])
    targets = prices[8:298]
    estimator = make_estimator(
        "regression",
        "lstm",
        {"units": 3, "epochs": 1, "normalize": True, "residual": True, "forecast_feature": 1},
        seed=1,
    ).fit(windows, targets)
    assert not estimator.model_.get_layer("last_value").trainable
    # With the learned correction zeroed, the model is exactly the last-value forecast.
    output = estimator.model_.get_layer("output")
    output.set_weights([np.zeros_like(w) for w in output.get_weights()])
    path = tmp_path / "model.keras"
    deployable_model(estimator).save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(windows, verbose=0).ravel(), windows[:, -1, 1], rtol=1e-5
    )


def test_residual_needs_a_regression_target_and_the_forecast_feature():
    windows = RNG.normal(size=(20, 4, 1)).astype("float32")
    with pytest.raises(ValueError, match="regression"):
        make_estimator(
            "classification", "lstm", {"epochs": 1, "residual": True, "forecast_feature": 0}
        ).fit(windows, np.arange(20) % 2)
    with pytest.raises(ValueError, match="forecast_feature"):
        make_estimator("regression", "lstm", {"epochs": 1, "residual": True}).fit(
            windows, windows[:, -1, 0]
        )


def test_dense_baseline_reads_raw_text_as_a_bag_of_embeddings():
    texts, labels = _reviews(60)
    estimator = make_estimator(
        "classification",
        "dense",
        {"units": 4, "epochs": 3, "vocab_size": 30, "sequence_length": 10, "embedding_dim": 4},
        seed=1,
    ).fit(texts, labels)
    kinds = [layer.__class__.__name__ for layer in estimator.model_.layers]
    assert kinds[:3] == ["InputLayer", "Embedding", "GlobalAveragePooling1D"]  # token ids in
    assert set(estimator.predict(texts[:5])) <= {"negative", "positive"}
