"""Trials per hour of a grid with n_jobs 1 and 2, back to back.

    python bench/parallel_grid.py [--repeat 2]

The same grid (an LSTM on 900 digits, units [8, 16] x batch size [16, 32] x learning rate
[0.003, 0.01], 4 epochs, 3 folds: 8 candidates, 24 fits) run by ``python -m hpsearch run``
with ``--n-jobs 1`` (one worker process, built models reused) and ``--n-jobs 2`` (joblib's
two worker processes, each with TensorFlow's thread pools sized to half the cores),
alternating, each in a fresh store. Reports the median wall time of each, trials per hour
and the ratio, and checks that both found the same CV scores.
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
  backend: grid
  cv: 3
  space:
    units: [8, 16]
    batch_size: [16, 32]
    learning_rate: [0.003, 0.01]
    epochs: 4
"""
CANDIDATES = 8


def run_once(n_jobs: int) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "study.yaml")
        path.write_text(textwrap.dedent(STUDY))
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
    return wall, [row["cv_score"] for row in sorted(rows, key=lambda row: row["trial"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    arguments = parser.parse_args()
    walls: dict[int, list[float]] = {1: [], 2: []}
    scores: dict[int, list[float]] = {}
    for _ in range(arguments.repeat):
        for n_jobs in (1, 2):
            wall, scores[n_jobs] = run_once(n_jobs)
            walls[n_jobs].append(wall)
            print(f"n_jobs={n_jobs}: {wall:.1f} s", flush=True)
    print("| n_jobs | median wall (s) | trials per hour | runs (s) |")
    print("| --- | --- | --- | --- |")
    for n_jobs, values in walls.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {n_jobs} | {median:.1f} | {3600 * CANDIDATES / median:.0f} | {runs} |")
    ratio = statistics.median(walls[1]) / statistics.median(walls[2])
    print(f"trials per hour, 2 jobs / 1 job: {ratio:.2f}")
    same = all(abs(a - b) < 1e-9 for a, b in zip(scores[1], scores[2], strict=True))
    print(f"same CV scores both ways: {same}")


if __name__ == "__main__":
    main()
