"""export: the best model loads in safe mode, as a SavedModel and through MLflow, and predicts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TINY_GRID, mlflow_client, study_runs, write_study
from hpsearch.cli import main
from hpsearch.data.digits import load_digits_sequences


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        one_candidate = TINY_GRID.replace("units: [4, 6]", "units: 4").replace(
            "epochs: [1, 2]", "epochs: 2"
        )
        path = write_study(folder, one_candidate)
        assert main(["run", str(path), "--quiet"]) == 0
        assert main(["export", str(path), "--out", str(folder / "out")]) == 0
        yield folder


def test_export_writes_every_format(exported, monkeypatch):
    out = exported / "out"
    assert {p.name for p in out.iterdir()} == {
        "model.keras",
        "saved_model",
        "mlflow_model",
        "model_card.json",
    }
    import keras
    import mlflow

    X, _ = load_digits_sequences(n_samples=10, classes=3)
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    probabilities = model.predict(X, verbose=0)
    assert probabilities.shape == (10, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    pyfunc = mlflow.pyfunc.load_model(str(out / "mlflow_model"))
    np.testing.assert_allclose(np.asarray(pyfunc.predict(X)), probabilities, rtol=1e-5)

    import tensorflow as tf

    served = tf.saved_model.load(str(out / "saved_model"))
    np.testing.assert_allclose(served.serve(X).numpy(), probabilities, rtol=1e-5)


def test_model_card_and_registry(exported, monkeypatch):
    monkeypatch.chdir(exported)
    card = json.loads((exported / "out" / "model_card.json").read_text())
    parent, children = study_runs("tiny-grid")
    best = parent.data.tags["hpsearch.best_run_id"]
    assert card["study"] == "tiny-grid" and card["run_id"] == best
    assert card["metric"] == "accuracy" and card["cv_score"] == parent.data.metrics["best_score"]
    assert card["data"]["loader"] == "digits" and card["data"]["classes"] == [0, 1, 2]
    assert set(card["parameters"]) == {"units", "epochs", "batch_size"}
    assert {"tensorflow", "keras", "scikeras", "mlflow", "optuna"} <= set(card["versions"])
    version = mlflow_client().get_model_version_by_alias("tiny-grid", "champion")
    assert version.run_id == best and str(version.version) == card["registered_model"]["version"]


def test_export_refuses_a_non_empty_folder_and_unknown_studies(exported, monkeypatch, capsys):
    monkeypatch.chdir(exported)
    assert main(["export", "tiny-grid", "--out", str(exported / "out")]) == 2
    assert "--out: the folder is not empty" in capsys.readouterr().err
    assert main(["export", "no-such-study", "--out", str(exported / "x")]) == 2
    assert "no-such-study: no study of that name" in capsys.readouterr().err
