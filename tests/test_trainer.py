"""Trials train in a worker process that is replaced every few trials (TensorFlow's memory).

The study's builder (a file beside the study) notes the process id of every model it
builds, so the tests see where each fit ran.
"""

from __future__ import annotations

import os

from conftest import TINY_GRID, TINY_OPTUNA, study_runs, write_study
from hpsearch.cli import main

NOTING_BUILDER = """
import os
from pathlib import Path

from hpsearch.models.builders import build_lstm


def build(meta, units=4, **params):
    with open(Path(__file__).with_name("builds.txt"), "a") as notes:
        notes.write(f"{os.getpid()} {units}\\n")
    if units == 5 and Path(__file__).with_name("die").exists():
        os.kill(os.getpid(), 9)  # the worker dies in the middle of a trial
    return build_lstm(meta, units=units, **params)
"""


def _builds(folder) -> list[tuple[int, int]]:
    lines = (folder / "builds.txt").read_text().split()
    return [(int(pid), int(units)) for pid, units in zip(lines[::2], lines[1::2], strict=True)]


def _study(text: str, per_process: int) -> str:
    return text.replace("builder: gru", "builder: noting.py:build").replace(
        "  backend: optuna", f"  backend: optuna\n  trials_per_process: {per_process}"
    )


def test_workers_are_replaced_and_train_exactly_like_this_process(workdir):
    (workdir / "noting.py").write_text(NOTING_BUILDER)
    scores = {}
    for per_process in (2, 0):
        name = f"per-process-{per_process}"
        text = _study(TINY_OPTUNA, per_process).replace("name: tiny-optuna", f"name: {name}")
        assert main(["run", str(write_study(workdir, text, f"{name}.yaml")), "--quiet"]) == 0
        scores[per_process] = [c.data.metrics["cv_score"] for c in study_runs(name)[1]]
        pids = [pid for pid, _ in _builds(workdir)]
        (workdir / "builds.txt").unlink()
        # 4 trials x 2 folds, then the refit of the best.
        assert len(pids) == 9
        if per_process:
            assert os.getpid() not in pids
            # A worker per two trials (four folds); the refit gets a fresh one.
            assert [len(set(pids[i : i + 4])) for i in (0, 4)] == [1, 1]
            assert len(set(pids)) == 3
        else:
            assert set(pids) == {os.getpid()}
    assert scores[2] == scores[0]  # every fit seeds itself: same numbers wherever it ran


def test_a_worker_that_dies_fails_its_trial_and_the_study_goes_on(workdir):
    (workdir / "noting.py").write_text(NOTING_BUILDER)
    (workdir / "die").touch()
    text = TINY_GRID.replace("builder: lstm", "builder: noting.py:build").replace(
        "units: [4, 6]", "units: [4, 5, 6]"
    )
    assert main(["run", str(write_study(workdir, text)), "--quiet"]) == 0
    parent, children = study_runs("tiny-grid")
    states = {
        (c.data.params["units"], c.data.params["epochs"]): c.data.tags["hpsearch.state"]
        for c in children
    }
    assert len(states) == 6
    for (units, _), state in states.items():
        assert state == ("FAIL" if units == "5" else "COMPLETE")
    died = [c for c in children if c.data.params["units"] == "5"]
    assert all("worker process" in c.data.tags["hpsearch.error"] for c in died)
    assert parent.info.status == "FINISHED" and "best_score" in parent.data.metrics
