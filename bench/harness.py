"""What the whole-command benchmarks share: a study in a fresh folder, `hpsearch run`
timed, and the trial runs it left in that folder's MLflow store."""

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
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{folder}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name(study_name)
    runs = client.search_runs(
        [experiment.experiment_id], "tags.`hpsearch.role` = 'trial'", max_results=1000
    )
    return sorted(runs, key=lambda run: int(run.data.tags["hpsearch.trial"]))
