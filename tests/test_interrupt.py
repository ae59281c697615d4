"""Ctrl-C (SIGINT) or SIGTERM during a study: exit 130/143, nothing lost, the next run resumes.

The signal must land inside a trial, whatever the machine's speed: the study's builder
(``pausing_builder.py``, beside the study file) waits when the test leaves a ``pause`` file,
and says so by renaming it ``paused``. The test signals only then, so the process is for
certain inside the fit of a trial that started after the first one finished. The study
runs in a process of its own (it is signalled); the resume runs in the test's process.
"""

from __future__ import annotations

import signal
import time

import pytest

from conftest import (
    TINY_GRID,
    TINY_OPTUNA,
    run_to_completion,
    start_run,
    study_runs,
    wait_for_trial_line,
    write_study,
)

PAUSING_BUILDER = """
import time
from pathlib import Path

from hpsearch.models.builders import build_dense


def build(meta, **params):
    pause = Path(__file__).with_name("pause")
    if pause.exists():
        pause.rename(pause.with_name("paused"))
        time.sleep(300)  # the test's signal lands here, inside a trial's fit
    return build_dense(meta, **params)
"""

OPTUNA_STUDY = TINY_OPTUNA.replace("builder: dense", "builder: pausing_builder.py:build")
GRID_STUDY = TINY_GRID.replace("tiny-grid", "tiny-optuna").replace(
    "builder: dense", "builder: pausing_builder.py:build"
)


PARALLEL = "  cv: 2\n  n_jobs: 2"
# A third group of candidates, so that a build (the builder's pause) comes after the
# first trial even when two workers started the first two groups at once.
GRID_2_JOBS = GRID_STUDY.replace("  cv: 2", PARALLEL).replace("[4, 6]", "[4, 6, 8]")


@pytest.mark.parametrize(
    "text, signum, code, total",
    [
        (OPTUNA_STUDY, signal.SIGINT, 130, 4),
        (GRID_STUDY, signal.SIGINT, 130, 4),
        (OPTUNA_STUDY, signal.SIGTERM, 143, 4),
        # Two trials at once: the signal stops both workers, the other trial too.
        (OPTUNA_STUDY.replace("  cv: 2", PARALLEL), signal.SIGTERM, 143, 4),
        (GRID_2_JOBS, signal.SIGINT, 130, 6),
    ],
    ids=["optuna-sigint", "grid-sigint", "optuna-sigterm", "optuna-2-jobs", "grid-2-jobs"],
)
@pytest.mark.slow
def test_interrupt_then_resume(workdir, text, signum, code, total):
    path = write_study(workdir, text, plots=False)
    (workdir / "pausing_builder.py").write_text(PAUSING_BUILDER)

    process = start_run(path)
    wait_for_trial_line(process)
    (workdir / "pause").touch()
    deadline = time.monotonic() + 120
    while not (workdir / "paused").exists():
        assert time.monotonic() < deadline and process.poll() is None, "no later trial started"
        time.sleep(0.1)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert "run the same command to resume" in err

    parent, children = study_runs("tiny-optuna")
    assert parent.info.status == "KILLED"
    interrupted = [c for c in children if c.info.status == "KILLED"]
    at_once = 2 if PARALLEL in text else 1  # the paused trial, and maybe the other one
    assert 1 <= len(interrupted) <= at_once, [c.data.tags for c in interrupted]
    for run in interrupted:
        assert run.data.tags["hpsearch.state"] == "FAIL"
        assert run.data.tags["hpsearch.error"] == "interrupted"
    # Nothing else failed: a trial cut short by the signal is not a failed trial.
    assert all(
        c.data.tags["hpsearch.state"] == "COMPLETE" for c in children if c.info.status != "KILLED"
    )
    done_before = sum(c.data.tags["hpsearch.state"] == "COMPLETE" for c in children)
    assert done_before >= 1
    if signum == signal.SIGTERM:
        return  # resuming is the same path as after Ctrl-C, covered by the other cases

    run_to_completion(path)
    parent_after, children = study_runs("tiny-optuna")
    assert parent_after.info.run_id == parent.info.run_id
    assert parent_after.info.status == "FINISHED"
    complete = [c for c in children if c.data.tags["hpsearch.state"] == "COMPLETE"]
    # The interrupted trial does not count against the budget of 4 (optuna), or is trained
    # again (grid: its killed run is replaced).
    assert len(complete) == total
    if "grid" in text:
        assert len(children) == total
    assert not [c for c in children if c.info.status == "RUNNING"]
