"""The search backends' own decisions, with the training scripted.

The real grid and Optuna backends run against a real MLflow store and a real Optuna
storage (SQLite files in the test's folder); only the ``Trainer`` is ours to script
(``ScriptedTrainer``): each fold answers with a score, a NaN, a prune or an error, in
milliseconds and without TensorFlow. What is checked is what the backends decide: what a
resumed study runs again and what it skips, which trials count against ``n_trials``, when
a failed trial is retried, that a failing trial is recorded FAIL while the study goes on,
and which shorter trials epoch sharing records from a longer one. A process killed with
SIGKILL is a real process killed at an exact moment.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from pathlib import Path

import optuna
import pytest

from hpsearch.data import load_dataset
from hpsearch.errors import TrialFailed, UserError
from hpsearch.search.evaluation import CrossValidation, FoldResult
from hpsearch.search.grid import GridBackend
from hpsearch.search.optuna_search import OptunaBackend
from hpsearch.search.trainer import Trainer
from hpsearch.study import parse_study, read_yaml
from hpsearch.tracking.tracker import StudyTracker, TrialRun

TESTS = Path(__file__).resolve().parent

OPTUNA_STUDY = """
name: decisions
task: classification
seed: 1
data: {loader: digits, params: {n_samples: 40, classes: 2}}
model: {builder: dense}
search:
  backend: optuna
  n_trials: 4
  sampler: random
  pruner: median
  cv: 2
  space:
    units: [4, 8, 16, 32]
    epochs: 1
tracking: {system_metrics: false, plots: false}
"""

GRID_STUDY = """
name: decisions
task: classification
seed: 1
data: {loader: digits, params: {n_samples: 40, classes: 2}}
model: {builder: dense}
search:
  backend: grid
  cv: 2
  space:
    units: [4, 8]
    epochs: [1, 3]
tracking: {system_metrics: false, plots: false}
"""

# Epochs searched: a completed trial scores its shorter siblings (search.share_epochs).
SHARING_STUDY = """
name: decisions
task: classification
seed: 1
data: {loader: digits, params: {n_samples: 40, classes: 2}}
model: {builder: dense}
search:
  backend: optuna
  n_trials: 2
  sampler: random
  cv: 2
  enqueue: [{units: 16, epochs: 3}]
  space:
    units: [16, 32]
    epochs: [1, 2, 3]
tracking: {system_metrics: false, plots: false}
"""


class ScriptedTrainer(Trainer):
    """A ``Trainer`` whose folds answer from ``script(params, fold, trial)``: a score, a
    ``FoldResult`` (a prune), or an exception to raise. It notes every fit it was asked
    for, and every ``trial_done``."""

    def __init__(self, cross_validation, script, kept=None):
        super().__init__(cross_validation)
        self.script = script
        # (params, epochs) -> fold score of the shorter fit, for score_kept_epochs.
        self.kept = kept or (lambda params, epochs: None)
        self.fits: list[tuple[dict, int, int | None]] = []
        self.grid_calls: list[list[dict]] = []
        self.kept_asked: list[list[int]] = []
        self.done: list[bool] = []

    def _fold(self, params, fold, trial):
        self.fits.append((dict(params), fold, trial))
        answer = self.script(params, fold, trial)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, FoldResult):
            return answer
        return FoldResult(float(answer), seconds=0.01)

    def evaluate_fold(self, params, fold, reports=None, trial=None):
        return self._fold(params, fold, trial)

    def score_kept_epochs(self, params, shorter, trial=None):
        self.kept_asked.append(list(shorter))
        scored = {}
        for epochs in shorter:
            score = self.kept(params, epochs)
            if isinstance(score, BaseException):
                raise score
            if score is not None:
                scored[epochs] = [FoldResult(score, 0.0) for _ in self.cross_validation.splits]
        return scored

    def evaluate_grid(self, candidates, n_jobs):
        self.grid_calls.append([dict(c) for c in candidates])
        folds = range(len(self.cross_validation.splits))
        scores = [[self._fold(c, k, None).score for c in candidates] for k in folds]
        results = {f"split{k}_test_score": scores[k] for k in folds}
        results["mean_fit_time"] = [0.01] * len(candidates)
        results["mean_score_time"] = [0.0] * len(candidates)
        return results

    def refit(self, params, model_dir):
        raise AssertionError("the backends never refit")

    def trial_done(self, *, recycle: bool = True) -> None:
        self.done.append(recycle)

    def close(self, *, interrupted: bool = False) -> None:
        pass


def scores_by_units(params, fold, trial):
    return params["units"] / 100


def session(text: str, script=scores_by_units, *, kept=None, on_trial=None, **overrides):
    """One ``hpsearch run`` of the study in ``text`` (in the current folder), trained by
    a ``ScriptedTrainer``: returns the trainer once the backend has run. ``overrides``
    replace search settings (``n_trials=6``, as ``--n-trials 6`` does)."""
    source = Path("study.yaml")
    source.write_text(textwrap.dedent(text))
    raw = read_yaml(source)
    raw["search"].update(overrides)
    study = parse_study(raw, source)
    tracker = StudyTracker.open(study, study.tracking_uri(), tags={})
    records = tempfile.mkdtemp(prefix="fold-records-", dir=".")
    cross_validation = CrossValidation(study, load_dataset(study), "dense", {}, records)
    trainer = ScriptedTrainer(cross_validation, script, kept)
    backend_class = OptunaBackend if study.search.backend == "optuna" else GridBackend
    backend = backend_class(
        study, cross_validation, tracker, trainer, on_trial=on_trial, exclusive=True
    )
    backend.run()
    return trainer


def records():
    """The study's trials as MLflow holds them (``TrialRecord``s, by number)."""
    study = parse_study(read_yaml(Path("study.yaml")), Path("study.yaml"))
    return StudyTracker.find(study.name, study.tracking_uri()).trials()


def optuna_trials():
    storage = f"sqlite:///{Path('mlruns/optuna.db').resolve()}"
    return optuna.load_study(study_name="decisions", storage=storage).trials


def trials_of(trainer) -> list[int]:
    """The trial numbers a trainer fitted, in order, each once."""
    return list(dict.fromkeys(trial for _, _, trial in trainer.fits))


# --- Optuna: the budget, failures, retries ------------------------------------------------


def test_complete_pruned_and_failed_trials_count_in_the_budget(workdir):
    """A trial that raised, scored NaN or was pruned ended by itself: it counts against
    n_trials, is recorded with its state and error, and the study goes on."""

    def script(params, fold, trial):
        return {
            0: ValueError("a builder bug"),
            1: FoldResult(0.3, 0.01, pruned_at=1),
            2: math.nan,
        }.get(trial, 0.5)

    trainer = session(OPTUNA_STUDY, script)
    assert trials_of(trainer) == [0, 1, 2, 3]
    # The pruned trial stopped in its first fold; the others trained both.
    assert [fold for _, fold, trial in trainer.fits if trial == 1] == [0]
    assert [t.state.name for t in optuna_trials()] == ["FAIL", "PRUNED", "FAIL", "COMPLETE"]
    recorded = records()
    assert [r.state for r in recorded] == ["FAIL", "PRUNED", "FAIL", "COMPLETE"]
    assert recorded[0].error == "ValueError: a builder bug"
    assert recorded[0].status == "FAILED"
    assert recorded[2].error == "a fold produced no score (scoring failed)"
    assert recorded[3].score == 0.5 and recorded[3].fold_scores == [0.5, 0.5]
    assert all(r.counted for r in recorded)

    # The budget is spent: the same study again trains nothing.
    assert trials_of(session(OPTUNA_STUDY, script)) == []
    # A larger budget adds the difference.
    assert trials_of(session(OPTUNA_STUDY, script, n_trials=6)) == [4, 5]
    assert len(optuna_trials()) == len(records()) == 6


def test_an_interrupted_trial_does_not_count_and_the_resumed_study_runs_only_the_rest(workdir):
    """Ctrl-C inside trial 2: it is recorded KILLED ("interrupted"), not FAIL of its own;
    the resumed study trains the trials still missing and none of the finished ones."""

    def interrupted_at_2(params, fold, trial):
        return KeyboardInterrupt() if trial == 2 and fold == 1 else 0.5

    with pytest.raises(KeyboardInterrupt):
        session(OPTUNA_STUDY, interrupted_at_2)
    killed = records()[2]
    assert (killed.state, killed.status, killed.error) == ("FAIL", "KILLED", "interrupted")
    assert not killed.counted
    assert [t.state.name for t in optuna_trials()] == ["COMPLETE", "COMPLETE", "FAIL"]
    assert "error" not in optuna_trials()[2].user_attrs

    resumed = session(OPTUNA_STUDY)
    assert trials_of(resumed) == [3, 4]  # 0 and 1 are not trained again
    counted = [r.number for r in records() if r.counted]
    assert counted == [0, 1, 3, 4]
    assert [t.state.name for t in optuna_trials()] == ["COMPLETE"] * 2 + ["FAIL"] + ["COMPLETE"] * 2


def test_a_failed_trial_is_retried_with_its_parameters_as_often_as_retries_allow(workdir):
    """search.retries: 2, and the first candidate always fails: it is tried three times
    (each retry names the original trial), then the study draws new candidates. The
    failures count against the budget."""
    doomed = {}

    def script(params, fold, trial):
        doomed.setdefault("units", params["units"])
        return RuntimeError("always") if params["units"] == doomed["units"] else 0.5

    trainer = session(OPTUNA_STUDY, script, retries=2, n_trials=5)
    trials = optuna_trials()
    assert [t.state.name for t in trials] == ["FAIL", "FAIL", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].params == trials[2].params == trials[0].params
    assert trials[1].system_attrs["failed_trial"] == trials[2].system_attrs["failed_trial"] == 0
    assert "failed_trial" not in trials[3].system_attrs
    recorded = records()
    assert [r.state for r in recorded] == ["FAIL", "FAIL", "FAIL", "COMPLETE", "COMPLETE"]
    retry_of = [mlflow_tag(r.run_id, "hpsearch.retry_of") for r in recorded]
    assert retry_of == [None, "0", "0", None, None]
    assert trials_of(trainer) == [0, 1, 2, 3, 4]


def test_an_interrupted_trial_is_not_retried(workdir):
    """A retry redoes a trial that failed by itself; one cut short by Ctrl-C is simply
    redone by the resumed study's budget (a retry too would run it twice)."""

    def interrupted_at_1(params, fold, trial):
        return KeyboardInterrupt() if trial == 1 else 0.5

    with pytest.raises(KeyboardInterrupt):
        session(OPTUNA_STUDY, interrupted_at_1, retries=3)
    session(OPTUNA_STUDY, retries=3)
    trials = optuna_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"] + ["COMPLETE"] * 3
    assert not [t for t in trials if "failed_trial" in t.system_attrs]


def mlflow_tag(run_id: str, name: str) -> str | None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{Path('mlruns/mlflow.db').resolve()}")
    return client.get_run(run_id).data.tags.get(name)


# --- Optuna: epoch sharing ----------------------------------------------------------------


def unlearning(params, epochs):
    """The shorter fits of a model that learns in its first epoch, then unlearns."""
    return {1: 0.9, 2: 0.7, 3: 0.5}[epochs]


def by_epochs(params, fold, trial):
    return unlearning(params, params["epochs"])


def test_a_better_shorter_fit_is_recorded_as_a_trial_that_does_not_count(workdir):
    """Trial 0 trains 3 epochs and scores 0.5; its folds passed through 1 epoch (0.9) and
    2 (0.7). Only the best shorter one, 1 epoch, becomes a trial, scored from trial 0's
    fits, marked shared_from 0 and outside the budget."""
    trainer = session(SHARING_STUDY, by_epochs, kept=unlearning)
    assert trainer.kept_asked[0] == [1, 2]
    trials = optuna_trials()
    first, shared = trials[:2]
    assert first.params == {"units": 16, "epochs": 3} and first.value == 0.5
    assert shared.params == {"units": 16, "epochs": 1} and shared.value == 0.9
    assert shared.user_attrs["shared_from"] == 0
    assert {"units": 16, "epochs": 2} not in [t.params for t in trials]
    own = [t for t in trials if "shared_from" not in t.user_attrs]
    assert len(own) == 2  # n_trials counts the trials that trained
    assert trials_of(trainer) == [t.number for t in own]

    recorded = {r.number: r for r in records()}
    assert recorded[1].shared_from == 0 and recorded[1].state == "COMPLETE"
    assert recorded[1].fold_scores == [0.9, 0.9] and not recorded[1].counted
    assert sum(r.counted for r in recorded.values()) == 2

    # Resumed with one trial more, it trains exactly one more.
    resumed = session(SHARING_STUDY, by_epochs, kept=unlearning, n_trials=3)
    assert len(trials_of(resumed)) == 1


def test_with_a_pruner_that_shares_out_epochs_every_trial_may_train_the_top(workdir):
    """``pruner: hyperband``: epochs are its budget, not drawn. Every trial is fitted with
    the top of the range (the pruner may stop it sooner) and recorded with it, a start's
    own epochs are dropped, and no shorter sibling is scored: an unlearning model's
    1-epoch fit would win, and its refit would train 1 epoch on all rows."""
    text = SHARING_STUDY.replace("  cv: 2\n", "  cv: 2\n  pruner: hyperband\n").replace(
        "epochs: 3}]", "epochs: 1}]"
    )
    trainer = session(text, by_epochs, kept=unlearning, n_trials=3)
    assert {params["epochs"] for params, _, _ in trainer.fits} == {3}
    assert trainer.kept_asked == []
    trials = optuna_trials()
    assert len(trials) == 3 and all("epochs" not in t.params for t in trials)
    assert trials[0].params == {"units": 16}  # the start, its epochs dropped
    assert {r.params["epochs"] for r in records()} == {3}


def test_no_shorter_fit_is_recorded_unless_it_beats_the_trial(workdir):
    trainer = session(SHARING_STUDY, by_epochs, kept=lambda params, epochs: 0.1, n_trials=1)
    assert trainer.kept_asked == [[1, 2]]
    assert len(optuna_trials()) == len(records()) == 1


def test_a_shorter_candidate_already_tried_is_not_scored_again(workdir):
    """The 1-epoch candidate ran as a trial of its own first: the 3-epoch trial asks only
    for 2 epochs, and records it as it is better than 3."""
    text = SHARING_STUDY.replace(
        "enqueue: [{units: 16, epochs: 3}]",
        "enqueue: [{units: 16, epochs: 1}, {units: 16, epochs: 3}]",
    )
    trainer = session(text, by_epochs, kept=unlearning)
    assert trainer.kept_asked == [[2]]
    trials = optuna_trials()
    assert [(t.params["epochs"], t.user_attrs.get("shared_from")) for t in trials] == [
        (1, None),
        (3, None),
        (2, 1),
    ]


def test_shorter_fits_that_cannot_be_scored_leave_the_trial_as_it_is(workdir):
    def broken(params, epochs):
        return TrialFailed("the worker process training this trial died")

    with pytest.warns(UserWarning, match="its shorter epochs were not scored"):
        session(SHARING_STUDY, by_epochs, kept=broken, n_trials=1)
    (trial,) = optuna_trials()
    assert trial.state.name == "COMPLETE" and trial.value == 0.5
    assert [r.state for r in records()] == ["COMPLETE"]


# --- Optuna: a process killed outright ----------------------------------------------------

KILLED_SESSION = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import test_backend_decisions as t

def killed(kill_in_fit, kill_after_recording):
    def script(params, fold, trial):
        if trial == kill_in_fit and fold == 1:
            t.note_modules_and_die()
        return params["units"] / 100

    def on_trial(outcome):  # the trial is in MLflow; Optuna has not heard of it yet
        if outcome.number == kill_after_recording:
            t.note_modules_and_die()

    t.session(t.OPTUNA_STUDY, script, on_trial=on_trial)

killed({kill_in_fit}, {kill_after_recording})
"""


def note_modules_and_die():
    Path("modules.json").write_text(json.dumps(sorted(sys.modules)))
    os.kill(os.getpid(), signal.SIGKILL)


def killed_session(kill_in_fit: int, kill_after_recording: int) -> set[str]:
    """A session in a process of its own, killed with SIGKILL inside trial
    ``kill_in_fit``'s second fold or just after trial ``kill_after_recording`` reached
    MLflow (whichever comes first); the modules it had imported."""
    code = KILLED_SESSION.format(
        tests=str(TESTS), kill_in_fit=kill_in_fit, kill_after_recording=kill_after_recording
    )
    process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert process.returncode == -signal.SIGKILL, process.stderr[-3000:]
    return set(json.loads(Path("modules.json").read_text()))


def test_sigkill_loses_no_recorded_trial_and_counts_none_twice(workdir):
    """Killed inside a fit, a trial is RUNNING in both stores: the next run fails it in
    Optuna (not counted) and closes its MLflow run KILLED. Killed between MLflow and
    Optuna, a trial is COMPLETE in MLflow: the next run tells Optuna its recorded score,
    and it counts. Nothing imports TensorFlow on the way."""
    modules = killed_session(kill_in_fit=1, kill_after_recording=-1)
    assert not {m for m in modules if m.split(".")[0] in ("tensorflow", "keras")}
    assert "hpsearch.search.optuna_search" in modules  # the backend did run
    assert [t.state.name for t in optuna_trials()] == ["COMPLETE", "RUNNING"]
    assert [(r.state, r.status) for r in records()] == [
        ("COMPLETE", "FINISHED"),
        ("RUNNING", "RUNNING"),
    ]

    killed_session(kill_in_fit=-1, kill_after_recording=3)
    trials = optuna_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "RUNNING"]
    assert records()[3].state == "COMPLETE"
    recorded_score = records()[3].score

    resumed = session(OPTUNA_STUDY)
    trials = optuna_trials()
    assert trials[3].state.name == "COMPLETE" and trials[3].value == recorded_score
    assert trials_of(resumed) == [4]  # 4 counted: 0, 2, 3 and this one
    recorded = records()
    assert [(r.number, r.state, r.status) for r in recorded] == [
        (0, "COMPLETE", "FINISHED"),
        (1, "FAIL", "KILLED"),
        (2, "COMPLETE", "FINISHED"),
        (3, "COMPLETE", "FINISHED"),
        (4, "COMPLETE", "FINISHED"),
    ]
    assert [t.state.name for t in optuna_trials()] == [r.state for r in recorded]
    assert Counter(r.number for r in recorded).most_common(1)[0][1] == 1


# --- the grid -----------------------------------------------------------------------------


def test_a_grid_runs_each_epoch_group_longest_first_and_keeps_its_worker_within_it(workdir):
    """Candidates that differ only in epochs run one after the other, most epochs first
    (the shorter take the longer fit's states), and the worker is replaced only at the
    end of a group."""
    trainer = session(GRID_STUDY)
    asked = [(c["units"], c["epochs"]) for call in trainer.grid_calls for c in call]
    assert asked == [(4, 3), (4, 1), (8, 3), (8, 1)]
    assert trainer.done == [False, True, False, True]
    recorded = records()
    # Trial numbers are the grid's order (scikit-learn's ParameterGrid), whatever order
    # they ran in.
    assert [(r.params["units"], r.params["epochs"]) for r in recorded] == [
        (4, 1),
        (8, 1),
        (4, 3),
        (8, 3),
    ]
    assert all(r.state == "COMPLETE" for r in recorded)


def test_a_failing_grid_candidate_is_recorded_and_the_grid_goes_on(workdir):
    def script(params, fold, trial):
        if params["units"] == 4 and params["epochs"] == 3:
            return TrialFailed("the worker process training this trial died")
        return math.nan if params == {"units": 8, "epochs": 1} else 0.5

    session(GRID_STUDY, script)
    by_params = {(r.params["units"], r.params["epochs"]): r for r in records()}
    assert by_params[4, 3].state == "FAIL"
    assert by_params[4, 3].error == "the worker process training this trial died"
    assert by_params[8, 1].state == "FAIL"
    assert by_params[8, 1].error == "a fold produced no score (scoring failed)"
    assert by_params[4, 1].state == by_params[8, 3].state == "COMPLETE"


def test_a_resumed_grid_trains_only_what_was_not_recorded(workdir):
    """Interrupted in its third candidate: the two recorded (trials 2 and 0, its first
    epoch group) are not trained again; the interrupted one, and a run that a process
    killed inside trial 1 would have left RUNNING, are replaced, not doubled."""

    def interrupted(params, fold, trial):
        return KeyboardInterrupt() if params == {"units": 8, "epochs": 3} else 0.5

    with pytest.raises(KeyboardInterrupt):
        session(GRID_STUDY, interrupted)
    first = [(r.number, r.state, r.status) for r in records()]
    assert first == [
        (0, "COMPLETE", "FINISHED"),
        (2, "COMPLETE", "FINISHED"),
        (3, "FAIL", "KILLED"),
    ]
    # What a process killed with SIGKILL inside trial 1 would have left.
    study = parse_study(read_yaml(Path("study.yaml")), Path("study.yaml"))
    tracker = StudyTracker.find(study.name, study.tracking_uri())
    TrialRun.start(tracker, 1, {"epochs": 1, "units": 8})

    resumed = session(GRID_STUDY)
    asked = [(c["units"], c["epochs"]) for call in resumed.grid_calls for c in call]
    assert asked == [(8, 3), (8, 1)]
    assert [(r.number, r.state, r.status) for r in records()] == [
        (n, "COMPLETE", "FINISHED") for n in range(4)
    ]


def test_a_grid_that_changed_since_it_started_is_refused(workdir):
    session(GRID_STUDY)
    with pytest.raises(UserError, match="the grid changed since this study started"):
        session(GRID_STUDY.replace("units: [4, 8]", "units: [4, 6]"))


WITHOUT_TENSORFLOW = """
import json, sys
sys.path.insert(0, {tests!r})
import test_backend_decisions as t

t.session(t.GRID_STUDY)
t.session(t.OPTUNA_STUDY.replace("name: decisions", "name: decisions-optuna"))
print(json.dumps(sorted(sys.modules)))
"""


def test_the_backends_decide_and_record_without_tensorflow(workdir):
    """Only a trainer's fits need TensorFlow: a fresh process that runs a grid and an
    Optuna study through the backends and the tracker never imports it."""
    code = WITHOUT_TENSORFLOW.format(tests=str(TESTS))
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert process.returncode == 0, process.stderr[-3000:]
    modules = set(json.loads(process.stdout.splitlines()[-1]))
    assert {"hpsearch.search.grid", "hpsearch.search.optuna_search", "mlflow"} <= modules
    assert not {m for m in modules if m.split(".")[0] in ("tensorflow", "keras")}
