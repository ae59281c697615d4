"""export: the best model loads in safe mode, as a SavedModel and through MLflow, and predicts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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
        one_candidate = (
            TINY_GRID.replace("units: [4, 6]", "units: 4")
            .replace("epochs: [1, 2]", "epochs: 2")
            .replace("cv: 2", "cv: {holdout: 0.3}")  # what is exported is the refit
        )
        path = write_study(folder, one_candidate, plots=False)
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

    # The MLflow model answers with the class and its probability, then one column per class.
    answers = mlflow.pyfunc.load_model(str(out / "mlflow_model")).predict(X.astype("float32"))
    assert list(answers.columns) == [
        "label",
        "probability",
        "probability_0",
        "probability_1",
        "probability_2",
    ]
    np.testing.assert_allclose(answers.iloc[:, 2:].to_numpy(), probabilities, rtol=1e-5)
    assert list(answers["label"]) == list(probabilities.argmax(axis=1))

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


def _probabilities(exported, X):
    import keras

    model = keras.saving.load_model(exported / "out" / "model.keras", safe_mode=True)
    return model.predict(X, verbose=0)


def test_predict_writes_labels_and_probabilities_for_csv_rows(exported, capsys):
    X, _ = load_digits_sequences(n_samples=6, classes=3)
    rows = exported / "digits.csv"
    header = ",".join(f"pixel_{k}" for k in range(64))
    np.savetxt(rows, X.reshape(6, -1), delimiter=",", header=header, comments="")
    predictions = exported / "predictions.csv"
    assert main(["predict", str(exported / "out"), str(rows), "--out", str(predictions)]) == 0
    assert "6 predictions written" in capsys.readouterr().err

    import pandas as pd

    table = pd.read_csv(predictions)
    assert list(table.columns[:3]) == ["row", "label", "probability"]
    assert list(table["row"]) == [2, 3, 4, 5, 6, 7]  # the header is line 1
    expected = _probabilities(exported, X)
    np.testing.assert_allclose(table.iloc[:, 3:].to_numpy(), expected, rtol=1e-5)

    assert main(["predict", str(exported / "out"), str(rows), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in records] == list(expected.argmax(axis=1))


def test_predict_rejects_rows_of_the_wrong_width_in_one_line(exported, capsys):
    bad = exported / "bad.csv"
    bad.write_text("1,2,3\n")
    assert main(["predict", str(exported / "out"), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{bad}: INPUT: row 1 has 3 values; the model takes 64 (input shape [8, 8]" in err
    assert main(["predict", str(exported), str(bad)]) == 2
    assert "EXPORT_DIR: not an hpsearch export" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_mlflow_models_serve_answers_over_rest(exported):
    """``mlflow models serve`` of the exported MLflow model, in this environment."""
    port = _free_port()
    environment = dict(os.environ)
    # MLflow starts uvicorn by name: the one installed beside this Python.
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    command = [sys.executable, "-m", "mlflow", "models", "serve"]
    command += ["-m", str(exported / "out" / "mlflow_model"), "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, server.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "the model server did not come up"
                time.sleep(0.5)
        X, _ = load_digits_sequences(n_samples=4, classes=3)
        request = urllib.request.Request(
            f"{base}/invocations",
            data=json.dumps({"inputs": X.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answers = json.load(response)["predictions"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    expected = _probabilities(exported, X)
    assert [a["label"] for a in answers] == list(expected.argmax(axis=1))
    served = np.array([[a[f"probability_{k}"] for k in range(3)] for a in answers])
    np.testing.assert_allclose(served, expected, rtol=1e-5)
