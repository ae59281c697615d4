"""Ctrl-C (SIGINT) or SIGTERM during a study: exit 130/143, nothing lost, the next run resumes."""

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

# Four trials long enough that the signal lands inside one.
OPTUNA_STUDY = TINY_OPTUNA.replace("epochs: 2", "epochs: 6")
GRID_STUDY = TINY_GRID.replace("tiny-grid", "tiny-optuna").replace(
    "epochs: [1, 2]", "epochs: [5, 6]"
)


@pytest.mark.parametrize(
    "text, signum, code",
    [
        (OPTUNA_STUDY, signal.SIGINT, 130),
        (GRID_STUDY, signal.SIGINT, 130),
        (OPTUNA_STUDY, signal.SIGTERM, 143),
    ],
    ids=["optuna-sigint", "grid-sigint", "optuna-sigterm"],
)
def test_interrupt_then_resume(workdir, text, signum, code):
    path = write_study(workdir, text)
    import mlflow  # noqa: F401 - imported before the race below starts

    process = start_run(path)
    wait_for_trial_line(process)
    deadline = time.monotonic() + 60
    while not any(c.data.tags["hpsearch.state"] == "RUNNING" for c in study_runs("tiny-optuna")[1]):
        assert time.monotonic() < deadline and process.poll() is None, "no second trial started"
        time.sleep(0.2)
    time.sleep(0.5)  # inside the second trial's training
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert "run the same command to resume" in err

    parent, children = study_runs("tiny-optuna")
    assert parent.info.status == "KILLED"
    interrupted = [c for c in children if c.info.status == "KILLED"]
    assert len(interrupted) == 1 and interrupted[0].data.tags["hpsearch.state"] == "FAIL"
    done_before = sum(c.data.tags["hpsearch.state"] == "COMPLETE" for c in children)
    if signum == signal.SIGTERM:
        return  # resuming is the same path as after Ctrl-C, covered by the other cases

    run_to_completion(path)
    parent_after, children = study_runs("tiny-optuna")
    assert parent_after.info.run_id == parent.info.run_id
    assert parent_after.info.status == "FINISHED"
    complete = [c for c in children if c.data.tags["hpsearch.state"] == "COMPLETE"]
    # The interrupted trial does not count against the budget of 4 (optuna), or is trained
    # again (grid: its killed run is replaced).
    assert len(complete) == 4 and done_before >= 1
    if "grid" in text:
        assert len(children) == 4
    assert not [c for c in children if c.info.status == "RUNNING"]
