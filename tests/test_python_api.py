"""hpsearch from Python: a study as a dict with the builder and loader as functions, run in
this process; its result, the leaderboard, the best model; the same result read back by
name; and the one-line errors where a function cannot reach worker processes."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

import hpsearch
from conftest import ROOT, mlflow_client, study_runs


def tiny_study(name: str, **search) -> dict:
    """A study as a notebook writes it: digits of 3 classes, with a test set, and a builder
    that is a nested function (what only this process can call)."""

    def load(n_samples=150):
        from hpsearch.data.digits import load_digits_sequences

        X, y = load_digits_sequences(n_samples=n_samples, classes=3)
        X = X.reshape(len(X), -1)
        return X[:120], y[:120], X[120:], y[120:]

    def build(meta, units=4):
        import keras

        return keras.Sequential(
            [
                keras.Input(meta["X_shape_"][1:]),
                keras.layers.Dense(units, activation="relu"),
                keras.layers.Dense(meta["n_classes_"], activation="softmax"),
            ]
        )

    return {
        "name": name,
        "task": "classification",
        "seed": 4,
        "data": {"loader": load},
        "model": {"builder": build},
        "search": {
            "n_trials": 2,
            "sampler": "random",
            "cv": {"holdout": 0.25},
            "trials_per_process": 0,
            "space": {"units": [3, 6], "epochs": 2, "batch_size": 32},
            **search,
        },
        "tracking": {"plots": False, "system_metrics": False},
    }


def test_a_dict_study_with_functions_runs_in_this_process(workdir):
    result = hpsearch.run(tiny_study("from-python"))

    board = result.leaderboard
    assert list(board.columns) == [
        "trial",
        "state",
        "score",
        "score_std",
        "units",
        "epochs",
        "batch_size",
        "error",
        "run_id",
    ]
    assert len(board) == 2 and set(board["state"]) == {"COMPLETE"}
    assert board["score"].is_monotonic_decreasing  # best first (accuracy)
    best = board.iloc[0]
    assert result.best_trial == best["trial"]
    assert result.best_score == pytest.approx(best["score"])
    assert result.best_params == {"units": best["units"], "epochs": 2, "batch_size": 32}
    assert result.metric == "accuracy" and result.direction == "maximize"
    assert result.test_score is not None and 0.0 <= result.test_score <= 1.0
    assert result.study.model.builder.__name__ == "build"
    assert result.tracking_uri.endswith(str(workdir / "mlruns" / "mlflow.db"))

    # The refitted best model takes the raw rows (64 pixel values) and gives probabilities.
    X_test = tiny_study("x")["data"]["loader"]()[2]
    model = result.load_best_model()
    probabilities = model.predict(X_test, verbose=0)
    assert probabilities.shape == (30, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert result.classes == [0, 1, 2]

    # What MLflow holds: the dict written as a study file, the functions by module:name.
    parent, trials = study_runs("from-python")
    assert parent.info.run_id == result.parent_run_id and len(trials) == 2
    client = mlflow_client()
    study_file = client.download_artifacts(parent.info.run_id, "from-python.yaml", str(workdir))
    written = (workdir / "from-python.yaml").read_text()
    assert study_file.endswith("from-python.yaml")
    assert "builder: test_python_api:tiny_study.<locals>.build" in written
    assert "loader: test_python_api:tiny_study.<locals>.load" in written
    data_tag = json.loads(parent.data.tags["hpsearch.data"])
    assert data_tag["loader"] == "test_python_api:tiny_study.<locals>.load"

    # The same result, read back by name.
    again = hpsearch.load_results("from-python")
    assert again.study is None
    assert again.best_params == result.best_params
    assert again.test_score == pytest.approx(result.test_score)
    assert again.leaderboard.equals(board)
    assert "best_trial=" in repr(again)


def test_load_results_of_a_study_the_store_lacks(workdir):
    with pytest.raises(hpsearch.UserError, match="no-such: no study of that name"):
        hpsearch.load_results("no-such")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"data.loader": "digits", "search.trials_per_process": 10},
            "<study>: model.builder: the function 'build' is defined inside another function,"
            " which worker processes cannot import; set search.trials_per_process: 0 to train"
            " in this process, or give it as 'file.py:function' or 'module:function'",
        ),
        (
            {
                "data.loader": "digits",
                "model.builder": lambda meta: None,
                "search.trials_per_process": 1,
            },
            "<study>: model.builder: a lambda, which worker processes cannot import; set"
            " search.trials_per_process: 0 to train in this process",
        ),
        (
            {"model.builder": "dense", "search.backend": "grid", "search.n_jobs": 2},
            "<study>: data.loader: the function 'load' is defined inside another function,"
            " which worker processes cannot import; set search.n_jobs: 1 to train in this"
            " process",
        ),
        (
            {
                "model.builder": "dense",
                "data.loader": "digits",
                "data.params": {"transform": lambda x: x},
                "search.backend": "grid",
                "search.grid_backend": "dask",
            },
            "<study>: data.params.transform: a lambda, which worker processes cannot import;"
            " set search.grid_backend: workers, search.trials_per_process: 0 to train",
        ),
        (
            {
                "data.loader": "digits",
                "model.builder": functools.partial(lambda meta, units: None, units=3),
                "search.trials_per_process": 1,
            },
            "<study>: model.builder: functools:partial (it cannot be pickled: ",
        ),
        (
            {"model.builder": 3},
            "<study>: model.builder: Input should be a valid string or, from Python, a"
            " function (got 3)",
        ),
        (
            {"search.space": {"units": {"low": 8, "high": 2}}},
            "<study>: search.space.units: low (8) must be <= high (2)",
        ),
    ],
)
def test_a_dict_study_is_checked_as_a_study_file_is(keys, message):
    tiny = tiny_study("checked")
    study = {
        "name": "checked",
        "task": "classification",
        "data": dict(tiny["data"]),
        "model": dict(tiny["model"]),
        "search": {"trials_per_process": 0, "space": {"units": [3, 6]}},
    }
    for key, value in keys.items():
        section, _, name = key.partition(".")
        study[section][name] = value
    with pytest.raises(hpsearch.UserError) as raised:
        hpsearch.load_study(study)
    assert str(raised.value).startswith(message)


def test_what_worker_processes_can_import_is_accepted_for_them():
    from hpsearch.models.builders import build_dense

    for builder in (build_dense, functools.partial(build_dense, layers=1)):
        study = hpsearch.load_study(
            {
                "name": "importable",
                "task": "classification",
                "data": {"loader": "digits"},
                "model": {"builder": builder},
                "search": {"n_jobs": 2, "space": {"units": [3, 6]}},
            }
        )
        assert study.model.builder is builder


def test_a_dict_finds_its_files_in_base_dir(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mine.py").write_text("def build(meta, units=4):\n    pass\n")
    study = {
        "name": "files",
        "task": "classification",
        "data": {"loader": "digits"},
        "model": {"builder": "mine.py:build"},
    }
    loaded = hpsearch.load_study(study, base_dir=tmp_path / "models")
    assert loaded.base_dir == tmp_path / "models"

    from hpsearch.models.routing import builder_reference, check_model

    check_model(loaded)
    assert builder_reference(loaded) == f"{tmp_path / 'models' / 'mine.py'}:build"
    # Without base_dir, from the current folder (as open() finds a relative path).
    monkeypatch.chdir(tmp_path)
    with pytest.raises(hpsearch.UserError, match="the builder file .*/mine.py' does not exist"):
        check_model(hpsearch.load_study(study))
    monkeypatch.chdir(tmp_path / "models")
    check_model(hpsearch.load_study(study))
    with pytest.raises(TypeError, match="base_dir"):
        hpsearch.load_study(ROOT / "studies" / "quickstart.yaml", base_dir=tmp_path)


def test_a_study_object_is_checked_again_with_the_options():
    from hpsearch.study.reading import load_study

    study = hpsearch.load_study(ROOT / "studies" / "quickstart.yaml")
    assert load_study(study) == study
    assert load_study(study, {"search.n_trials": 3}).search.n_trials == 3
    with pytest.raises(hpsearch.UserError, match=r"quickstart.yaml: search.n_trials: "):
        load_study(study, {"search.n_trials": 0})
    built = hpsearch.Study(
        name="built", task="regression", data={"loader": "digits"}, model={"builder": "dense"}
    )
    assert load_study(built).source.name == "<study>"


def test_the_in_process_rule_is_the_trainers():
    """``settings_that_train_elsewhere`` is empty exactly when ``make_trainer`` trains in
    this process, and a grid's GridSearchCV has one job (more are joblib's processes)."""
    from itertools import product

    from hpsearch.search.trainer import InProcessTrainer
    from hpsearch.search.trainers import make_trainer
    from hpsearch.study.references import settings_that_train_elsewhere

    options = product(("optuna", "grid"), (0, 2), (1, 2), ("workers", "dask"))
    checked = 0
    for backend, per_process, n_jobs, grid_backend in options:
        try:
            study = hpsearch.load_study(
                {
                    "name": "rule",
                    "task": "classification",
                    "data": {"loader": "digits"},
                    "model": {"builder": "dense"},
                    "search": {
                        "backend": backend,
                        "trials_per_process": per_process,
                        "n_jobs": n_jobs,
                        "grid_backend": grid_backend,
                        "space": {"units": [3, 6]},
                    },
                }
            )
        except hpsearch.UserError:  # grid_backend with optuna; optuna's n_jobs in-process
            continue
        trainer = make_trainer(study, SimpleNamespace(study=study))
        here = isinstance(trainer, InProcessTrainer) and not (backend == "grid" and n_jobs > 1)
        assert here == (settings_that_train_elsewhere(study) == []), study.search
        checked += 1
    assert checked == 11


def test_import_hpsearch_stays_cheap():
    """The public names are there, imported on first use: none of TensorFlow, MLflow or
    pandas comes with ``import hpsearch``, nor with naming ``hpsearch.run``."""
    code = (
        "import sys, hpsearch\n"
        "assert set(hpsearch.__all__) <= set(dir(hpsearch))\n"
        "hpsearch.run, hpsearch.load_results, hpsearch.StudyResult, hpsearch.load_study\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'mlflow', 'pandas', 'optuna')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_a_script_calling_run_outside_the_main_guard_is_told(tmp_path):
    """Worker processes import the script that started them: unguarded, each would run the
    study again. Said before anything runs."""
    script = tmp_path / "search.py"
    script.write_text(
        textwrap.dedent(
            """
            import hpsearch

            hpsearch.run({"name": "s", "task": "classification", "data": {"loader": "digits"},
                          "model": {"builder": "dense"}})
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 1
    assert (
        f"UserError: hpsearch.run: trials train in worker processes, which import {script}"
        ' and would run it again: put the call under `if __name__ == "__main__":`, or set'
        " search.trials_per_process: 0"
    ) in done.stderr
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.slow
def test_a_module_function_builder_trains_in_worker_processes(workdir):
    """A module's own function reaches the worker processes (by its module and name)."""
    from hpsearch.models.builders import build_dense

    study = {
        "name": "workers",
        "task": "classification",
        "data": {"loader": "digits", "params": {"n_samples": 120, "classes": 3}},
        "model": {"builder": build_dense},
        "search": {
            "n_trials": 2,
            "sampler": "random",
            "cv": {"holdout": 0.25},
            "space": {"units": [3, 6], "epochs": 1, "batch_size": 32},
        },
        "tracking": {"plots": False, "system_metrics": False},
    }
    result = hpsearch.run(study)
    assert list(result.leaderboard["state"]) == ["COMPLETE", "COMPLETE"]
    assert result.best_params["units"] in (3, 6)
    parent, _ = study_runs("workers")
    written = mlflow_client().download_artifacts(parent.info.run_id, "workers.yaml", str(workdir))
    assert "builder: hpsearch.models.builders:build_dense" in open(written).read()


NOTEBOOK = ROOT / "examples" / "first_search.ipynb"


def test_the_example_notebook_is_committed_without_outputs():
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_the_example_notebook_runs(tmp_path):
    """Every cell of ``examples/first_search.ipynb``, in a kernel of this Python, as a user
    runs it: the search, the leaderboard, the best model's predictions."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = {
        index: "".join(
            output.get("text", "") + output.get("data", {}).get("text/plain", "")
            for output in cell.outputs
        )
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
    }
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(outputs.values()))  # rich's colours
    assert "first-search: optuna search, 3 trials, accuracy (maximize)" in text
    assert text.count("COMPLETE") >= 3
    assert "best parameters: {" in text
    assert "test accuracy: " in text
    assert "StudyResult(name='first-search', trials=3" in text
    assert "IProgress" not in text  # tqdm's hint for notebooks without ipywidgets
    assert not (tmp_path / "mlruns").exists()  # the study's own store, in its folder
