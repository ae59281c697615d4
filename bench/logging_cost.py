"""The share of a trial's wall time spent on MLflow tracking.

    python bench/logging_cost.py [--study studies/quickstart.yaml] [--n-trials 6]

Runs the study in this process (fresh store in a temporary folder, trials in the usual
worker process) with timers around everything hpsearch does in MLflow for a trial: opening
the child run (tags, params, the system-metrics sampler) and finishing it (the sampler's
last batch, the model summary, one ``log_batch`` of scores and curves, closing the run).
A trial's wall time is measured around the whole trial, tracking included. Also reports
the once-per-study steps: leaderboard, best parameters and the plots.

Runs twice: on the given study and on a tiny one whose trials take about a second (the
worst case for the share).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TINY = """
name: logging-cost-tiny
task: classification
seed: 3
data: {loader: digits, params: {n_samples: 120, classes: 3}}
model: {builder: gru}
search:
  backend: optuna
  n_trials: 12
  sampler: random
  cv: 2
  space:
    units: {low: 3, high: 6}
    optimizer: [adam, rmsprop]
    epochs: 1
    batch_size: 32
"""


def measure(study_path: Path, n_trials: int | None) -> dict[str, float]:
    from hpsearch import runner, tracking
    from hpsearch.study import load_study

    spent: dict[str, list[float]] = defaultdict(list)

    def timed(owner, name, label):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label].append(time.perf_counter() - started)

        setattr(owner, name, wrapper)
        return owner, name, original

    original_trial = tracking.StudyTracker.trial

    @contextlib.contextmanager
    def timed_trial(self, number, params):
        started = time.perf_counter()
        with original_trial(self, number, params) as run:
            yield run
        spent["trial wall"].append(time.perf_counter() - started)

    patches = [
        timed(tracking.TrialRun, "start", "open run"),
        timed(tracking.TrialRun, "finish", "finish run"),
        timed(runner, "_log_leaderboard", "leaderboard"),
        timed(runner, "_log_plots", "plots"),
    ]
    tracking.StudyTracker.trial = timed_trial
    try:
        study = load_study(study_path, {"search.n_trials": n_trials})
        started = time.perf_counter()
        runner.run_study(study)
        total = time.perf_counter() - started
    finally:
        tracking.StudyTracker.trial = original_trial
        for owner, name, original in patches:
            setattr(owner, name, original)
    trials = len(spent["trial wall"])
    per_trial = (sum(spent["open run"]) + sum(spent["finish run"])) / trials
    return {
        "trials": trials,
        "trial wall (median s)": statistics.median(spent["trial wall"]),
        "tracking per trial (s)": per_trial,
        "tracking share of trial wall (%)": 100 * per_trial / statistics.mean(spent["trial wall"]),
        "open run (median ms)": 1000 * statistics.median(spent["open run"]),
        "finish run (median ms)": 1000 * statistics.median(spent["finish run"]),
        "leaderboard (s)": sum(spent["leaderboard"]),
        "plots (s)": sum(spent["plots"]),
        "study wall (s)": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=ROOT / "studies" / "quickstart.yaml")
    parser.add_argument("--n-trials", type=int, default=6)
    arguments = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    study = arguments.study.resolve()
    results = {}
    for label, path, n_trials in (
        (study.name, study, arguments.n_trials),
        ("tiny trials", None, None),
    ):
        with tempfile.TemporaryDirectory(prefix="hpsearch-logging-cost-") as folder:
            os.chdir(folder)
            if path is None:
                path = Path(folder, "tiny.yaml")
                path.write_text(textwrap.dedent(TINY))
            else:
                (Path(folder) / "data").symlink_to(ROOT / "data")
            results[label] = measure(path, n_trials)
            os.chdir(ROOT)
    for label, numbers in results.items():
        print(f"\n{label}")
        for name, value in numbers.items():
            print(
                f"  {name:<36} {value:.3f}" if isinstance(value, float) else f"  {name:<36} {value}"
            )


if __name__ == "__main__":
    main()
