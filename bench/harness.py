"""What the whole-command benchmarks share: a study in a fresh folder, `hpsearch run`
timed, the trial and parent runs it left in that folder's MLflow store, and the memory of a
process tree."""

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


def _run_command(options: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "hpsearch", "run", "study.yaml", "--quiet", *options]


def timed_run(folder: Path, *options: str) -> float:
    """Seconds of the whole ``python -m hpsearch run study.yaml --quiet [options]``."""
    started = time.perf_counter()
    subprocess.run(
        _run_command(options),
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def cpu_timed_run(folder: Path, *options: str) -> tuple[float, float]:
    """Seconds of the whole ``python -m hpsearch run`` (as ``timed_run``) and the CPU
    seconds of its process tree (study, fork server, workers), read every 0.2 s: their
    ratio is how many cores the command kept busy on average."""
    import psutil

    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        command = subprocess.Popen(
            _run_command(options),
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        root = psutil.Process(command.pid)
        cpu: dict[int, float] = {}  # the last reading of every process seen
        while command.poll() is None:
            for process in [root, *_children(root)]:
                try:
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                cpu[process.pid] = times.user + times.system
            time.sleep(0.2)
        wall = time.perf_counter() - started
        if command.returncode:
            errors.seek(0)
            sys.exit(f"hpsearch run failed:\n{errors.read().decode()[-3000:]}")
    return wall, sum(cpu.values())


def _children(process) -> list:
    import psutil

    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


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


def timeline(trials: list, parent, started: float) -> dict[str, float]:
    """Where a study's wall time went, from its MLflow records: ``started`` is when the
    command began (``time.time()``)."""

    def total(metric: str) -> float:
        return sum(trial.data.metrics.get(metric, 0.0) for trial in trials)

    first = min(t.info.start_time for t in trials) / 1000
    last = max(t.info.end_time for t in trials) / 1000
    return {
        "trained_epochs": int(total("trained_epochs")),
        "train_time": total("train_time"),
        "fit_time": total("fit_time"),
        "before_trials": first - started,  # start-up, data, baseline, parent run
        "trials": last - first,
        "after_trials": parent.info.end_time / 1000 - last,  # refit, test, model, plots
    }


def tree_pss_mib() -> float:
    """PSS of this process and all its descendants, in MiB (pages a fork server shares with
    its worker count once)."""
    import psutil

    root = psutil.Process()
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total / 2**20


def memory_growth(memory: list[float], window: int = 10) -> float:
    """Peak of the last ``window`` readings minus the peak of the first (at most a third of
    them each): a recycled worker's memory rises and falls, one reading would flatter it."""
    window = max(1, min(window, len(memory) // 3))
    return max(memory[-window:]) - max(memory[:window])
