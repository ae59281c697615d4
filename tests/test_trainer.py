"""Trials train in a worker process that is replaced every few trials (TensorFlow's memory).

The study's builder (a file beside the study) notes the process id of every model it
builds, so the tests see where each fit ran.
"""

from __future__ import annotations

import gc
import json
import os

import pytest

from conftest import TINY_GRID, TINY_OPTUNA, study_runs, write_study
from hpsearch.cli import main

NOTING_BUILDER = """
import gc
import os
from pathlib import Path

from hpsearch.models.builders import build_dense


def build(meta, units=4, **params):
    import tensorflow as tf

    threads = tf.config.threading.get_intra_op_parallelism_threads()
    with open(Path(__file__).with_name("builds.txt"), "a") as notes:
        notes.write(f"{os.getpid()} {units} {gc.get_freeze_count()} {threads}\\n")
    if units == 5 and Path(__file__).with_name("die").exists():
        os.kill(os.getpid(), 9)  # the worker dies in the middle of a trial
    return build_dense(meta, units=units, **params)
"""


def _builds(folder) -> list[tuple[int, int]]:
    return [(int(pid), int(units)) for pid, units, *_ in _notes(folder)]


def _notes(folder) -> list[list[str]]:
    return [line.split() for line in (folder / "builds.txt").read_text().splitlines()]


def _study(text: str, per_process: int) -> str:
    return (
        text.replace("builder: dense", "builder: noting.py:build")
        .replace("  backend: optuna", f"  backend: optuna\n  trials_per_process: {per_process}")
        .replace("n_trials: 4", "n_trials: 2")
        .replace("cv: 2", "cv: {holdout: 0.3}")
    )


@pytest.mark.slow
def test_workers_are_replaced_and_train_exactly_like_this_process(workdir):
    (workdir / "noting.py").write_text(NOTING_BUILDER)
    scores = {}
    for per_process in (1, 0):
        name = f"per-process-{per_process}"
        text = _study(TINY_OPTUNA, per_process).replace("name: tiny-optuna", f"name: {name}")
        assert (
            main(["run", str(write_study(workdir, text, f"{name}.yaml", plots=False)), "--quiet"])
            == 0
        )
        scores[per_process] = [c.data.metrics["cv_score"] for c in study_runs(name)[1]]
        pids = [pid for pid, _ in _builds(workdir)]
        # Every model is built in a process whose long-lived objects are frozen out of the
        # garbage collector's walks; the study's own process is unfrozen after its study.
        assert all(int(frozen) > 100_000 for _, _, frozen, _ in _notes(workdir))
        assert gc.get_freeze_count() == 0
        (workdir / "builds.txt").unlink()
        assert len(pids) == 3  # 2 trials of one fold each, then the refit of the best
        if per_process:
            assert os.getpid() not in pids
            assert len(set(pids)) == 3  # a worker per trial; the refit gets a fresh one
        else:
            assert set(pids) == {os.getpid()}
    assert scores[1] == scores[0]  # every fit seeds itself: same numbers wherever it ran


def _compare(capsys, *options: str) -> str:
    capsys.readouterr()
    assert main(["report", "--compare", "per-process-1", "per-process-0", *options]) == 0
    return capsys.readouterr().out


@pytest.mark.slow
def test_report_compares_two_studies_side_by_side(workdir, capsys):
    (workdir / "noting.py").write_text(NOTING_BUILDER)
    text = _study(TINY_OPTUNA, 0).replace("n_trials: 2", "n_trials: 1")
    for name in ("per-process-1", "per-process-0"):
        study = write_study(
            workdir, text.replace("name: tiny-optuna", f"name: {name}"), name, plots=False
        )
        assert main(["run", str(study), "--quiet"]) == 0
    first, second = json.loads(_compare(capsys, "--format", "json"))
    assert [first["study"], second["study"]] == ["per-process-1", "per-process-0"]
    assert first["best_score"] == second["best_score"]  # same study, same seed
    assert first["trials"] == {"COMPLETE": 1} and first["best_params"]["units"] >= 3
    table = _compare(capsys)
    assert "per-process-1" in table and "best score" in table and "units" in table
    assert main(["report"]) == 2


def test_a_worker_that_dies_fails_its_trial_and_the_study_goes_on(workdir):
    (workdir / "noting.py").write_text(NOTING_BUILDER)
    (workdir / "die").touch()
    text = (
        TINY_GRID.replace("builder: dense", "builder: noting.py:build")
        .replace("units: [4, 6]", "units: [5, 4]")
        .replace("epochs: [1, 2]", "epochs: 1")
    )
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0
    parent, children = study_runs("tiny-grid")
    assert [c.data.params["units"] for c in children] == ["5", "4"]
    died, survived = children
    assert died.data.tags["hpsearch.state"] == "FAIL"
    assert "worker process" in died.data.tags["hpsearch.error"]
    assert survived.data.tags["hpsearch.state"] == "COMPLETE"  # in a new worker
    assert parent.info.status == "FINISHED" and "best_score" in parent.data.metrics


@pytest.mark.slow
def test_a_grids_epoch_group_trains_in_one_worker(workdir):
    # A worker per trial, but candidates that differ only in epochs stay in one worker:
    # the 1-epoch candidates take the epochs their 2-epoch group kept (none trained).
    text = TINY_GRID.replace("  backend: grid", "  backend: grid\n  trials_per_process: 1")
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0
    trained = {
        (c.data.params["units"], c.data.params["epochs"]): c.data.metrics["trained_epochs"]
        for c in study_runs("tiny-grid")[1]
    }
    assert trained == {("4", "2"): 4, ("4", "1"): 0, ("6", "2"): 4, ("6", "1"): 0}


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_jobs_share_the_cores_the_process_may_run_on():
    """Pinned to one core (``taskset -c 0``), two jobs get one thread each, not half the
    machine's cores each."""
    from hpsearch.search.trainer import threads_per_job, usable_cores

    cores = os.sched_getaffinity(0)
    assert usable_cores() == len(cores)
    try:
        os.sched_setaffinity(0, {min(cores)})
        assert (usable_cores(), threads_per_job(1), threads_per_job(2)) == (1, 1, 1)
    finally:
        os.sched_setaffinity(0, cores)
    assert threads_per_job(1) == len(cores)


@pytest.mark.slow
def test_workers_use_the_threads_the_study_sets(workdir):
    """``search.threads`` sets TensorFlow's intra-op threads in every worker (by default
    one job leaves TensorFlow its own default, and N jobs share the cores)."""
    from hpsearch.search.trainer import ParallelTrainer, threads_per_job

    (workdir / "noting.py").write_text(NOTING_BUILDER)
    text = _study(TINY_OPTUNA, 1).replace("  backend: optuna", "  backend: optuna\n  threads: 2")
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0
    assert [threads for *_, threads in _notes(workdir)] == ["2", "2", "2"]  # 2 trials, refit
    assert ParallelTrainer(None, trials_per_process=1, n_jobs=2, threads=3).threads == 3
    assert ParallelTrainer(None, trials_per_process=1, n_jobs=2).threads == threads_per_job(2)


@pytest.mark.slow
def test_the_fork_server_freezes_what_it_preloads():
    """Workers are forked from a fork server whose objects (TensorFlow's ~500,000) are
    already frozen: a worker's own freeze walks only what it was sent, and the fork server
    ends at once when the study's process exits."""
    import subprocess
    import sys

    from hpsearch.search.trainer import _PRELOAD

    code = f"import gc, {', '.join(_PRELOAD)}; print(gc.get_freeze_count())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 100_000


def test_the_fork_server_is_started_early_only_for_studies_with_workers(workdir, monkeypatch):
    """``run`` starts the fork server (its TensorFlow import overlaps the study's own
    preparation) when the study trains in workers; in-process and Dask studies need none."""
    from multiprocessing import forkserver

    from hpsearch.search.trainer import start_fork_server
    from hpsearch.study import load_study

    started = []
    monkeypatch.setattr(forkserver, "ensure_running", lambda: started.append(True))
    dask_grid = TINY_GRID.replace("  backend: grid", "  backend: grid\n  grid_backend: dask")
    for text, expected in (
        (_study(TINY_OPTUNA, 1), [True]),
        (TINY_GRID, [True]),
        (_study(TINY_OPTUNA, 0), []),
        (dask_grid, []),
    ):
        started.clear()
        start_fork_server(load_study(write_study(workdir, text)))
        assert started == expected
