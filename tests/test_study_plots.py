"""Optuna's plots drawn from what MLflow recorded, for any backend."""

from __future__ import annotations

import math

import optuna

from conftest import TINY_OPTUNA, write_study
from hpsearch.results.study_plots import PLOT_NAMES, as_optuna_study, write_plots
from hpsearch.study import load_study
from hpsearch.tracking.tracker import TrialRecord


def _record(number, state, score, units, fold_scores, optimizer="adam"):
    params = {"units": units, "optimizer": optimizer, "epochs": 2}
    return TrialRecord(
        number=number,
        run_id=f"run{number}",
        state=state,
        status="FINISHED",
        score=score,
        score_std=0.0,
        params=params,
        error=None,
        fold_scores=fold_scores,
    )


def test_records_become_an_optuna_study_with_fold_means_as_intermediate_values(tmp_path):
    study = load_study(write_study(tmp_path, TINY_OPTUNA))
    records = [
        _record(0, "COMPLETE", 0.5, 4, [0.4, 0.6]),
        _record(1, "PRUNED", math.nan, 3, [0.2]),
        _record(2, "FAIL", math.nan, 5, []),
        _record(3, "COMPLETE", 0.7, 99, [0.7, 0.7]),  # outside today's space: left out
        _record(4, "RUNNING", math.nan, 4, []),  # not finished: left out
    ]
    plotted = as_optuna_study(study, records)
    states = [t.state for t in plotted.trials]
    assert states == [
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    ]
    first = plotted.trials[0]
    assert first.value == 0.5 and first.intermediate_values == {1: 0.4, 2: 0.5}
    assert set(first.params) == {"units", "optimizer"}  # fixed values are not plotted
    assert first.user_attrs["mlflow_run_id"] == "run0"
    assert plotted.direction == optuna.study.StudyDirection.MAXIMIZE
    # What an Optuna trial reported to its pruner (epochs of its first fold) wins.
    reported = as_optuna_study(study, records[:1], {0: {1: 0.1, 2: 0.3, 3: 0.45}})
    assert reported.trials[0].intermediate_values == {1: 0.1, 2: 0.3, 3: 0.45}


def test_every_plot_is_drawn_or_skipped_with_a_reason(tmp_path):
    study = load_study(write_study(tmp_path, TINY_OPTUNA))
    records = [
        _record(n, "COMPLETE", 0.3 + 0.1 * n, 3 + n % 4, [0.3, 0.3 + 0.2 * n], opt)
        for n, opt in enumerate(["adam", "rmsprop"] * 3)
    ]
    files = write_plots(
        as_optuna_study(study, records), tmp_path / "all", metric="accuracy", title="t"
    )
    assert files.skipped == {}
    assert sorted(p.stem for p in files.png) == sorted(PLOT_NAMES)
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in files.png)
    page = files.html.read_text()
    assert page.count("<h2") == len(PLOT_NAMES) and page.count("plotly.js v") == 1

    one = write_plots(
        as_optuna_study(study, records[:1]), tmp_path / "one", metric="accuracy", title="t"
    )
    assert one.skipped == {
        "param_importances": "needs at least 2 completed trials",
        "contour": "needs at least 2 completed trials",
    }
    none = write_plots(as_optuna_study(study, []), tmp_path / "none", metric="m", title="t")
    assert none.html is None and set(none.skipped) == set(PLOT_NAMES)
