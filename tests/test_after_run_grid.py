"""A grid study after its run: list, what the search saved, rerun (identical fold scores,
in a process of its own), export of a trial that is not the best."""

from __future__ import annotations

import contextlib
import filecmp
import io
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import TINY_GRID, mlflow_client, study_runs, write_study
from hpsearch.cli import main

# Slow as a whole: its tests share one study, and rerun starts a process (slow tests are
# run first: marking one test alone would set the study up twice).
pytestmark = pytest.mark.slow

# log_loss: a continuous score, so that "the same score" says something.
GRID = TINY_GRID.replace("name: tiny-grid", "name: after-grid").replace(
    "  cv: 2\n", "  cv: 2\n  metric: log_loss\n"
)


@pytest.fixture(scope="module")
def grid_study(tmp_path_factory):
    """(folder, what ``run`` printed)."""
    folder = tmp_path_factory.mktemp("after-grid")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        path = write_study(folder, GRID, plots=False)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["run", str(path), "--quiet"]) == 0
        yield folder, printed.getvalue()


def test_list_shows_each_study_with_its_trials_and_best(grid_study, monkeypatch, capsys):
    folder, _ = grid_study
    monkeypatch.chdir(folder)
    assert main(["list", "--format", "json"]) == 0
    (study,) = json.loads(capsys.readouterr().out)
    parent, _ = study_runs("after-grid")
    assert study["name"] == "after-grid" and study["backend"] == "grid"
    assert study["trials"] == {"COMPLETE": 4}
    assert study["best_score"] == parent.data.metrics["best_score"]
    assert study["metric"] == "log_loss" and study["last_activity"]

    assert main(["list"]) == 0
    table = capsys.readouterr().out
    assert "after-grid" in table and "4 complete" in table
    assert main(["list", "--format", "csv"]) == 0
    header, row = capsys.readouterr().out.strip().splitlines()
    assert header.startswith("name,backend,trials") and row.startswith("after-grid,grid,")

    # A store that does not exist holds no study, and is not made by looking.
    empty = folder / "elsewhere" / "mlflow.db"
    assert main(["list", "--tracking-uri", f"sqlite:///{empty}"]) == 0
    assert "no studies in" in capsys.readouterr().out and not empty.exists()


def test_run_prints_and_logs_what_the_search_saved(grid_study, monkeypatch):
    folder, printed = grid_study
    monkeypatch.chdir(folder)
    parent, children = study_runs("after-grid")
    metrics = parent.data.metrics
    # units 4 and 6 trained 2 epochs on each of 2 folds; their 1-epoch candidates took
    # those fits' states: 8 epochs trained of (1 + 2 + 1 + 2) x 2.
    assert sum(child.data.metrics["trained_epochs"] for child in children) == 8
    assert metrics["epochs_trained"] == 8 and metrics["epochs_without_savings"] == 12
    # One worker: each architecture built by its first fit, every other fit reused it.
    assert metrics["fits_reused"] == 6 and metrics["fits"] == 8
    assert sum(child.data.metrics["fits_reused"] for child in children) == 6
    assert metrics["seconds_saved"] == pytest.approx(4 * metrics["seconds_per_epoch"])
    assert "saved: 4 of 12 epochs not trained" in printed
    assert "6 of 8 fits reused a built model" in printed


def test_rerun_trains_a_grid_trial_again_to_its_recorded_fold_scores(grid_study, monkeypatch):
    """Trial 0 (1 epoch) was scored from the states of trial 2's 2-epoch fits; a fresh
    process trains it for its 1 epoch and gets the same log loss on every fold."""
    folder, _ = grid_study
    monkeypatch.chdir(folder)
    _, children = study_runs("after-grid")
    trial = children[0]
    assert trial.data.metrics["trained_epochs"] == 0 and trial.data.params["epochs"] == "1"
    done = subprocess.run(
        [sys.executable, "-m", "hpsearch", "rerun", trial.info.run_id],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "data: as recorded" in out and "versions: as recorded" in out
    for fold in (0, 1):
        recorded = trial.data.metrics[f"cv_score_fold_{fold}"]
        assert f"fold {fold}: log_loss recorded {recorded:.10f}  rerun {recorded:.10f}  same" in out
    assert "reproduced: every fold's score is the recorded one" in out


def test_rerun_names_what_changed_and_fails_on_a_different_score(grid_study, monkeypatch, capsys):
    folder, _ = grid_study
    monkeypatch.chdir(folder)
    client = mlflow_client()
    parent, children = study_runs("after-grid")
    trial, run_id = children[3], children[3].info.run_id
    recorded = trial.data.metrics["cv_score_fold_1"]
    data_hash = parent.data.tags["hpsearch.data_sha256"]
    numpy_version = trial.data.tags["hpsearch.version.numpy"]
    now = int(time.time() * 1000)
    client.set_tag(parent.info.run_id, "hpsearch.data_sha256", "0" * 64)
    client.set_tag(run_id, "hpsearch.version.numpy", "0.0.1")
    client.log_metric(run_id, "cv_score_fold_1", recorded + 0.5, timestamp=now, step=0)
    try:
        assert main(["rerun", run_id]) == 1
    finally:
        client.set_tag(parent.info.run_id, "hpsearch.data_sha256", data_hash)
        client.set_tag(run_id, "hpsearch.version.numpy", numpy_version)
        client.log_metric(run_id, "cv_score_fold_1", recorded, timestamp=now + 1000, step=0)
    out = capsys.readouterr().out
    assert "data: DIFFERS from the record" in out
    assert f"versions: DIFFER from the record: numpy 0.0.1 -> {np.__version__}" in out
    assert "fold 0: " in out and out.count("  same") == 1
    assert "fold 1: log_loss recorded" in out and "DIFFERENT (by -0.5)" in out
    assert "NOT reproduced" in out


def test_bad_run_ids_and_trials_are_one_line_errors(grid_study, monkeypatch, capsys):
    folder, _ = grid_study
    monkeypatch.chdir(folder)
    parent, children = study_runs("after-grid")
    cases = [
        (["rerun", parent.info.run_id], "not a trial of an hpsearch study (it is the parent"),
        (["rerun", "0" * 32], "no run of that id in sqlite:"),
        (["export", "after-grid", "--trial", "9", "--out", "x"], "no trial 9 in this study"),
        (["export", "no-such", "--trial", "0", "--out", "x"], "no-such: no study of that name"),
    ]
    client = mlflow_client()
    failed = children[1].info.run_id
    client.set_tag(failed, "hpsearch.state", "FAIL")  # as a trial that raised
    try:
        cases += [
            (["export", "after-grid", "--trial", "1", "--out", "x"], "trial 1 did not complete"),
            (["rerun", failed], "trial 1 did not complete (it is FAIL)"),
        ]
        for command, message in cases:
            assert main(command) == 2, command
            err = capsys.readouterr().err
            assert message in err and err.count("\n") == 1, (command, err)
    finally:
        client.set_tag(failed, "hpsearch.state", "COMPLETE")
    assert not (folder / "x").exists()


def test_export_of_a_trial_is_its_refit_registered_without_moving_champion(grid_study, monkeypatch):
    """The trial's candidate refitted as ``run`` refits a best trial: the same weights as
    a study whose best it is; a version of its own; champion only when asked."""
    import keras

    folder, _ = grid_study
    monkeypatch.chdir(folder)
    client = mlflow_client()
    assert main(["export", "after-grid", "--out", str(folder / "best")]) == 0
    champion = client.get_model_version_by_alias("after-grid", "champion")
    parent, children = study_runs("after-grid")
    other = next(c for c in children if c.info.run_id != champion.run_id)
    number = int(other.data.tags["hpsearch.trial"])
    params = json.loads(other.data.tags["hpsearch.params"])

    assert main(["export", "after-grid", "--trial", str(number), "--out", "trial"]) == 0
    card = json.loads((folder / "trial" / "model_card.json").read_text())
    assert card["trial"] == number and card["run_id"] == other.info.run_id
    assert card["parameters"] == params and card["registered_model"]["alias"] is None
    assert card["registered_model"]["version"] != str(champion.version)
    assert client.get_model_version_by_alias("after-grid", "champion").version == champion.version
    # Kept on the trial's run: exported again, it is not refitted, and champion moves.
    refitted = client.get_run(other.info.run_id)
    assert refitted.data.tags["hpsearch.refitted"] == "true"
    again = ["export", "after-grid", "--run-id", other.info.run_id, "--out", "again"]
    assert main([*again, "--alias", "champion"]) == 0
    moved = client.get_model_version_by_alias("after-grid", "champion")
    assert str(moved.version) == card["registered_model"]["version"]
    assert filecmp.cmp(folder / "trial" / "model.keras", folder / "again" / "model.keras")

    # A study whose only candidate (and so its best) is that trial's: run refits it to
    # the very same weights.
    single = GRID.replace("name: after-grid", "name: after-grid-single")
    single = single.replace("units: [4, 6]", f"units: {params['units']}")
    single = single.replace("epochs: [1, 2]", f"epochs: {params['epochs']}")
    single = single.replace("cv: 2", "cv: {holdout: 0.3}")  # the refit is what is compared
    path = write_study(folder, single, name="single.yaml", plots=False)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", str(path), "--quiet"]) == 0
    assert main(["export", "after-grid-single", "--out", "single"]) == 0
    exported = keras.saving.load_model(folder / "trial" / "model.keras", safe_mode=True)
    reference = keras.saving.load_model(folder / "single" / "model.keras", safe_mode=True)
    for mine, theirs in zip(exported.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
