"""What the whole-command benchmarks share: a study in a fresh folder, `hpsearch run`
timed, and the trial and parent runs it left in that folder's MLflow store."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def fresh_study(text: str) -> Iterator[Path]:
    """A temporary folder holding ``study.yaml`` (its own ``mlruns/`` once run)."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "study.yaml").write_text(textwrap.dedent(text))
        yield Path(folder)


def timed_run(folder: Path, *options: str) -> float:
    """Seconds of the whole ``python -m hpsearch run study.yaml --quiet [options]``."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hpsearch", "run", "study.yaml", "--quiet", *options],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def trial_runs(folder: Path, study_name: str) -> list:
    """The study's trial runs in the folder's store, in trial order."""
    runs = _runs(folder, study_name, "trial")
    return sorted(runs, key=lambda run: int(run.data.tags["hpsearch.trial"]))


def parent_run(folder: Path, study_name: str):
    """The study's parent run in the folder's store."""
    (parent,) = _runs(folder, study_name, "parent")
    return parent


def _runs(folder: Path, study_name: str, role: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{folder}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name(study_name)
    return client.search_runs(
        [experiment.experiment_id], f"tags.`hpsearch.role` = '{role}'", max_results=1000
    )
