"""Trials per hour with n_jobs 1 and 2, back to back, for both backends.

    python bench/parallel.py [--repeat 3] [--backend grid optuna]

The same 8 candidates (an LSTM on 900 digits, units [8, 16] x batch size [16, 32] x
learning rate [0.003, 0.01], 4 epochs, 3 folds: 24 fits) run by ``python -m hpsearch run``
with ``--n-jobs 1`` and ``--n-jobs 2``, alternating, each in a fresh store:
- grid: one worker process (models reused) against joblib's two worker processes;
- optuna (its grid sampler, so both draw the same 8 candidates): one worker process
  against two Optuna threads each training in a worker of its own.
With 2 jobs each process's TensorFlow gets half the cores. Reports the median wall time,
trials per hour and the ratio, and checks that both found the same CV scores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

STUDY = """
name: parallel-bench
task: classification
seed: 5
data: {loader: digits, params: {n_samples: 900}}
model: {builder: lstm}
search:
  backend: BACKEND
  cv: 3
  space:
    units: [8, 16]
    batch_size: [16, 32]
    learning_rate: [0.003, 0.01]
    epochs: 4
"""
CANDIDATES = 8


OPTUNA_OPTIONS = f"optuna\n  sampler: grid\n  n_trials: {CANDIDATES}"


def run_once(backend: str, n_jobs: int) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "study.yaml")
        options = OPTUNA_OPTIONS if backend == "optuna" else "grid"
        path.write_text(textwrap.dedent(STUDY).replace("BACKEND", options))
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hpsearch",
                "run",
                str(path),
                "--quiet",
                "--n-jobs",
                str(n_jobs),
            ],
            cwd=folder,
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - started
        report = subprocess.run(
            [sys.executable, "-m", "hpsearch", "report", "parallel-bench", "--format", "json"],
            cwd=folder,
            check=True,
            capture_output=True,
            text=True,
        )
    rows = json.loads(report.stdout)["trials"]
    return wall, sorted(row["cv_score"] for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", nargs="+", default=["grid", "optuna"])
    arguments = parser.parse_args()
    print("| backend | n_jobs | median wall (s) | trials per hour | runs (s) |")
    print("| --- | --- | --- | --- | --- |")
    summary = []
    for backend in arguments.backend:
        walls: dict[int, list[float]] = {1: [], 2: []}
        scores: dict[int, list[float]] = {}
        for _ in range(arguments.repeat):
            for n_jobs in (1, 2):
                wall, scores[n_jobs] = run_once(backend, n_jobs)
                walls[n_jobs].append(wall)
        for n_jobs, values in walls.items():
            median = statistics.median(values)
            runs = ", ".join(f"{v:.1f}" for v in values)
            per_hour = 3600 * CANDIDATES / median
            print(f"| {backend} | {n_jobs} | {median:.1f} | {per_hour:.0f} | {runs} |", flush=True)
        ratio = statistics.median(walls[1]) / statistics.median(walls[2])
        same = all(abs(a - b) < 1e-9 for a, b in zip(scores[1], scores[2], strict=True))
        summary.append(
            f"{backend}: trials per hour, 2 jobs / 1 job: {ratio:.2f};"
            f" same CV scores both ways: {same}"
        )
    print("\n".join(summary))


if __name__ == "__main__":
    main()
