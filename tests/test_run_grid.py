"""A tiny grid study runs for real; then MLflow is asked what it recorded."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from conftest import TINY_GRID, study_runs, write_study
from hpsearch.cli import main


def test_grid_study_records_parent_and_children_per_spec(workdir, capsys):
    path = write_study(workdir, TINY_GRID)
    assert main(["run", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "best: trial" in out and "best parameters" in out

    assert (workdir / "mlruns" / "mlflow.db").is_file()
    assert (workdir / "mlruns" / "artifacts" / "tiny-grid").is_dir()
    parent, children = study_runs("tiny-grid")
    assert parent.data.tags["hpsearch.study"] == "tiny-grid"
    assert parent.info.status == "FINISHED"
    assert len(children) == 4
    seen = set()
    for number, child in enumerate(children):
        tags, params, metrics = child.data.tags, child.data.params, child.data.metrics
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["hpsearch.study"] == "tiny-grid"
        assert tags["hpsearch.trial"] == str(number)
        assert tags["hpsearch.state"] == "COMPLETE"
        assert set(params) == {"units", "epochs", "batch_size"}
        seen.add((params["units"], params["epochs"]))
        assert 0.0 <= metrics["cv_score"] <= 1.0 and metrics["cv_score_std"] >= 0
        assert {
            "cv_score_fold_0",
            "cv_score_fold_1",
            "loss",
            "val_loss",
            "accuracy",
            "val_accuracy",
        } <= set(metrics)
    assert seen == {("4", "1"), ("4", "2"), ("6", "1"), ("6", "2")}

    from conftest import mlflow_client

    client = mlflow_client()
    # Tracking depth: model size and summary, system metrics, how and with what it ran.
    for child in children:
        tags, metrics = child.data.tags, child.data.metrics
        assert metrics["n_params"] > 0 and metrics["fit_time"] > 0
        assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(
            metrics
        )
        assert tags["hpsearch.backend"] == "grid" and tags["hpsearch.sampler"] == "grid"
        assert tags["hpsearch.version.keras"] and tags["hpsearch.version.tensorflow"]
        assert tags["hpsearch.version.hpsearch"] == parent.data.tags["hpsearch.version.hpsearch"]
    summary = client.download_artifacts(children[0].info.run_id, "model_summary.txt", str(workdir))
    assert "Total params" in Path(summary).read_text()
    # Candidates differing only in epochs share training: the 2-epoch fit of each fold
    # passes through the state the 1-epoch candidate takes (tests/test_model_reuse.py).
    trained = {(c.data.params["units"], c.data.params["epochs"]): c for c in children}
    for units in ("4", "6"):
        assert trained[(units, "2")].data.metrics["trained_epochs"] == 4  # 2 folds x 2
        assert trained[(units, "1")].data.metrics["trained_epochs"] == 0
        six_units = next(c for c in children if c.data.params["units"] == "6")
    assert six_units.data.metrics["n_params"] > children[0].data.metrics["n_params"]
    # Optuna's plots of the grid, as HTML and PNG.
    plots = {Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {
        "plots.html",
        "optimization_history.png",
        "param_importances.png",
        "parallel_coordinate.png",
        "slice.png",
        "contour.png",
        "intermediate_values.png",
    }
    two_epochs = next(c for c in children if c.data.params["epochs"] == "2")
    history = client.get_metric_history(two_epochs.info.run_id, "val_loss")
    assert sorted(m.step for m in history) == [1, 2]
    fold_mean = (
        two_epochs.data.metrics["cv_score_fold_0"] + two_epochs.data.metrics["cv_score_fold_1"]
    ) / 2
    assert math.isclose(two_epochs.data.metrics["cv_score"], fold_mean, rel_tol=1e-9)

    best = max(
        children, key=lambda c: (c.data.metrics["cv_score"], -int(c.data.tags["hpsearch.trial"]))
    )
    assert parent.data.tags["hpsearch.best_run_id"] == best.info.run_id
    assert parent.data.metrics["best_score"] == best.data.metrics["cv_score"]
    # The parent keeps the leaderboard and the best parameters as files.
    board = client.download_artifacts(parent.info.run_id, "leaderboard.csv", str(workdir))
    with open(board) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and rows[0]["run_id"] == best.info.run_id
    assert float(rows[0]["cv_score"]) == best.data.metrics["cv_score"]
    chosen = client.download_artifacts(parent.info.run_id, "best_params.json", str(workdir))
    best_params = json.loads(Path(chosen).read_text())
    assert best_params["units"] == int(best.data.params["units"])
    assert best_params["run_id"] == best.info.run_id

    # The grid resumes: nothing is trained again, the leaderboard comes back from the store.
    assert main(["run", str(path), "--quiet"]) == 0
    assert len(study_runs("tiny-grid")[1]) == 4
    capsys.readouterr()
    assert main(["report", "tiny-grid", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["trial"] for row in report["trials"]][0] == int(best.data.tags["hpsearch.trial"])
    assert len(report["trials"]) == 4


@pytest.mark.slow
def test_regression_with_a_test_set(workdir, capsys):
    (workdir / "waves.py").write_text(
        "import numpy as np\n"
        "def load(n=96):\n"
        "    rng = np.random.default_rng(0)\n"
        "    X = rng.normal(size=(n, 5, 1)).astype('float32')\n"
        "    y = X[:, -1, 0] * 2.0 + X[:, 0, 0]\n"
        "    return X[:80], y[:80], X[80:], y[80:]\n"
    )
    path = write_study(
        workdir,
        """
        name: waves
        task: regression
        data: {loader: "waves.py:load"}
        model: {builder: simple_rnn}
        search:
          backend: grid
          cv: {timeseries: 2}
          metric: rmse
          space: {units: [3], epochs: 2, learning_rate: 0.01}
    """,
        plots=False,
    )
    assert main(["run", str(path), "--quiet"]) == 0
    parent, children = study_runs("waves")
    assert len(children) == 1
    metrics = children[0].data.metrics
    assert metrics["cv_score"] > 0, "an RMSE is reported positive"
    assert "mean_absolute_error" in metrics and "val_loss" in metrics
    assert parent.data.metrics["test_score"] > 0
    assert parent.data.tags["hpsearch.direction"] == "minimize"


SMALL_GRID = TINY_GRID.replace("epochs: [1, 2]", "epochs: 1")


@pytest.fixture(scope="module")
def serial_runs(tmp_path_factory):
    """The tiny grid (1 epoch) as it runs by default, once for the tests that train it
    another way and compare: its trial runs."""
    folder = tmp_path_factory.mktemp("serial-grid")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert main(["run", str(write_study(folder, SMALL_GRID, plots=False)), "--quiet"]) == 0
        return study_runs("tiny-grid")[1]


def _serial_and_other(workdir, serial_runs, name: str, search: str):
    """The tiny grid (1 epoch) as study ``name`` with ``search`` lines added under
    ``cv: 2``: its parent, its trials, and its trials paired with ``serial_runs``."""
    other = SMALL_GRID.replace("name: tiny-grid", f"name: {name}").replace(
        "cv: 2", "cv: 2" + search
    )
    assert (
        main(["run", str(write_study(workdir, other, f"{name}.yaml", plots=False)), "--quiet"]) == 0
    )
    parent, other_runs = study_runs(name)
    assert len(serial_runs) == len(other_runs) == 2
    return parent, other_runs, list(zip(serial_runs, other_runs, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize(
    "training",
    ["", "\n  trials_per_process: 0"],
    ids=["two-workers", "joblib-workers"],
)
def test_grid_in_two_processes_gives_the_same_results(workdir, serial_runs, training):
    """n_jobs 2: candidates shared out between two workers of ours, or GridSearchCV's own
    n_jobs with Keras in joblib's processes (no pickling errors); every fit seeds itself."""
    _, _, pairs = _serial_and_other(workdir, serial_runs, "tiny-grid-2", "\n  n_jobs: 2" + training)
    for serial, in_parallel in pairs:
        assert serial.data.params == in_parallel.data.params
        assert in_parallel.data.tags["hpsearch.state"] == "COMPLETE"
        for key in ("cv_score_fold_0", "cv_score_fold_1", "val_loss"):
            assert serial.data.metrics[key] == pytest.approx(
                in_parallel.data.metrics[key], abs=1e-6
            )


@pytest.mark.slow
def test_a_conditional_space_is_a_list_of_grids(workdir):
    text = TINY_GRID.replace(
        "    units: [4, 6]\n    epochs: [1, 2]\n",
        "    units: 4\n    epochs: 1\n"
        "    optimizer:\n"
        "      choices:\n"
        "        adam: {learning_rate: [0.001, 0.01]}\n"
        "        sgd: {learning_rate: [0.1], momentum: [0.0, 0.9]}\n",
    )
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0
    _, children = study_runs("tiny-grid")
    candidates = sorted(
        (c.data.params["optimizer"], c.data.params["learning_rate"], c.data.params.get("momentum"))
        for c in children
    )
    assert candidates == [
        ("adam", "0.001", None),
        ("adam", "0.01", None),
        ("sgd", "0.1", "0.0"),
        ("sgd", "0.1", "0.9"),
    ]
    assert all(c.data.tags["hpsearch.state"] == "COMPLETE" for c in children)


@pytest.mark.slow
def test_a_grid_on_a_dask_local_cluster_gives_the_same_results(workdir, serial_runs):
    """grid_backend: dask: GridSearchCV's fits on a LocalCluster through joblib's Dask
    backend; the same scores and curves as the grid trained by our own worker."""
    parent, dask_runs, pairs = _serial_and_other(
        workdir, serial_runs, "tiny-grid-dask", "\n  n_jobs: 2\n  grid_backend: dask"
    )
    for serial, on_cluster in pairs:
        assert serial.data.params == on_cluster.data.params
        assert on_cluster.data.tags["hpsearch.state"] == "COMPLETE"
        # The curves catch any difference in the initial weights (a Dask worker's other
        # threads draw from Python's random while the model is built).
        for key in ("cv_score_fold_0", "cv_score_fold_1", "loss", "val_loss"):
            assert serial.data.metrics[key] == pytest.approx(on_cluster.data.metrics[key], abs=1e-6)
    assert parent.data.metrics["best_score"] == max(r.data.metrics["cv_score"] for r in dask_runs)


def test_grid_groups_that_build_the_same_model_run_one_after_another():
    """Epoch groups that differ only in learning rate (or batch size) reuse one built
    model, so they run back to back; each group still runs its longest fit first."""
    from sklearn.model_selection import ParameterGrid

    from hpsearch.search.grid import _epoch_groups

    space = {"units": [4, 8], "learning_rate": [0.01, 0.1], "epochs": [1, 2], "batch_size": [32]}
    candidates = list(enumerate(ParameterGrid(space)))
    # The grid's own order alternates the units (the last key varies fastest).
    assert [c["units"] for _, c in candidates[:4]] == [4, 8, 4, 8]
    groups = _epoch_groups(candidates)
    assert [[c["epochs"] for _, c in group] for group in groups] == [[2, 1]] * 4
    assert [group[0][1]["units"] for group in groups] == [4, 4, 8, 8]
    assert sorted(n for group in groups for n, _ in group) == list(range(8))


def test_parallel_workers_keep_to_the_models_they_built():
    """With n_jobs 2 each worker takes next a group that builds the model it built last,
    else one whose model the other worker does not hold: 2 builds here instead of 4."""
    from hpsearch.search.grid import _architecture, _next_group

    def group(units: int, batch_size: int) -> list[tuple[int, dict]]:
        return [(0, {"units": units, "batch_size": batch_size, "epochs": 1})]

    queue = [group(8, 16), group(8, 32), group(16, 16), group(16, 32), group(8, 64)]
    built: dict[int, str] = {}
    taken = []
    for worker in (0, 1, 0, 1, 0):
        chosen = _next_group(queue, built, worker)
        taken.append((worker, chosen[0][1]["units"], chosen[0][1]["batch_size"]))
    assert taken == [(0, 8, 16), (1, 16, 16), (0, 8, 32), (1, 16, 32), (0, 8, 64)]
    assert queue == []
    # When its own model's groups are gone, a worker takes what is left.
    queue = [group(16, 64)]
    built = {0: _architecture(group(8, 16)), 1: _architecture(group(16, 16))}
    assert _next_group(queue, built, 0) == group(16, 64) and queue == []
