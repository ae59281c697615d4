"""A user's own ordinary data: integer features are numbers, integer targets of a regression
are numbers, token ids are tokens only when declared, and a declaration that X cannot meet
is a one-line error."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import mlflow_client, study_runs, write_study
from hpsearch.cli import main

# Counts and codes, 0-255, as integers: the label is whether two of them sum past 255.
TABULAR_LOADER = """
import numpy as np

def load(n=240):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(n, 6))
    return X, (X[:, 0] + X[:, 3] > 255).astype("int64")
"""

# Ratings 1-5 as integers: a regression on integer targets.
RATINGS_LOADER = """
import numpy as np

def load(n=200):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 4)).astype("float32")
    return X, np.clip(np.round(3 + 1.2 * X[:, 0] - 0.8 * X[:, 1]), 1, 5).astype("int64")
"""

# Integer ids the loader declares as tokens: one id marks the positive class.
TOKENS_LOADER = """
import numpy as np
from hpsearch.data import Dataset

def load(n=160, declare=True):
    rng = np.random.default_rng(2)
    X = rng.integers(1, 40, size=(n, 8))
    y = (X == 7).any(axis=1).astype("int64")
    return Dataset(X=X, y=y, inputs="tokens" if declare else None)
"""

STUDY = """
name: {name}
task: {task}
seed: 0
data:
  loader: "{loader}"
  {data_extra}
model:
  builder: dense
search:
  backend: grid
  cv: {{holdout: 0.25}}
  metric: {metric}
  space:
    units: 16
    epochs: {epochs}
    batch_size: 16
    learning_rate: 0.01
    optimizer: adam
"""


def _study(
    workdir,
    name,
    loader_text,
    *,
    task="classification",
    metric="accuracy",
    epochs=12,
    data_extra="",
):
    (workdir / f"{name}.py").write_text(loader_text)
    text = STUDY.format(
        name=name,
        task=task,
        loader=f"{name}.py:load",
        data_extra=data_extra,
        metric=metric,
        epochs=epochs,
    )
    return write_study(workdir, text, name=f"{name}.yaml", plots=False)


def _summary(run_id: str, folder) -> str:
    path = mlflow_client().download_artifacts(run_id, "model_summary.txt", str(folder))
    with open(path) as file:
        return file.read()


@pytest.mark.slow
def test_integer_features_are_numbers_and_train_well(workdir, capsys):
    path = _study(workdir, "tabular", TABULAR_LOADER)
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "inputs numbers (inferred: not strings" in out and "standardised per fit" in out
    _, (trial,) = study_runs("tabular")
    assert trial.data.tags["hpsearch.state"] == "COMPLETE"
    # Standardised counts separate a sum threshold; embedded as tokens they did not.
    assert trial.data.metrics["cv_score"] >= 0.85
    assert "Embedding" not in _summary(trial.info.run_id, workdir)


@pytest.mark.slow
def test_integer_targets_of_a_regression_train_a_regressor(workdir):
    path = _study(workdir, "ratings", RATINGS_LOADER, task="regression", metric="r2", epochs=20)
    assert main(["run", str(path), "--quiet"]) == 0
    _, (trial,) = study_runs("ratings")
    assert trial.data.tags["hpsearch.state"] == "COMPLETE", trial.data.tags.get("hpsearch.error")
    assert trial.data.metrics["cv_score"] > 0.5  # a linear signal, learnt
    assert "softmax" not in _summary(trial.info.run_id, workdir)


@pytest.mark.slow
def test_declared_tokens_are_embedded_with_the_vocabulary_of_the_data(workdir, capsys):
    path = _study(workdir, "tokens", TOKENS_LOADER, epochs=15)
    assert main(["run", str(path)]) == 0
    assert "inputs tokens (declared by the loader 'tokens.py:load')" in capsys.readouterr().out
    _, (trial,) = study_runs("tokens")
    assert trial.data.tags["hpsearch.state"] == "COMPLETE"
    summary = _summary(trial.info.run_id, workdir)
    assert "Embedding" in summary and "(None, 8, 32)" in summary  # ids 1-39: vocab_size 40


@pytest.mark.slow
def test_the_study_file_declares_tokens_where_the_loader_does_not(workdir, capsys):
    path = _study(
        workdir,
        "undeclared",
        TOKENS_LOADER,
        epochs=1,
        data_extra="params: {declare: false}\n  inputs: tokens",
    )
    assert main(["run", str(path), "--quiet"]) == 0
    _, (trial,) = study_runs("undeclared")
    assert "Embedding" in _summary(trial.info.run_id, workdir)
    assert main(["validate", str(path)]) == 0
    assert "inputs: tokens (declared by data.inputs)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("declared", "loader", "message"),
    [
        (
            "tokens",
            "import numpy as np\ndef load():\n    return np.linspace(0, 1, 20).reshape(10, 2), [0, 1] * 5\n",
            "holds float64 values",
        ),
        ("text", TABULAR_LOADER, "declared text but X holds int64 values"),
        ("numbers", "def load():\n    return ['a b', 'c d'] * 5, [0, 1] * 5\n", "holds strings"),
    ],
)
def test_a_declaration_the_data_cannot_meet_is_a_one_line_error(
    workdir, capsys, declared, loader, message
):
    path = _study(workdir, "wrong", loader, data_extra=f"inputs: {declared}")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: data.inputs: inputs are declared {declared}"), err
    assert message in err and len(err.splitlines()) == 1


def test_images_as_keras_ships_them_train_a_dense_model():
    """uint8 pixels of shape (n, 28, 28): numbers, standardised, flattened by ``dense``."""
    from hpsearch.models.estimator import make_estimator

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(64, 28, 28)).astype("uint8")
    labels = (images[:, 10:18, 10:18].mean(axis=(1, 2)) > 127).astype("int64")
    estimator = make_estimator("classification", "dense", {"units": 8, "epochs": 2}, seed=0)
    estimator.fit(images, labels)
    assert estimator.predict(images).shape == (64,)
    assert not any("embedding" in layer.name for layer in estimator.model_.layers)
