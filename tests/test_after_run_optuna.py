"""An Optuna study after its run: rerun of a trained trial (in a process of its own) and
of a trial scored from another's states, what epoch sharing saved, and a new study warm
started from it."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import pytest

from conftest import SHARING, UNLEARNING_BUILDER, study_runs, write_study
from hpsearch.cli import main

# Slow as a whole: its tests share one study, and rerun starts a process (slow tests are
# run first: marking one test alone would set the study up twice).
pytestmark = pytest.mark.slow

# One trial trains 3 epochs; its 1-epoch sibling scores better and is recorded from the
# states its folds passed through (hpsearch.shared_from).
STUDY = SHARING.format(name="after-optuna", n_trials=1, share="true", epochs=3).replace(
    "  cv: 2\n", "  cv: 2\n  metric: log_loss\n"
)

WARM = """
name: after-warm
task: classification
seed: 7
data: {loader: digits, params: {n_samples: 120, classes: 3}}
model: {builder: dense}
search:
  backend: optuna
  n_trials: 2
  sampler: random
  metric: log_loss
  share_epochs: false
  cv: {holdout: 0.3}
  warm_start: {study: after-optuna, top: 2}
  space:
    units: [16, 24]
    epochs: [1, 2]
"""


@pytest.fixture(scope="module")
def optuna_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("after-optuna")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        (folder / "unlearning.py").write_text(UNLEARNING_BUILDER)
        path = write_study(folder, STUDY, plots=False)
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["run", str(path), "--quiet"]) == 0
        yield folder


def test_the_study_has_a_trained_trial_and_a_shared_one(optuna_study, monkeypatch):
    monkeypatch.chdir(optuna_study)
    parent, (trained, shared) = study_runs("after-optuna")
    assert trained.data.params["epochs"] == "3" and "hpsearch.shared_from" not in trained.data.tags
    assert shared.data.tags["hpsearch.shared_from"] == "0" and shared.data.params["epochs"] == "1"
    # Saved: the shared trial's 1 epoch x 2 folds, which it did not train.
    metrics = parent.data.metrics
    assert metrics["epochs_trained"] == 6 and metrics["epochs_without_savings"] == 8
    assert shared.data.metrics["trained_epochs"] == 0


def test_rerun_trains_an_optuna_trial_again_to_its_recorded_fold_scores(optuna_study):
    """In a fresh process, from the record alone; the builder is the study folder's own
    unlearning.py, found where the study file was."""
    _, (trained, _) = _runs(optuna_study)
    done = subprocess.run(
        [sys.executable, "-m", "hpsearch", "rerun", trained.info.run_id],
        cwd=optuna_study.parent,  # elsewhere: the store is named, the references recorded
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(optuna_study),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for fold in (0, 1):
        recorded = trained.data.metrics[f"cv_score_fold_{fold}"]
        assert f"fold {fold}: log_loss recorded {recorded:.10f}  rerun {recorded:.10f}  same" in (
            done.stdout
        )
    assert "reproduced: every fold's score is the recorded one" in done.stdout


def test_a_shared_trial_is_rerun_as_its_own_epochs_trained(optuna_study, monkeypatch, capsys):
    monkeypatch.chdir(optuna_study)
    _, (_, shared) = study_runs("after-optuna")
    assert main(["rerun", shared.info.run_id]) == 0
    out = capsys.readouterr().out
    assert "scored from trial 0's states when recorded; trained here for its own 1 epochs" in out
    assert out.count("  same") == 2 and "reproduced" in out


def test_warm_start_queues_the_best_trials_cut_to_the_new_space(optuna_study, monkeypatch, capsys):
    monkeypatch.chdir(optuna_study)
    path = write_study(optuna_study, WARM, name="warm.yaml", plots=False)
    assert main(["run", str(path), "--quiet"]) == 0
    err = capsys.readouterr().err
    # Best first: the shared 1-epoch trial, then the 3-epoch one, whose epochs this space
    # cannot produce; batch_size is not searched here.
    assert "after-optuna's trial 1: dropped batch_size (not in this study's space)" in err
    assert "after-optuna's trial 0: dropped epochs (3 is not one of the choices [1, 2])," in err
    assert "2 start(s) from the best 2 trial(s) of after-optuna, queued first" in err
    _, children = study_runs("after-warm")
    first, second = (json.loads(c.data.tags["hpsearch.params"]) for c in children)
    assert first == {"units": 16, "epochs": 1}
    assert second["units"] == 16  # its epochs drawn by the sampler


def test_warm_start_errors_name_the_file_and_key(optuna_study, monkeypatch, capsys):
    monkeypatch.chdir(optuna_study)
    grid = WARM.replace("backend: optuna", "backend: grid").replace("  n_trials: 2\n", "")
    grid = grid.replace("  sampler: random\n", "").replace("  share_epochs: false\n", "")
    itself = WARM.replace("study: after-optuna", "study: after-warm")
    unknown = WARM.replace("study: after-optuna", "study: nope").replace("after-warm", "cold")
    cases = [
        ("validate", grid, "search.warm_start: applies to the optuna backend only"),
        ("validate", itself, "search.warm_start.study: names this study itself"),
        ("run", unknown, "search.warm_start.study: no study 'nope' in sqlite:"),
    ]
    for command, text, message in cases:
        path = write_study(optuna_study, text, name="bad.yaml", plots=False)
        assert main([command, str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{path}: {message}" in err and err.count("\n") == 1, err


def _runs(folder):
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        return study_runs("after-optuna")


def _env(folder) -> dict[str, str]:
    import os

    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"}
