"""A study that completes no trial exits 1 and says why; every trial stays recorded."""

from __future__ import annotations

import math

import pytest

from conftest import TINY_OPTUNA, study_runs, write_study
from hpsearch.cli import main
from hpsearch.console import print_leaderboard
from hpsearch.results.report import Leaderboard
from hpsearch.tracking.tracker import TrialRecord

FAILING_BUILDER = "def build(meta, **params):\n    raise ValueError('boom')\n"


@pytest.mark.slow
def test_a_study_whose_every_trial_fails_exits_1_naming_the_error(workdir, capsys):
    (workdir / "failing.py").write_text(FAILING_BUILDER)
    text = (
        TINY_OPTUNA.replace("name: tiny-optuna", "name: failing")
        .replace("builder: dense", 'builder: "failing.py:build"')
        .replace("n_trials: 4", "n_trials: 2")
        .replace("cv: 2", "cv: {holdout: 0.3}")
    )
    path = write_study(workdir, text, plots=False)
    assert main(["run", str(path), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert 'no trial completed: 2 trials failed with "ValueError: boom"' in out, out

    parent, children = study_runs("failing")
    assert parent.info.status == "FINISHED"
    assert [c.data.tags["hpsearch.state"] for c in children] == ["FAIL", "FAIL"]
    assert all(c.data.tags["hpsearch.error"] == "ValueError: boom" for c in children)

    # The budget is spent: a second session trains nothing, and the study still has no
    # complete trial (the count covers the earlier session).
    assert main(["run", str(path), "--quiet"]) == 1
    assert 'no trial completed: 2 trials failed with "ValueError: boom"' in capsys.readouterr().out
    assert len(study_runs("failing")[1]) == 2


def test_distinct_errors_are_counted_most_frequent_first(capsys):
    def trial(number: int, state: str, error: str | None = None) -> TrialRecord:
        return TrialRecord(number, f"run{number}", state, "FAILED", math.nan, math.nan, {}, error)

    trials = [
        trial(0, "FAIL", "ValueError: [1] is not a shape\nTraceback..."),
        trial(1, "FAIL", "KeyError: 'n_classes_'"),
        trial(2, "PRUNED"),
        trial(3, "FAIL", "KeyError: 'n_classes_'"),
    ]
    print_leaderboard(Leaderboard("s", "accuracy", "maximize", trials, None, None))
    lines = [line for line in capsys.readouterr().out.splitlines() if "no trial" in line]
    assert lines == [
        "no trial completed: 2 trials failed with \"KeyError: 'n_classes_'\"",
        'no trial completed: 1 trial failed with "ValueError: [1] is not a shape"',
        "no trial completed: 1 trial pruned",
    ]
