"""Bad input never costs results: malformed files, bad data, concurrent runs, SIGKILL."""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import (
    TINY_GRID,
    TINY_OPTUNA,
    mlflow_client,
    run_to_completion,
    start_run,
    study_runs,
    wait_for_trial_line,
    write_study,
)
from hpsearch.cli import main

VALID = yaml.safe_load(TINY_OPTUNA)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
PATHS = [
    ("name",),
    ("task",),
    ("seed",),
    ("data",),
    ("data", "loader"),
    ("data", "params"),
    ("model",),
    ("model", "builder"),
    ("model", "params"),
    ("model", "loss"),
    ("search",),
    ("search", "backend"),
    ("search", "n_trials"),
    ("search", "cv"),
    ("search", "metric"),
    ("search", "sampler"),
    ("search", "space"),
    ("search", "space", "units"),
    ("search", "space", "units", "low"),
    ("search", "space", "dropout", "high"),
    ("search", "space", "optimizer"),
    ("search", "timeout"),
    ("tracking",),
    ("tracking", "uri"),
]


@st.composite
def malformed_documents(draw) -> bytes:
    kind = draw(st.sampled_from(["replace", "delete", "unknown", "raw", "yaml-junk"]))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "yaml-junk":
        return draw(
            st.sampled_from(
                [
                    b"",
                    b"{",
                    b"name: [",
                    b": :",
                    b"- 1\n- 2",
                    b"\t\tname: x",
                    b"name: x\nname: y\n",
                    b"!!python/object:os.system x",
                ]
            )
        )
    document = yaml.safe_load(TINY_OPTUNA)
    path = draw(st.sampled_from(PATHS))
    target = document
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(target, dict) else target
    if not isinstance(target, dict):
        return yaml.safe_dump(document).encode()
    if kind == "replace":
        target[path[-1]] = draw(JUNK)
    elif kind == "delete":
        target.pop(path[-1], None)
    else:
        target[draw(st.sampled_from(["colour", "n_trial", "epoch", "Name"]))] = 1
    return yaml.safe_dump(document, allow_unicode=True).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(content=malformed_documents())
def test_malformed_study_files_are_one_line_errors_and_write_nothing(content):
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        path = Path(folder, "study.yaml")
        path.write_bytes(content)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = main(["validate", str(path)])
        if code == 0:
            return  # the edit happened to leave a valid study
        message = stderr.getvalue()
        assert code == 2, message
        assert message.startswith(f"error: {path}: ") and message.count("\n") == 1, message
        assert "Traceback" not in message
        with contextlib.redirect_stderr(io.StringIO()) as run_stderr:
            assert main(["run", str(path)]) == 2
        assert run_stderr.getvalue() == message
        assert not Path(folder, "mlruns").exists(), "a rejected study wrote to the stores"


LOADERS = {
    "missing_file": "def load():\n    return open('no/such/file.csv').read()\n",
    "nan_features": "import numpy as np\ndef load():\n    X = np.ones((20, 3, 2)); X[4, 1, 1] = np.nan\n    return X, [0, 1] * 10\n",
    "continuous_labels": "import numpy as np\ndef load():\n    return np.ones((20, 3, 2)), np.linspace(0, 1, 20)\n",
    "ragged_sequences": "def load():\n    return [[1, 2, 3], [1, 2]] * 10, [0, 1] * 10\n",
    "test_feature_count": "import numpy as np\ndef load():\n    return np.ones((20, 3, 2)), [0, 1] * 10, np.ones((4, 3, 5)), [0, 1] * 2\n",
    "single_class": "import numpy as np\ndef load():\n    return np.ones((20, 3, 2)), [1] * 20\n",
    "wrong_return": "def load():\n    return {'X': 1}\n",
    "missing_column": "import pandas as pd\ndef load():\n    frame = pd.DataFrame({'Open': [1.0] * 20})\n    return frame[['Close']].values, [0, 1] * 10\n",
    "length_mismatch": "import numpy as np\ndef load():\n    return np.ones((20, 3, 2)), [0, 1] * 9\n",
}
MESSAGES = {
    "missing_file": "found no file",
    "nan_features": "X contains NaN or infinite values",
    "continuous_labels": "y holds fractional values; is the task regression?",
    "ragged_sequences": "sequences of unequal length",
    "test_feature_count": "the test set has samples of shape (3, 5), the training set (3, 2)",
    "single_class": "classification needs at least 2 classes",
    "wrong_return": "must return (X, y), (X_train, y_train, X_test, y_test) or a Dataset, not dict",
    "length_mismatch": "X has 20 samples but y has 18",
    "missing_column": "failed: missing column or key",
}


@pytest.mark.parametrize("case", sorted(LOADERS))
def test_bad_data_is_a_clear_error_before_training(workdir, capsys, case):
    (workdir / "loader.py").write_text(LOADERS[case])
    path = write_study(
        workdir,
        TINY_GRID.replace("loader: digits", 'loader: "loader.py:load"').replace(
            "  params: {n_samples: 120, classes: 3}\n", ""
        ),
    )
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert MESSAGES[case] in err and err.count("\n") == 1, err
    assert not (workdir / "mlruns").exists()


HOLDING_BUILDER = """
import time
from pathlib import Path

from hpsearch.models.builders import build_dense


def build(meta, **params):
    pause = Path(__file__).with_name("pause")
    if pause.exists():
        held = pause.rename(pause.with_name("paused"))
        while held.exists():  # until the test lets this trial go on
            time.sleep(0.05)
    return build_dense(meta, **params)
"""


@pytest.mark.slow
def test_a_second_run_of_the_same_study_refuses(workdir, capsys):
    """A second ``run`` while the first is inside its second trial (its builder holds it
    there until the test has been refused; the seed draws other units than the first
    trial's, so the second trial builds a model) is refused, and the first goes on."""
    (workdir / "holding.py").write_text(HOLDING_BUILDER)
    path = write_study(
        workdir,
        TINY_OPTUNA.replace("n_trials: 4", "n_trials: 3").replace(
            "builder: dense", "builder: holding.py:build"
        ),
        plots=False,
    )
    first = start_run(path)
    try:
        wait_for_trial_line(first)
        (workdir / "pause").touch()
        deadline = time.monotonic() + 120
        while not (workdir / "paused").exists():
            assert time.monotonic() < deadline and first.poll() is None, "no second trial"
            time.sleep(0.05)
        assert main(["run", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"the study 'tiny-optuna' is already running (process {first.pid})" in err
    finally:
        (workdir / "paused").unlink(missing_ok=True)
        out, _ = first.communicate(timeout=300)
    assert first.returncode == 0
    _, children = study_runs("tiny-optuna")
    assert [c.data.tags["hpsearch.trial"] for c in children] == ["0", "1", "2"]
    # Off a terminal, progress is a line per trial with the count, elapsed time and ETA.
    lines = [line for line in out.splitlines() if line.startswith("trial")]
    assert len(lines) == 2 and "[2/3, " in lines[0] and ", eta " in lines[0]
    assert "[3/3, " in lines[1] and "eta" not in lines[1]


@pytest.mark.parametrize(
    "text",
    [TINY_OPTUNA.replace("n_trials: 4", "n_trials: 2"), TINY_GRID.replace("[1, 2]", "1")],
    ids=["optuna", "grid"],
)
def test_a_trial_killed_after_its_outcome_was_recorded_is_closed_and_kept(workdir, text):
    """A SIGKILL between recording a trial's outcome and closing its run (``TrialRun.finish``)
    left the run RUNNING for good. The next run of the study closes it and keeps its scores:
    nothing is trained again."""
    path = write_study(workdir, text, plots=False)
    name = yaml.safe_load(text)["name"]
    run_to_completion(path)
    _, children = study_runs(name)
    mlflow_client().update_run(children[0].info.run_id, status="RUNNING")  # as the kill left it
    run_to_completion(path)
    _, after = study_runs(name)
    assert [c.info.run_id for c in after] == [c.info.run_id for c in children]
    assert [c.info.status for c in after] == ["FINISHED"] * len(children)
    assert after[0].data.metrics == children[0].data.metrics


@pytest.mark.parametrize(
    "text, kills",
    [
        (TINY_OPTUNA.replace("epochs: 2", "epochs: 8"), 2),
        # One kill: a grid resumes by the same path however often it was killed.
        (
            TINY_GRID.replace("units: [4, 6]", "units: [3, 4, 5]").replace(
                "epochs: [1, 2]", "epochs: 12"
            ),
            1,
        ),
    ],
    ids=["optuna", "grid"],
)
@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(workdir, text, kills):
    path = write_study(workdir, text, plots=False)
    name = yaml.safe_load(text)["name"]
    chance = random.Random(1234)
    for _ in range(kills):
        process = start_run(path)
        wait_for_trial_line(process)
        time.sleep(chance.uniform(0.0, 3.0))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        _no_process_left_in(workdir)
    run_to_completion(path)

    parent, children = study_runs(name)
    assert parent.info.status == "FINISHED"
    assert not [
        c
        for c in children
        if c.info.status == "RUNNING" or c.data.tags["hpsearch.state"] == "RUNNING"
    ]
    complete = [
        int(c.data.tags["hpsearch.trial"])
        for c in children
        if c.data.tags["hpsearch.state"] == "COMPLETE"
    ]
    assert len(complete) == len(set(complete)), "a trial recorded twice"
    if "optuna" in name:
        study = optuna.load_study(
            study_name=name, storage=f"sqlite:///{Path('mlruns/optuna.db').resolve()}"
        )
        states = {t.number: t.state for t in study.trials}
        assert optuna.trial.TrialState.RUNNING not in states.values()
        done = sorted(n for n, s in states.items() if s == optuna.trial.TrialState.COMPLETE)
        assert done == sorted(complete) and len(done) == 4
    else:
        assert sorted(complete) == [0, 1, 2] and len(children) == 3


def _no_process_left_in(folder: Path, seconds: float = 20) -> None:
    """No fork server or worker of a killed study lives on (they run from its folder)."""
    deadline = time.monotonic() + seconds
    while True:
        left = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():  # this test itself
                continue
            try:
                if (proc / "cwd").resolve() == folder.resolve():
                    left.append((proc / "cmdline").read_bytes().replace(b"\0", b" ")[:120])
            except OSError:  # gone meanwhile, or not ours to read
                continue
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not left, f"still running after the study was killed: {left}"


def test_passwords_in_uris_are_not_printed(tmp_path, capsys):
    text = (
        TINY_OPTUNA
        + "  storage: postgresql://hp:s3cret@127.0.0.1:5432/optuna\ntracking:\n  uri: http://hp:s3cret@127.0.0.1:5000\n"
    )
    assert main(["validate", str(write_study(tmp_path, text))]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out and "postgresql://hp:***@127.0.0.1:5432/optuna" in out


def test_the_logged_study_file_has_no_password(workdir):
    (workdir / "remote.py").write_text(
        "from hpsearch.data.digits import load_digits_sequences\n"
        "def load(url):\n    return load_digits_sequences(n_samples=60, classes=2)\n"
    )
    text = (
        TINY_GRID.replace("loader: digits", 'loader: "remote.py:load"')
        .replace(
            "params: {n_samples: 120, classes: 3}", "params: {url: 'postgresql://hp:s3cret@db/x'}"
        )
        .replace("units: [4, 6]", "units: 2")
        .replace("epochs: [1, 2]", "epochs: 1")
    )
    assert main(["run", str(write_study(workdir, text, plots=False)), "--quiet"]) == 0
    parent, _ = study_runs("tiny-grid")
    logged = Path(parent.info.artifact_uri.removeprefix("file://")) / "study.yaml"
    assert "postgresql://hp:***@db/x" in logged.read_text()
    assert "s3cret" not in logged.read_text()
    assert not [value for value in parent.data.tags.values() if "s3cret" in value]


@pytest.mark.slow
def test_ui_on_another_host_warns(workdir):
    server = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "ui", "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        warning = server.stderr.readline()
    finally:
        server.kill()
        server.communicate()
    assert "warning: serving on 0.0.0.0" in warning and "basic-auth" in warning
