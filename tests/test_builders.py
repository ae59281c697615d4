"""Every built-in builder trains on numeric sequences and on token sequences."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_study
from hpsearch.data import load_dataset
from hpsearch.models.estimator import make_estimator
from hpsearch.models.routing import check_model
from hpsearch.study import load_study

RNG = np.random.default_rng(0)
NUMERIC = RNG.normal(size=(40, 6, 3)).astype("float32")
TOKENS = RNG.integers(1, 30, size=(40, 7))
LABELS = np.array([0, 1] * 20)


@pytest.mark.parametrize(
    "builder",
    [
        "simple_rnn",
        pytest.param("lstm", marks=pytest.mark.slow),
        pytest.param("gru", marks=pytest.mark.slow),
    ],
)
def test_recurrent_builders_on_numbers_and_tokens(builder):
    params = {
        "units": 3,
        "layers": 2,
        "dropout": 0.1,
        "activation": "relu",
        "init": "he_uniform",
        "epochs": 1,
    }
    numeric = make_estimator("classification", builder, params, seed=1).fit(NUMERIC, LABELS)
    recurrent = [
        layer
        for layer in numeric.model_.layers
        if builder.replace("_", "") in layer.__class__.__name__.lower()
    ]
    assert (
        len(recurrent) == 2 and recurrent[0].return_sequences and not recurrent[1].return_sequences
    )
    assert numeric.predict_proba(NUMERIC).shape == (40, 2)

    tokens = make_estimator(
        "classification",
        builder,
        {**params, "vocab_size": 30, "embedding_dim": 4},
        seed=1,
        inputs="tokens",
    )
    tokens.fit(TOKENS, LABELS)
    embedding = tokens.model_.get_layer(index=1)
    assert embedding.__class__.__name__ == "Embedding" and embedding.input_dim == 30


def test_dense_builder_and_regression_head():
    estimator = make_estimator(
        "regression", "dense", {"units": 4, "layers": 2, "epochs": 1}, seed=1
    ).fit(NUMERIC, NUMERIC[:, 0, 0])
    assert estimator.model_.output_shape == (None, 1)
    assert estimator.model_.loss == "mean_squared_error"
    assert estimator.predict(NUMERIC).shape == (40,)


@pytest.mark.slow
def test_bidirectional_and_multiclass_head():
    labels = np.arange(40) % 4
    estimator = make_estimator(
        "classification", "gru", {"units": 2, "bidirectional": True, "epochs": 1}, seed=1
    )
    estimator.fit(NUMERIC, labels)
    assert estimator.model_.output_shape == (None, 4)
    assert any(layer.__class__.__name__ == "Bidirectional" for layer in estimator.model_.layers)


def test_token_vocabulary_comes_from_all_the_data(tmp_path):
    (tmp_path / "tokens.py").write_text(
        "import numpy as np\n"
        "def load():\n"
        "    X = np.array([[1, 2, 3]] * 10)\n"
        "    X_test = np.array([[1, 2, 99]] * 4)\n"
        "    return X, np.array([0, 1] * 5), X_test, np.array([0, 1] * 2)\n"
    )
    study = load_study(
        write_study(
            tmp_path,
            """
        name: tokens
        task: classification
        data: {loader: "tokens.py:load", inputs: tokens}
        model: {builder: lstm}
    """,
        )
    )
    dataset = load_dataset(study)
    assert dataset.facts == {"vocab_size": 100}  # the test set's token 99 included
    assert check_model(study, dataset.facts) == {"vocab_size": 100}
    # Undeclared, the same integers are numbers: no vocabulary to size.
    undeclared = study.model_copy(update={"data": study.data.model_copy(update={"inputs": None})})
    assert load_dataset(undeclared).facts == {}


@pytest.mark.parametrize("pooling", ["max", "average"])
def test_pooling_reads_every_real_step_and_no_padding(pooling):
    padded = np.array([[3, 9, 4, 0, 0, 0, 0], [5, 2, 7, 8, 6, 1, 0]] * 20)
    estimator = make_estimator(
        "classification",
        "lstm",
        {"units": 3, "pooling": pooling, "vocab_size": 10, "embedding_dim": 4, "epochs": 1},
        seed=1,
        inputs="tokens",
    ).fit(padded, LABELS)
    import keras

    model = estimator.model_
    lstm = next(layer for layer in model.layers if layer.__class__.__name__ == "LSTM")
    pool = model.layers[model.layers.index(lstm) + 1]
    assert lstm.return_sequences
    steps = keras.Model(model.inputs[0], lstm.output)(padded[:2]).numpy()
    pooled = keras.Model(model.inputs[0], pool.output)(padded[:2]).numpy()
    reduce = np.max if pooling == "max" else np.mean
    for row, real in enumerate((3, 6)):
        np.testing.assert_allclose(pooled[row], reduce(steps[row, :real], axis=0), rtol=1e-5)


def test_an_unknown_pooling_is_named():
    with pytest.raises(ValueError, match="pooling must be one of .*'sum'"):
        make_estimator("classification", "lstm", {"pooling": "sum", "epochs": 1}).fit(
            NUMERIC, LABELS
        )
