"""Workers on one study through real services: PostgreSQL for Optuna, an MLflow server.

Three ``hpsearch worker`` processes share one study of n_trials = 12. One of them is
killed with SIGKILL in the middle of a trial (the study's builder pauses when the test
leaves a ``pause`` file and names the worker that took it). The other two must finish the
study with exactly 12 counted trials, each recorded once in MLflow under one parent run,
and leave no trial RUNNING: the heartbeat marks the dead worker's trial FAIL, and a
replacement runs in its place.

The races between workers are also played out one by one, with "another worker" acting at
the exact moment in between (a trial that ends while a worker counts, one that starts
while a worker looks for dead workers' runs), and a worker that was only silent finds its
trial failed by another when it finishes it, or only when it tells Optuna. A trial's
shorter sibling (``search.share_epochs``) keeps its heartbeat while a slow tracking server
records it.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from collections import Counter

import pytest

from conftest import SHARING, TINY_GRID, TINY_OPTUNA, UNLEARNING_BUILDER, write_study

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

PAUSING_BUILDER = """
import os
import time
from pathlib import Path

from hpsearch.models.builders import build_dense


def build(meta, **params):
    pause = Path(__file__).with_name("pause")
    try:
        pause.rename(pause.with_name("paused-" + os.environ["TEST_WORKER"]))
    except FileNotFoundError:
        return build_dense(meta, **params)
    time.sleep(600)  # the test kills this worker here, inside a trial's fit
"""

STUDY = (
    TINY_OPTUNA.replace("name: tiny-optuna", "name: shared-study")
    .replace("builder: dense", "builder: pausing_builder.py:build")
    .replace("n_trials: 4", "n_trials: 12\n  heartbeat: 1")
    .replace("epochs: 2", "epochs: 1")
)


@pytest.fixture
def database():
    """A fresh PostgreSQL database (URL), dropped afterwards."""

    def create():
        name = f"hpsearch_test_{uuid.uuid4().hex[:12]}"
        _admin(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"postgresql://postgres@127.0.0.1:5432/{name}"

    created: list[str] = []
    yield create
    for name in created:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(statement: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(statement))
    engine.dispose()


@pytest.fixture
def mlflow_server(database, tmp_path):
    """``mlflow server`` on 127.0.0.1 with a PostgreSQL backend and its own artifact store."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        database(),
        "--artifacts-destination",
        (tmp_path / "artifacts").as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    environment = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(tmp_path / "mlflow-server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        assert server.poll() is None, (tmp_path / "mlflow-server.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the MLflow server did not start in 120 s"
        time.sleep(0.5)
    yield url
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def _start_worker(path, storage: str, tracking_uri: str, number: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "hpsearch", "worker", str(path), "--quiet"]
    command += ["--storage", storage, "--tracking-uri", tracking_uri]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TEST_WORKER": str(number)},
        start_new_session=True,  # SIGKILL reaches the worker alone, as on a crashed machine
    )


@pytest.mark.slow
def test_three_workers_share_twelve_trials_and_survive_a_killed_one(
    workdir, database, mlflow_server
):
    import optuna
    from mlflow import MlflowClient

    path = write_study(workdir, STUDY)
    (workdir / "pausing_builder.py").write_text(PAUSING_BUILDER)
    (workdir / "pause").touch()  # the first trial to build a model pauses
    storage = database()

    workers = [_start_worker(path, storage, mlflow_server, k) for k in range(3)]
    deadline = time.monotonic() + 180
    while not (paused := sorted(workdir.glob("paused-*"))):
        failed = [w.communicate()[1] for w in workers if w.poll() is not None]
        assert not failed, failed[0][-3000:]
        assert time.monotonic() < deadline, "no worker started a trial in 180 s"
        time.sleep(0.2)
    victim = workers.pop(int(paused[0].name.split("-")[1]))
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    for worker in workers:
        _, err = worker.communicate(timeout=400)
        assert worker.returncode == 0, err[-3000:]

    trials = optuna.load_study(study_name="shared-study", storage=storage).trials
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("shared-study")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("hpsearch.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("hpsearch.role") == "trial"]
    by_number = {int(c.data.tags["hpsearch.trial"]): c for c in children}
    # Shown by the assertions below: which worker ran what, and when.
    worker_of = {n: c.data.tags.get("hpsearch.worker") for n, c in by_number.items()}
    table = "\n".join(
        f"{t.number} {t.state.name} {t.datetime_start} {t.datetime_complete}"
        f" {worker_of.get(t.number)}"
        for t in trials
    )

    states = Counter(trial.state.name for trial in trials)
    assert states["RUNNING"] == 0 and states["WAITING"] == 0, table
    assert states["COMPLETE"] + states["PRUNED"] == 12, table  # the total, across workers
    assert states["FAIL"] == 1, table  # the killed worker's trial, failed by heartbeat
    killed_number = next(t.number for t in trials if t.state.name == "FAIL")
    # Workers that started together did not draw the same candidates.
    drawn = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(drawn)) == len(drawn)

    assert len(parents) == 1
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    numbers = Counter(int(c.data.tags["hpsearch.trial"]) for c in children)
    assert sorted(numbers) == list(range(13)) and set(numbers.values()) == {1}  # each once
    assert not [c for c in children if c.info.status == "RUNNING"]
    assert by_number[killed_number].info.status == "KILLED"
    assert by_number[killed_number].data.tags["hpsearch.state"] == "FAIL"
    # Each trial run names the worker (host:pid) that ran it: the killed trial, the victim.
    host = socket.gethostname()
    ran = dict(worker_of)
    assert ran.pop(killed_number) == f"{host}:{victim.pid}", table
    assert set(ran.values()) <= {f"{host}:{w.pid}" for w in workers}, table
    assert "hpsearch.worker" not in parent.data.tags
    for trial in trials:
        if trial.state.name == "COMPLETE":
            recorded = by_number[trial.number]
            assert recorded.data.tags["hpsearch.state"] == "COMPLETE"
            assert recorded.data.metrics["cv_score"] == pytest.approx(trial.value)

    # The study was finished once it was complete: best score, refitted model, plots.
    parent = client.get_run(parent.info.run_id)
    assert parent.info.status == "FINISHED"
    best = max(t.value for t in trials if t.state.name == "COMPLETE")
    assert parent.data.metrics["best_score"] == pytest.approx(best)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"best_model", "leaderboard.csv", "plots"} <= artifacts
    board = client.download_artifacts(parent.info.run_id, "leaderboard.csv", str(workdir))
    with open(board) as stream:
        rows = list(csv.DictReader(stream))
    assert {int(row["trial"]): row["worker"] for row in rows} == worker_of  # who ran what


def _backend_of_a_worker(workdir, storage: str, text: str):
    """The Optuna backend of a worker on ``storage`` (no trainer: it trains nothing), its
    Optuna study, and the same study as another worker sees it."""
    import optuna

    from hpsearch.search.coordination import StudyMutex
    from hpsearch.search.optuna_search import OptunaBackend
    from hpsearch.study import load_study
    from hpsearch.tracking.tracker import StudyTracker

    study = load_study(write_study(workdir, text))
    tracker = StudyTracker.open(study, study.tracking_uri(), tags={})
    backend = OptunaBackend(study, None, tracker, None, mutex=StudyMutex(storage, study.name))
    optuna_study = backend.open_study()  # creates the study the other worker loads
    return backend, optuna_study, optuna.load_study(study_name=study.name, storage=storage)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # trials asked for by hand
def test_a_trial_another_worker_starts_while_this_one_looks_for_dead_ones_trains_on(
    workdir, database, monkeypatch
):
    """A worker closes the MLflow runs of dead workers' trials: those whose Optuna trial
    failed by heartbeat. It reads Optuna, then MLflow; a trial that another worker starts
    between the two reads is RUNNING in MLflow and must stay so."""
    import optuna

    from hpsearch.tracking.tracker import TrialRun

    storage = database()
    text = TINY_OPTUNA.replace("  n_trials: 4", f"  n_trials: 4\n  storage: {storage}")
    text += "tracking: {system_metrics: false}\n"
    backend, optuna_study, other_worker = _backend_of_a_worker(workdir, storage, text)
    tracker = backend.tracker

    dead = optuna_study.ask()  # a worker that died in this trial; the heartbeat failed it
    dead_run = TrialRun.start(tracker, dead.number, {})
    optuna_study.tell(dead.number, state=optuna.trial.TrialState.FAIL)

    started = []
    read_mlflow = tracker.trials

    def another_worker_starts_a_trial_first():
        trial = other_worker.ask()
        started.append(TrialRun.start(tracker, trial.number, {}))
        return read_mlflow()

    monkeypatch.setattr(tracker, "trials", another_worker_starts_a_trial_first)
    backend._close_abandoned_runs(optuna_study)

    closed = tracker.client.get_run(dead_run.run_id)
    assert closed.info.status == "KILLED" and closed.data.tags["hpsearch.state"] == "FAIL"
    live = tracker.client.get_run(started[0].run_id)
    assert live.info.status == "RUNNING", live.data.tags.get("hpsearch.error")
    assert live.data.tags["hpsearch.state"] == "RUNNING"


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # trials asked for by hand
def test_a_trial_that_ends_while_a_worker_counts_is_counted_once(workdir, database, monkeypatch):
    """The budget is full (n_trials 1, another worker's trial running). That trial ends
    just as this worker counts: it must still find the budget spent, not run a second."""
    storage = database()
    text = TINY_OPTUNA.replace(
        "  n_trials: 4", f"  n_trials: 1\n  heartbeat: 1\n  storage: {storage}"
    )
    backend, optuna_study, other_worker = _backend_of_a_worker(workdir, storage, text)
    monkeypatch.setattr(backend, "_objective", lambda trial: 0.25)  # no training needed here
    running = other_worker.ask()

    read = optuna_study.get_trials
    ended = []

    def the_other_trial_ends_after_the_first_read(*args, **kwargs):
        trials = read(*args, **kwargs)
        if not ended:
            other_worker.tell(running.number, 0.5)
            ended.append(running.number)
        return trials

    monkeypatch.setattr(optuna_study, "get_trials", the_other_trial_ends_after_the_first_read)
    backend._run_shared(optuna_study)

    trials = other_worker.get_trials(deepcopy=False)
    assert [(t.number, t.state.name) for t in trials] == [(0, "COMPLETE")]


TAKING_OVER_BUILDER = """
from pathlib import Path

import optuna

from hpsearch.models.builders import build_dense


def build(meta, **params):
    flag = Path(__file__).with_name("take-over")  # holds the storage's URL
    if flag.exists():  # the first build: another worker finds this trial's heartbeat stale
        storage = optuna.storages.RDBStorage(flag.read_text())
        flag.unlink()
        study = optuna.load_study(study_name="taken-over", storage=storage)
        (running,) = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
        storage.set_trial_state_values(running._trial_id, optuna.trial.TrialState.FAIL)
    return build_dense(meta, **params)
"""


@pytest.mark.slow
def test_a_worker_whose_trial_another_worker_failed_records_it_failed_and_goes_on(
    workdir, database
):
    """A paused machine or a lost connection silences a worker's heartbeat; another worker
    then fails its trial and runs one in its place. When the first worker finishes that
    trial, it records it FAIL in MLflow (Optuna holds it FAIL) and goes on."""

    from hpsearch.runner import run_study
    from hpsearch.study import load_study

    storage = database()
    text = _two_trial_worker_study("taken-over", storage).replace(
        "builder: dense", "builder: taking_over_builder.py:build"
    )
    (workdir / "taking_over_builder.py").write_text(TAKING_OVER_BUILDER)
    (workdir / "take-over").write_text(storage)
    result = run_study(load_study(write_study(workdir, text, plots=False)), worker=True)

    _check_first_trial_taken_over(result, "taken-over", storage)
    assert result.best.number in (1, 2)


def _two_trial_worker_study(name: str, storage: str) -> str:
    return (
        TINY_OPTUNA.replace("name: tiny-optuna", f"name: {name}")
        .replace("  n_trials: 4", f"  n_trials: 2\n  storage: {storage}")
        .replace("epochs: 2", "epochs: 1")
    )


def _check_first_trial_taken_over(result, name: str, storage: str) -> None:
    """Trial 0 failed by another worker, recorded so, and two trials run in all."""
    import optuna

    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    runs = {r.number: r for r in result.trials}
    assert runs[0].state == "FAIL" and "another worker failed it" in runs[0].error
    assert runs[1].state == runs[2].state == "COMPLETE"


@pytest.mark.slow
def test_a_trial_failed_by_another_worker_while_it_is_recorded_is_recorded_failed(
    workdir, database, monkeypatch
):
    """The same takeover, later: another worker fails the trial after this worker looked
    for it and while it records the trial in MLflow. The tell finds the trial FAIL (with
    ``Study.optimize`` the worker crashed: "Should not reach."); the MLflow run is marked
    FAIL and the worker goes on."""
    import optuna

    from hpsearch.runner import run_study
    from hpsearch.study import load_study
    from hpsearch.tracking.tracker import TrialRun

    storage = database()
    text = _two_trial_worker_study("taken-over-late", storage)
    finish = TrialRun.finish
    failed = []

    def another_worker_fails_it_first(run, outcome):
        if not failed:  # the first trial, already looked at by its worker
            rdb = optuna.storages.RDBStorage(storage)
            other = optuna.load_study(study_name="taken-over-late", storage=rdb)
            (running,) = other.get_trials(states=(optuna.trial.TrialState.RUNNING,))
            rdb.set_trial_state_values(running._trial_id, optuna.trial.TrialState.FAIL)
            failed.append(running.number)
        finish(run, outcome)

    monkeypatch.setattr(TrialRun, "finish", another_worker_fails_it_first)
    result = run_study(load_study(write_study(workdir, text, plots=False)), worker=True)

    _check_first_trial_taken_over(result, "taken-over-late", storage)


def _sharing_worker_study(storage: str) -> str:
    """``SHARING`` as a worker's study: its first trial's 1-epoch sibling is recorded."""
    text = SHARING.format(name="sharing-worker", n_trials=1, share="true", epochs=3)
    text = text.replace("pruner: median", "pruner: none").replace(
        "  backend: optuna\n", f"  backend: optuna\n  storage: {storage}\n  heartbeat: 1\n"
    )
    return text + "tracking: {system_metrics: false}\n"


@pytest.mark.slow
@pytest.mark.parametrize("silent", [False, True], ids=["slow-tracking", "silent-worker"])
def test_a_shorter_sibling_trial_stays_alive_while_it_is_recorded(
    workdir, database, monkeypatch, silent
):
    """``search.share_epochs`` records a trial's better shorter candidate as a trial of
    its own, created by hand outside ``Study.optimize``. While its MLflow run is recorded
    (here: a tracking server that takes longer than the grace period), another worker
    looking for dead workers' trials must find it alive. A worker that was truly silent
    (``silent``: the other worker failed the sibling) records it failed and goes on."""
    import optuna

    from hpsearch.runner import run_study
    from hpsearch.search.optuna_trials import GRACE_HEARTBEATS
    from hpsearch.study import load_study
    from hpsearch.tracking.tracker import TrialRun

    storage = database()
    (workdir / "unlearning.py").write_text(UNLEARNING_BUILDER)
    study = load_study(write_study(workdir, _sharing_worker_study(storage)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        other_storage = optuna.storages.RDBStorage(
            storage, heartbeat_interval=1, grace_period=GRACE_HEARTBEATS
        )
    start = TrialRun.start.__func__

    def slow_start(cls, tracker, number, params, shared_from=None):
        if shared_from is not None:  # the sibling's run
            other_worker = optuna.load_study(study_name="sharing-worker", storage=other_storage)
            if silent:
                trial_id = other_worker.trials[number]._trial_id
                other_storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
            else:
                time.sleep(GRACE_HEARTBEATS + 1.5)  # a slow tracking server
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(other_worker)
        return start(cls, tracker, number, params, shared_from)

    monkeypatch.setattr(TrialRun, "start", classmethod(slow_start))
    result = run_study(study, worker=True)

    trials = optuna.load_study(study_name="sharing-worker", storage=storage).trials
    assert [(t.params["epochs"], t.user_attrs.get("shared_from")) for t in trials] == [
        (3, None),
        (1, 0),
    ]
    runs = {r.number: r for r in result.trials}
    assert runs[0].state == "COMPLETE" and trials[0].state.name == "COMPLETE"
    if silent:
        assert trials[1].state.name == "FAIL"
        assert runs[1].state == "FAIL" and "another worker failed it" in runs[1].error
    else:
        assert trials[1].state.name == "COMPLETE"
        assert runs[1].state == "COMPLETE" and trials[1].value == runs[1].score
        assert trials[1].value > trials[0].value


def test_worker_refuses_a_sqlite_storage_and_a_grid(workdir):
    path = write_study(workdir, STUDY)
    refused = subprocess.run(
        [sys.executable, "-m", "hpsearch", "worker", str(path), "--storage", "sqlite:///x.db"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "search.storage" in refused.stderr
    assert "postgresql://" in refused.stderr

    grid = write_study(workdir, TINY_GRID, "grid.yaml")
    refused = subprocess.run(
        [sys.executable, "-m", "hpsearch", "worker", str(grid), "--storage", ADMIN_URL],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "search.backend" in refused.stderr
