"""A tiny Optuna study: trials in MLflow, resume with a larger budget, failing trials."""

from __future__ import annotations

import csv
import json
from itertools import pairwise

import optuna
import pytest

from conftest import (
    SHARING,
    TINY_OPTUNA,
    UNLEARNING_BUILDER,
    mlflow_client,
    study_runs,
    write_study,
)
from hpsearch.cli import main
from hpsearch.search import optuna_space, pruning
from hpsearch.search.trainer import usable_cores
from hpsearch.study import load_study


def _enqueued(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if "fixed_params" in t.system_attrs]


@pytest.mark.slow
def test_optuna_study_runs_and_resumes_into_the_same_parent(workdir, capsys):
    with_start = TINY_OPTUNA.replace(
        "  sampler: random", "  sampler: random\n  enqueue: [{units: 5, optimizer: rmsprop}]"
    ).replace("n_trials: 4", "n_trials: 2")
    path = write_study(workdir, with_start, plots=False)
    assert main(["run", str(path), "--quiet"]) == 0
    parent, children = study_runs("tiny-optuna")
    assert [c.data.tags["hpsearch.trial"] for c in children] == ["0", "1"]
    # The known-good start ran first, with its values; the rest was sampled.
    assert children[0].data.params["units"] == "5"
    assert children[0].data.params["optimizer"] == "rmsprop"
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["hpsearch.state"] == "COMPLETE"
        assert set(child.data.params) == {
            "units",
            "dropout",
            "optimizer",
            "learning_rate",
            "epochs",
            "batch_size",
        }
        assert {"cv_score", "cv_score_std", "loss", "val_loss"} <= set(child.data.metrics)
    storage = optuna.storages.RDBStorage("sqlite:///mlruns/optuna.db")
    study = optuna.load_study(study_name="tiny-optuna", storage=storage)
    assert len(study.trials) == 2
    assert study.best_value == parent.data.metrics["best_score"]
    by_number = {int(c.data.tags["hpsearch.trial"]): c for c in children}
    for trial in study.trials:
        assert trial.user_attrs["mlflow_run_id"] == by_number[trial.number].info.run_id
        assert trial.value == by_number[trial.number].data.metrics["cv_score"]

    assert main(["run", str(path), "--quiet", "--n-trials", "3"]) == 0
    parent_again, children = study_runs("tiny-optuna")
    assert parent_again.info.run_id == parent.info.run_id
    assert [c.data.tags["hpsearch.trial"] for c in children] == ["0", "1", "2"]
    resumed = optuna.load_study(study_name="tiny-optuna", storage=storage)
    assert len(resumed.trials) == 3
    assert len(_enqueued(resumed)) == 1  # the start is not queued again on resume
    # The budget is spent: running again trains nothing.
    assert main(["run", str(path), "--quiet", "--n-trials", "3"]) == 0
    assert len(study_runs("tiny-optuna")[1]) == 3


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_study_goes_on(workdir):
    (workdir / "fragile.py").write_text(
        "from hpsearch.models.builders import build_dense\n"
        "def build(meta, units=4, **params):\n"
        "    if units == 5:\n"
        "        raise ValueError('five units are unlucky')\n"
        "    return build_dense(meta, units=units, **params)\n"
    )
    text = (
        TINY_OPTUNA.replace("name: tiny-optuna", "name: fragile")
        .replace("builder: dense", 'builder: "fragile.py:build"')
        .replace("units: {low: 3, high: 6}", "units: [4, 5]")
        .replace("n_trials: 4", "n_trials: 5")
        .replace("cv: 2", "cv: {holdout: 0.3}")
    )
    path = write_study(workdir, text, plots=False)
    assert main(["run", str(path), "--quiet"]) == 0
    parent, children = study_runs("fragile")
    assert len(children) == 5
    states = {c.data.params["units"]: set() for c in children}
    for child in children:
        states[child.data.params["units"]].add(child.data.tags["hpsearch.state"])
        if child.data.params["units"] == "5":
            assert child.info.status == "FAILED"
            assert "five units are unlucky" in child.data.tags["hpsearch.error"]
            assert "cv_score" not in child.data.metrics
    assert states == {"4": {"COMPLETE"}, "5": {"FAIL"}}
    assert parent.data.metrics["best_score"] > 0
    assert parent.info.status == "FINISHED"
    storage = optuna.storages.RDBStorage("sqlite:///mlruns/optuna.db")
    failed = [
        t
        for t in optuna.load_study(study_name="fragile", storage=storage).trials
        if t.state == optuna.trial.TrialState.FAIL
    ]
    assert failed and all(t.params["units"] == 5 for t in failed)


@pytest.mark.slow
def test_a_grid_candidate_that_diverges_is_a_failed_trial(workdir):
    text = """
    name: diverging
    task: classification
    data: {loader: digits, params: {n_samples: 90, classes: 3}}
    model: {builder: dense}
    search:
      backend: grid
      cv: 2
      space: {units: 4, epochs: 2, optimizer: sgd, learning_rate: [0.01, 1.0e+12]}
    """
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0
    _, children = study_runs("diverging")
    by_rate = {float(c.data.params["learning_rate"]): c for c in children}
    assert by_rate[0.01].data.tags["hpsearch.state"] == "COMPLETE"
    assert by_rate[1e12].data.tags["hpsearch.state"] == "FAIL"
    assert "training loss became" in by_rate[1e12].data.tags["hpsearch.error"]


@pytest.mark.slow
def test_pruning_stops_clearly_worse_trials_epoch_by_epoch_in_their_first_fold(workdir):
    text = """
    name: pruned
    task: classification
    seed: 11
    data: {loader: digits, params: {n_samples: 90, classes: 3}}
    model: {builder: dense}
    search:
      backend: optuna
      n_trials: 6
      sampler: random
      pruner: median
      cv: 2
      space:
        units: 4
        epochs: 4
        batch_size: 16
        learning_rate: [0.03, 1.0e-7, 2.0e-7, 3.0e-7]
    """
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0
    storage = optuna.storages.RDBStorage(f"sqlite:///{workdir / 'mlruns' / 'optuna.db'}")
    trials = optuna.load_study(study_name="pruned", storage=storage).trials
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, [(t.params, t.state, t.intermediate_values) for t in trials]
    for trial in pruned:
        assert trial.params["learning_rate"] < 1e-6
        # Reported after each epoch of the first fold, stopped before its last epoch.
        steps = sorted(trial.intermediate_values)
        assert steps == list(range(1, len(steps) + 1)) and len(steps) < 4
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete and all(sorted(t.intermediate_values) == [1, 2, 3, 4] for t in complete)
    _, children = study_runs("pruned")
    by_number = {int(c.data.tags["hpsearch.trial"]): c for c in children}
    for trial in pruned:
        child = by_number[trial.number]
        assert child.data.tags["hpsearch.state"] == "PRUNED"
        # It keeps the curves of the epochs it trained, which is all it trained.
        epochs = len(trial.intermediate_values)
        assert child.data.metrics["trained_epochs"] == epochs
        history = mlflow_client().get_metric_history(child.info.run_id, "val_loss")
        assert sorted(m.step for m in history) == list(range(1, epochs + 1))
        assert "cv_score_fold_1" not in child.data.metrics
    for trial in complete:
        assert by_number[trial.number].data.metrics["trained_epochs"] == 8  # 2 folds x 4


@pytest.mark.slow
def test_the_same_study_in_two_fresh_stores_gives_the_same_trials(tmp_path, monkeypatch):
    """``seed`` fixes the sampler, the folds and Keras: a rerun repeats every number."""
    text = TINY_OPTUNA.replace("n_trials: 4", "n_trials: 2").replace(
        "sampler: random", "sampler: tpe\n  multivariate: true"
    )
    results = []
    for attempt in ("first", "second"):
        folder = tmp_path / attempt
        folder.mkdir()
        monkeypatch.chdir(folder)
        assert main(["run", str(write_study(folder, text, plots=False)), "--quiet"]) == 0
        _, children = study_runs("tiny-optuna")
        results.append(
            [
                (c.data.params, c.data.metrics["cv_score"], c.data.metrics["val_loss"])
                for c in children
            ]
        )
    assert len(results[0]) == 2 and results[0] == results[1]
    _, children = study_runs("tiny-optuna")
    assert children[0].data.tags["hpsearch.sampler"] == "tpe-multivariate"


@pytest.mark.slow
def test_a_failed_trial_is_retried_with_the_same_parameters(workdir):
    (workdir / "flaky.py").write_text(
        "from pathlib import Path\n"
        "from hpsearch.models.builders import build_dense\n"
        "def build(meta, units=4, **params):\n"
        "    marker = Path(__file__).with_name('failed-once')\n"
        "    if not marker.exists():\n"
        "        marker.touch()\n"
        "        raise RuntimeError('a flaky failure')\n"
        "    return build_dense(meta, units=units, **params)\n"
    )
    text = (
        TINY_OPTUNA.replace("name: tiny-optuna", "name: flaky")
        .replace("builder: dense", 'builder: "flaky.py:build"')
        .replace("n_trials: 4", "n_trials: 3\n  retries: 1")
        .replace("cv: 2", "cv: {holdout: 0.3}")
    )
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0
    storage = optuna.storages.RDBStorage("sqlite:///mlruns/optuna.db")
    trials = optuna.load_study(study_name="flaky", storage=storage).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    # Trial 1 is trial 0 again: the same parameters, queued by the retry.
    assert trials[1].system_attrs["failed_trial"] == 0 and trials[1].params == trials[0].params
    assert "failed_trial" not in trials[2].system_attrs
    _, children = study_runs("flaky")
    assert [c.data.tags["hpsearch.state"] for c in children] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert "a flaky failure" in children[0].data.tags["hpsearch.error"]
    assert children[1].data.tags["hpsearch.retry_of"] == "0"


RECORDING_BUILDER = """
import csv
import json
import os
from pathlib import Path

import tensorflow as tf

from hpsearch.models.builders import build_dense


def build(meta, **params):
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    with Path(__file__).with_name("builds.txt").open("a") as log:
        log.write(f"{os.getpid()} {threads}\\n")
    return build_dense(meta, **params)
"""


@pytest.mark.slow
def test_parallel_trials_train_in_separate_processes_with_their_share_of_cores(workdir):
    (workdir / "recording.py").write_text(RECORDING_BUILDER)
    text = TINY_OPTUNA.replace("builder: dense", "builder: recording.py:build").replace(
        "  cv: 2", "  cv: 2\n  n_jobs: 2"
    )
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0

    _, children = study_runs("tiny-optuna")
    assert sorted(int(c.data.tags["hpsearch.trial"]) for c in children) == [0, 1, 2, 3]
    assert all(c.data.tags["hpsearch.state"] == "COMPLETE" for c in children)
    spans = sorted((c.info.start_time, c.info.end_time) for c in children)
    assert any(later[0] < earlier[1] for earlier, later in pairwise(spans)), spans
    builds = [line.split() for line in (workdir / "builds.txt").read_text().splitlines()]
    assert len({pid for pid, _ in builds}) == 2  # one worker per thread
    share = str(max(1, usable_cores() // 2))
    assert {threads for _, threads in builds} == {share}
    trials = optuna.load_study(study_name="tiny-optuna", storage="sqlite:///mlruns/optuna.db")
    assert [t.state.name for t in trials.trials] == ["COMPLETE"] * 4


@pytest.mark.slow
def test_parallel_trials_that_drew_the_same_values_each_keep_their_own_curves(workdir):
    """Two trials with equal values running at once once shared their folds' record files:
    one collected both trials' records, the other lost some (half its trained epochs)."""
    text = TINY_OPTUNA.replace("  cv: 2", "  cv: 2\n  n_jobs: 2\n  pruner: none")
    for name in ("dropout", "optimizer", "learning_rate"):
        text = "\n".join(line for line in text.splitlines() if f"    {name}:" not in line)
    text = text.replace("units: {low: 3, high: 6}", "units: [4]")  # every trial the same
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0

    _, children = study_runs("tiny-optuna")
    assert len(children) == 4
    client = mlflow_client()
    curves = []
    for child in children:
        assert child.data.metrics["trained_epochs"] == 2 * 2  # two folds of two epochs
        history = client.get_metric_history(child.info.run_id, "val_loss")
        curves.append([m.value for m in sorted(history, key=lambda m: m.step)])
    assert all(len(curve) == 2 for curve in curves)
    assert all(curve == curves[0] for curve in curves)  # equal values, equal fits


@pytest.mark.slow
def test_a_multi_objective_study_records_its_pareto_front(workdir):
    text = TINY_OPTUNA.replace("sampler: random", "sampler: nsga2").replace(
        "  cv: 2", "  cv: {holdout: 0.3}\n  metric: [accuracy, n_params, predict_ms]"
    )
    assert main(["run", str(write_study(workdir, text)), "--quiet"]) == 0

    trials = optuna.load_study(study_name="tiny-optuna", storage="sqlite:///mlruns/optuna.db")
    assert [d.name for d in trials.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    parent, children = study_runs("tiny-optuna")
    by_number = {int(c.data.tags["hpsearch.trial"]): c for c in children}
    values = {}
    for trial in trials.trials:
        metrics = by_number[trial.number].data.metrics
        recorded = [metrics["cv_score"], metrics["n_params"], metrics["predict_ms"]]
        assert trial.values == recorded
        assert metrics["predict_ms"] > 0
        values[trial.number] = recorded

    def dominated(mine, other):
        at_least = other[0] >= mine[0] and other[1] <= mine[1] and other[2] <= mine[2]
        return at_least and other != mine

    front = sorted(
        n for n, v in values.items() if not any(dominated(v, w) for w in values.values())
    )
    assert sorted(json.loads(parent.data.tags["hpsearch.pareto_front"])) == front
    client = mlflow_client()
    table = client.download_artifacts(parent.info.run_id, "pareto_front.csv", str(workdir))
    rows = list(csv.DictReader(open(table)))
    assert sorted(int(row["trial"]) for row in rows) == front
    assert {"accuracy", "n_params", "predict_ms", "units", "run_id"} <= set(rows[0])
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/pareto_front.png", "plots/optimization_history.png"} <= plots
    # The best model is the best by the metric (the first objective).
    best = max(values, key=lambda n: (values[n][0], -n))
    assert parent.data.tags["hpsearch.best_run_id"] == by_number[best].info.run_id


@pytest.mark.slow
def test_a_conditional_space_draws_each_branch_its_own_names(workdir):
    text = (
        TINY_OPTUNA.replace(
            "    optimizer: [adam, rmsprop]\n    learning_rate: {low: 1.0e-3, high: 1.0e-2, log: true}\n",
            "    optimizer:\n"
            "      choices:\n"
            "        adam: {learning_rate: {low: 1.0e-3, high: 1.0e-2, log: true}}\n"
            "        sgd: {learning_rate: {low: 0.05, high: 0.2}, momentum: [0.0, 0.9]}\n",
        )
        .replace(
            "  sampler: random",
            "  sampler: random\n  enqueue: [{optimizer: sgd, learning_rate: 0.1, momentum: 0.9}]",
        )
        .replace("cv: 2", "cv: {holdout: 0.3}")
    )
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0

    trials = optuna.load_study(study_name="tiny-optuna", storage="sqlite:///mlruns/optuna.db")
    first = trials.trials[0].params
    assert first == {
        "units": first["units"],
        "dropout": first["dropout"],
        "optimizer": "sgd",
        "learning_rate[optimizer=sgd]": 0.1,
        "momentum[optimizer=sgd]": 0.9,
    }
    _, children = study_runs("tiny-optuna")
    assert {c.data.params["optimizer"] for c in children} == {"adam", "sgd"}
    for child in children:
        params = child.data.params
        rate = float(params["learning_rate"])
        if params["optimizer"] == "adam":
            assert 1e-3 <= rate <= 1e-2 and "momentum" not in params
        else:
            assert 0.05 <= rate <= 0.2 and params["momentum"] in ("0.0", "0.9")
    assert all(c.data.tags["hpsearch.state"] == "COMPLETE" for c in children)


@pytest.mark.slow
def test_the_gaussian_process_sampler_proposes_trials_after_its_random_start(workdir):
    text = (
        TINY_OPTUNA.replace("sampler: random", "sampler: gp\n  startup_trials: 2")
        .replace("n_trials: 4", "n_trials: 3")
        .replace("epochs: 2", "epochs: 1")
        .replace("cv: 2", "cv: {holdout: 0.3}")
    )
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0
    trials = optuna.load_study(study_name="tiny-optuna", storage="sqlite:///mlruns/optuna.db")
    # GPSampler draws its first 2 trials at random (10 without startup_trials), then fits
    # its Gaussian process: the third trial's parameters come from it.
    assert [t.state.name for t in trials.trials] == ["COMPLETE"] * 3
    sampler = optuna_space.make_sampler(load_study(workdir / "study.yaml"), n_existing=2)
    assert isinstance(sampler, optuna.samplers.GPSampler) and sampler._n_startup_trials == 2
    parent, _ = study_runs("tiny-optuna")
    assert parent.data.tags["hpsearch.sampler"] == "gp"


def test_tpe_models_the_parameters_jointly_unless_the_study_says_not(workdir):
    """Optuna 5 made multivariate TPE its default and Optuna 4 sampled one by one: hpsearch
    spells the choice out, so a study samples the same on either."""

    def joint_names(text: str) -> set[str]:
        sampler = optuna_space.make_sampler(load_study(write_study(workdir, text)), 0)
        study = optuna.create_study(sampler=sampler)
        for _ in range(3):
            study.optimize(lambda t: t.suggest_float("a", 0, 1) + t.suggest_int("b", 1, 4), 1)
        return set(sampler.infer_relative_search_space(study, study.trials[-1]))

    tpe = TINY_OPTUNA.replace("sampler: random", "sampler: tpe")
    assert joint_names(tpe) == {"a", "b"}
    assert joint_names(tpe.replace("sampler: tpe", "sampler: tpe\n  multivariate: false")) == set()
    assert load_study(write_study(workdir, tpe)).multivariate_tpe


def test_hyperband_prunes_by_bracket_while_the_sampler_learns_from_every_trial(workdir):
    """Where Optuna's HyperbandPruner prunes, it hands the sampler only the running trial's
    bracket, so TPE's random start is paid once per bracket; hpsearch's ``hyperband`` prunes
    exactly as Optuna's and lets the sampler see the whole study, in the same process too."""
    text = TINY_OPTUNA.replace("epochs: 2", "epochs: {low: 2, high: 12}")
    study = load_study(write_study(workdir, text + "  pruner: hyperband\n"))
    fewest, most = pruning.min_epochs(study), pruning.max_epochs(study)
    assert (fewest, most) == (2, 12)  # the range's bottom and top: two brackets

    class SeenTrials(optuna.samplers.RandomSampler):
        """Random draws, noting how many trials the study it is given holds."""

        def __init__(self):
            super().__init__(seed=3)
            self.seen: list[int] = []

        def sample_independent(self, study, trial, name, distribution):
            self.seen.append(len(study.get_trials(deepcopy=False)))
            return super().sample_independent(study, trial, name, distribution)

    def objective(trial: optuna.Trial) -> float:
        quality = trial.suggest_float("quality", 0, 1)
        for epoch in range(1, most + 1):
            trial.report(quality * epoch / most, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return quality

    def run(pruner) -> tuple[list[int], list]:
        sampler = SeenTrials()
        optuna_study = optuna.create_study(
            study_name="brackets", sampler=sampler, pruner=pruner, direction="maximize"
        )
        optuna_study.optimize(objective, n_trials=30)
        return sampler.seen, [(t.state, t.last_step) for t in optuna_study.trials]

    seen, outcomes = run(pruning.make_pruner(study))
    bracket_seen, bracket_outcomes = run(optuna.pruners.HyperbandPruner(fewest, most))
    assert seen == list(range(1, 31))  # every trial so far, the running one included
    assert max(bracket_seen) < 25  # Optuna's own: the running trial's bracket only
    assert outcomes == bracket_outcomes  # the same trials pruned at the same epochs
    assert sum(state == optuna.trial.TrialState.PRUNED for state, _ in outcomes) >= 10


@pytest.mark.parametrize("pruner", ["hyperband", "successive_halving"])
def test_a_rung_pruner_is_asked_only_where_a_rung_ends_and_prunes_the_same(workdir, pruner):
    """Successive halving (each Hyperband bracket too) can stop a trial only after the
    epochs where one of its rungs ends; the workers ask it nowhere else. Asked after every
    epoch, Optuna's pruner says no everywhere else, and the same trials are pruned at the
    same epochs either way."""
    import random

    text = TINY_OPTUNA.replace("epochs: 2", "epochs: {low: 2, high: 12}")
    study = load_study(write_study(workdir, text + f"  pruner: {pruner}\n"))
    decides_at = pruning.make_pruner(study).decides_at
    rung_ends = [step for step in range(1, 13) if decides_at(step)]
    assert rung_ends == ([2, 6] if pruner == "hyperband" else [2, 8])
    noise = random.Random(5)
    curves = [
        [q * e / 12 + noise.uniform(-0.05, 0.05) for e in range(1, 13)]
        for q in (noise.random() for _ in range(40))
    ]

    def run(ask_every_epoch: bool):
        optuna_study = optuna.create_study(  # the name decides each trial's bracket
            study_name="rungs", pruner=pruning.make_pruner(study), direction="maximize"
        )
        answers_elsewhere = []
        for curve in curves:
            trial = optuna_study.ask()
            for epoch, value in enumerate(curve, start=1):
                trial.report(value, epoch)
                if not (ask_every_epoch or decides_at(epoch)):
                    continue
                pruned = trial.should_prune()
                if not decides_at(epoch):
                    answers_elsewhere.append(pruned)
                if pruned:
                    optuna_study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    break
            else:
                optuna_study.tell(trial, curve[-1])
        return [(t.state, t.last_step) for t in optuna_study.trials], answers_elsewhere

    every_epoch, answers_elsewhere = run(ask_every_epoch=True)
    at_rung_ends, _ = run(ask_every_epoch=False)
    assert answers_elsewhere and not any(answers_elsewhere)
    assert at_rung_ends == every_epoch
    assert sum(state == optuna.trial.TrialState.PRUNED for state, _ in every_epoch) >= 15


@pytest.mark.slow
def test_a_trial_better_after_fewer_epochs_records_that_candidate_as_the_trial_it_would_be(
    workdir,
):
    """``search.share_epochs``: trial 0 trains 3 epochs, scored best after 1 (its model
    unlearns after the first epoch); that 1-epoch candidate becomes a trial of its own,
    scored from the states trial 0's folds passed through, without training. A separate
    1-epoch trial gives exactly the same scores, curves and epoch reports."""
    (workdir / "unlearning.py").write_text(UNLEARNING_BUILDER)
    shared_text = SHARING.format(name="shared", n_trials=2, share="true", epochs=3)
    assert (
        main(["run", str(write_study(workdir, shared_text, "shared.yaml", plots=False)), "--quiet"])
        == 0
    )
    alone_text = SHARING.format(name="alone", n_trials=1, share="false", epochs=1)
    assert (
        main(["run", str(write_study(workdir, alone_text, "alone.yaml", plots=False)), "--quiet"])
        == 0
    )

    storage = optuna.storages.RDBStorage(f"sqlite:///{workdir / 'mlruns' / 'optuna.db'}")
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    first, shared = trials[:2]
    assert first.params == {"units": 16, "epochs": 3} and "shared_from" not in first.user_attrs
    assert shared.state == optuna.trial.TrialState.COMPLETE
    assert shared.params == {"units": 16, "epochs": 1} and shared.user_attrs["shared_from"] == 0
    assert shared.value > first.value
    # The epoch report its first fold would have made: the longer fit's first one.
    assert shared.intermediate_values == {1: first.intermediate_values[1]}
    # Only the best of the shorter epochs, and only when it beats the trial: not 2 epochs.
    assert {"units": 16, "epochs": 2} not in [t.params for t in trials]
    own = [t for t in trials if "shared_from" not in t.user_attrs]
    assert len(own) == 2  # the budget counts the trials that trained

    _, children = study_runs("shared")
    by_number = {int(c.data.tags["hpsearch.trial"]): c for c in children}
    assert by_number[0].data.metrics["trained_epochs"] == 6  # 2 folds x 3
    shared_run = by_number[1]
    assert shared_run.data.tags["hpsearch.shared_from"] == "0"
    assert shared_run.data.tags["hpsearch.state"] == "COMPLETE"
    assert shared_run.data.metrics["trained_epochs"] == 0

    # The same candidate trained for 1 epoch in a study of its own.
    (alone,) = optuna.load_study(study_name="alone", storage=storage).trials
    assert alone.params == shared.params and alone.values == shared.values
    assert alone.intermediate_values == shared.intermediate_values
    _, (separate,) = study_runs("alone")
    for name in ("cv_score_fold_0", "cv_score_fold_1", "cv_score"):
        assert shared_run.data.metrics[name] == separate.data.metrics[name]
    client = mlflow_client()
    for curve in ("loss", "val_loss", "val_accuracy"):
        assert [m.value for m in client.get_metric_history(shared_run.info.run_id, curve)] == [
            m.value for m in client.get_metric_history(separate.info.run_id, curve)
        ]

    # Resumed with a larger budget, the study trains exactly one trial more.
    assert main(["run", str(workdir / "shared.yaml"), "--n-trials", "3", "--quiet"]) == 0
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert len([t for t in trials if "shared_from" not in t.user_attrs]) == 3
