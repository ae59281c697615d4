"""Shared helpers: every test runs in its own folder, so ``mlruns/`` is fresh and local.

Tests marked ``slow`` train many models or start processes; ``pytest -m "not slow"`` runs
the rest (the inner loop). The full suite starts the slow ones first, so that the two
workers end together instead of one waiting on a long test started last.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.pop("MLFLOW_TRACKING_URI", None)

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config) -> None:
    # The tests' folders in memory when the machine has /dev/shm: MLflow's and Optuna's
    # SQLite stores commit (and fsync) at every write, and a study writes hundreds of times.
    shm = Path("/dev/shm")
    if "PYTEST_DEBUG_TEMPROOT" not in os.environ and shm.is_dir() and os.access(shm, os.W_OK):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(shm)


def pytest_collection_modifyitems(config, items) -> None:
    """Slow tests first (a stable sort: each file's tests keep their order)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_study(folder: Path, text: str, name: str = "study.yaml", *, plots: bool = True) -> Path:
    """``text`` as the study file ``name``. ``plots=False`` adds ``tracking: {plots: false}``,
    for a test that does not look at the study's plots: drawing them costs about 1.5 s of
    CPU a run (matplotlib), and a plot that cannot be drawn is only a warning, so such a
    test proves nothing about them."""
    path = folder / name
    text = textwrap.dedent(text)
    if not plots:
        text = text.rstrip("\n") + "\ntracking: {plots: false}\n"
    path.write_text(text)
    return path


# Dense models: the cheapest real Keras training (a recurrent model's fit costs about twice
# as much here). The recurrent builders have tests of their own (test_builders.py,
# test_model_zoo.py, test_model_reuse.py, the estimator checks).
TINY_GRID = """
name: tiny-grid
task: classification
seed: 3
data:
  loader: digits
  params: {n_samples: 120, classes: 3}
model:
  builder: dense
search:
  backend: grid
  cv: 2
  space:
    units: [4, 6]
    epochs: [1, 2]
    batch_size: 32
"""

TINY_OPTUNA = """
name: tiny-optuna
task: classification
seed: 5
data:
  loader: digits
  params: {n_samples: 120, classes: 3}
model:
  builder: dense
search:
  backend: optuna
  n_trials: 4
  sampler: random
  cv: 2
  space:
    units: {low: 3, high: 6}
    dropout: {low: 0.0, high: 0.2}
    optimizer: [adam, rmsprop]
    learning_rate: {low: 1.0e-3, high: 1.0e-2, log: true}
    epochs: 2
    batch_size: 32
"""


# A builder whose shorter epochs score better (search.share_epochs records them).
UNLEARNING_BUILDER = """
import keras

from hpsearch.models.builders import build_dense


def build(meta, **params):
    \"\"\"Learns in its first 8 steps (the first epoch), then unlearns (gradient ascent).\"\"\"
    model = build_dense(meta, **params)
    rate = keras.optimizers.schedules.PiecewiseConstantDecay([8], [0.02, -0.05])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
"""


# A study of that builder whose first trial trains 3 epochs and scores best after 1.
SHARING = """
name: {name}
task: classification
seed: 7
data: {{loader: digits, params: {{n_samples: 120, classes: 3}}}}
model: {{builder: "unlearning.py:build"}}
search:
  backend: optuna
  n_trials: {n_trials}
  sampler: random
  pruner: median
  cv: 2
  share_epochs: {share}
  enqueue: [{{units: 16, epochs: {epochs}}}]
  space:
    units: [16, 32]
    epochs: [1, 2, 3]
    batch_size: 8
"""


def mlflow_client():
    from mlflow import MlflowClient

    # Absolute: MLflow caches its stores by URI, and each test has its own folder.
    return MlflowClient(tracking_uri=f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}")


def study_runs(name: str):
    """(parent run, child runs sorted by trial number) of a study in ./mlruns."""
    client = mlflow_client()
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("hpsearch.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("hpsearch.role") == "trial"]
    children.sort(key=lambda r: int(r.data.tags["hpsearch.trial"]))
    assert len(parents) == 1, f"expected one parent run, found {len(parents)}"
    return parents[0], children


def start_run(path: Path, *options: str) -> subprocess.Popen:
    """``hpsearch run`` in its own process (for signals); stdout is one line per trial."""
    return subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "run", str(path), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background by a non-interactive shell (`cmd &`) ignores
        # SIGINT, and a child inherits that: the tests' Ctrl-C would never land.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_trial_line(process: subprocess.Popen) -> None:
    for line in process.stdout:
        if line.startswith("trial"):
            return
    raise AssertionError(f"no trial finished: {process.communicate()}")


def run_to_completion(path: Path) -> None:
    """``hpsearch run`` in this process, which must succeed (a resume, typically, after a
    process of its own was interrupted or killed)."""
    from hpsearch.cli import main

    assert main(["run", str(path), "--quiet"]) == 0
