"""delete: a study leaves both stores (its name free again), not while it runs, not without
a yes; registered model versions stay, with their files, unless --models."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

from conftest import TINY_GRID, TINY_OPTUNA, mlflow_client, study_runs, write_study
from hpsearch.cli import main

ONE_FIT = (
    TINY_GRID.replace("units: [4, 6]", "units: 4")
    .replace("epochs: [1, 2]", "epochs: 1")
    .replace("cv: 2", "cv: {holdout: 0.3}")
)
ONE_TRIAL = TINY_OPTUNA.replace("n_trials: 4", "n_trials: 1").replace("cv: 2", "cv: {holdout: 0.3}")


def _run(folder: Path, text: str) -> Path:
    path = write_study(folder, text, plots=False)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", str(path), "--quiet"]) == 0
    return path


def _register(client, name: str, run) -> str:
    """A version registered from a trial's run, as export does (its artifacts' folder)."""
    client.create_registered_model(name)
    return str(
        client.create_model_version(name, run.info.artifact_uri, run_id=run.info.run_id).version
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_delete_asks_refuses_while_running_and_keeps_registered_versions(
    workdir, monkeypatch, capsys
):
    from hpsearch.study import load_study
    from hpsearch.tracking.lock import StudyLock

    path = _run(workdir, ONE_FIT)
    client = mlflow_client()
    parent, (trial,) = study_runs("tiny-grid")
    version = _register(client, "tiny-grid", trial)
    kept = Path(trial.info.artifact_uri.removeprefix("file://"))
    parent_files = Path(parent.info.artifact_uri.removeprefix("file://"))
    assert (kept / "model_summary.txt").exists() and parent_files.exists()

    study = load_study(path)
    with StudyLock(study, study.tracking_uri()):
        assert main(["delete", "tiny-grid", "--yes"]) == 2
        assert "tiny-grid: the study is running (its lock" in capsys.readouterr().err
    assert main(["delete", "tiny-grid"]) == 2  # no terminal to ask on: --yes or nothing
    err = capsys.readouterr().err
    assert "no terminal to confirm on; add --yes" in err and err.count("\n") == 1
    monkeypatch.setattr(sys, "stdin", _Terminal())
    questions = []
    monkeypatch.setattr("builtins.input", lambda question: questions.append(question) or "n")
    assert main(["delete", str(path)]) == 1
    assert questions == [
        f"delete study 'tiny-grid': 2 MLflow runs and their artifacts; registered model"
        f" versions {version} kept? [y/N] "
    ]
    assert client.get_experiment_by_name("tiny-grid") is not None

    assert main(["delete", "tiny-grid", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "deleted study 'tiny-grid': its experiment and 2 runs from sqlite:" in out
    assert f"kept: registered model 'tiny-grid' versions {version}, with their files" in out
    assert client.get_experiment_by_name("tiny-grid") is None  # gone for good, not marked
    assert client.get_model_version("tiny-grid", version).run_id == trial.info.run_id
    assert (kept / "model_summary.txt").exists() and not parent_files.exists()
    assert main(["list"]) == 0 and "no studies in" in capsys.readouterr().out
    assert main(["delete", "tiny-grid", "--yes"]) == 2
    assert "tiny-grid: no study of that name" in capsys.readouterr().err
    # The name is free: the study runs again from scratch.
    _run(workdir, ONE_FIT)
    assert len(study_runs("tiny-grid")[1]) == 1


def test_delete_removes_the_optuna_study_and_with_models_its_versions(workdir, capsys):
    import optuna

    _run(workdir, ONE_TRIAL)
    client = mlflow_client()
    _, (trial,) = study_runs("tiny-optuna")
    _register(client, "tiny-optuna", trial)
    storage = f"sqlite:///{workdir / 'mlruns' / 'optuna.db'}"
    assert optuna.get_all_study_names(storage) == ["tiny-optuna"]

    assert main(["delete", "tiny-optuna", "--yes", "--models"]) == 0
    out = capsys.readouterr().out
    assert f"Optuna study 'tiny-optuna' in {storage}: deleted" in out
    assert "deleted: registered model 'tiny-optuna' versions 1" in out
    assert optuna.get_all_study_names(storage) == []
    assert client.get_experiment_by_name("tiny-optuna") is None
    assert client.search_registered_models() == []
    assert not (workdir / "mlruns" / "artifacts" / "tiny-optuna").exists()


def test_delete_of_an_unknown_study_is_a_one_line_error(workdir, capsys):
    assert main(["delete", "nothing-here", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "nothing-here: no study of that name" in err and err.count("\n") == 1
