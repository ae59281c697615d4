"""Memory over many sequential trials: training in recycled workers vs in one process.

    python bench/memory.py [--trials 50] [--trials-per-process 10[,20,...]]

Runs the same Optuna study of small LSTMs on the digits (holdout validation) twice, each in
a fresh process: once as hpsearch does by default (trials in a worker process replaced every
``--trials-per-process`` trials) and once with every trial in the study's own process
(``trials_per_process: 0``). After every trial it records the memory of the whole process
tree (the study, the fork server, the worker) as the sum of PSS, so pages the fork server
shares with its worker count once. Memory growth across trials is the most common complaint
about KerasTuner, Optuna scripts and Ray Tune. Goal: growth <= 150 MB.

Growth is the peak of the last ten trials minus the peak of the first ten: a recycled
worker's memory rises and falls, so a single reading right after a recycle would flatter it.
Several intervals (``--trials-per-process 10,20``) weigh memory against the cost of
replacing workers: each run's wall time is reported beside its memory (replacing a worker
costs a fork, a model build and graph tracing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from harness import memory_growth, tree_pss_mib

STUDY = """
name: memory-bench
task: classification
seed: 1
data: {{loader: digits, params: {{n_samples: 400}}}}
model: {{builder: lstm}}
search:
  backend: optuna
  n_trials: {trials}
  trials_per_process: {trials_per_process}
  sampler: random
  cv: {{holdout: 0.25}}
  space:
    units: {{low: 4, high: 32}}
    dropout: [0.0, 0.2]
    epochs: 2
    batch_size: 64
"""


def measure(trials: int, trials_per_process: int) -> list[float]:
    """Run the study in this process; the tree's memory after each trial."""
    from hpsearch.runner import run_study
    from hpsearch.study import load_study

    memory: list[float] = []

    def record(outcome) -> None:
        memory.append(tree_pss_mib())
        print(f"trial {outcome.number:>3} {outcome.state:<8} {memory[-1]:7.1f} MiB", flush=True)

    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        path = Path(folder, "study.yaml")
        text = STUDY.format(trials=trials, trials_per_process=trials_per_process)
        path.write_text(textwrap.dedent(text))
        run_study(load_study(path), on_trial=record)
    return memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument(
        "--trials-per-process",
        default="10",
        help="comma-separated intervals, each run beside one with every trial in one process",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child is not None:
        print(json.dumps(measure(arguments.trials, arguments.child)), file=sys.stderr)
        return

    rows = []
    intervals = [int(value) for value in arguments.trials_per_process.split(",")]
    for per_process in [*intervals, 0]:
        command = [sys.executable, __file__, "--trials", str(arguments.trials)]
        started = time.perf_counter()
        child = subprocess.run(
            [*command, "--child", str(per_process)],
            stderr=subprocess.PIPE,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - started
        memory = json.loads(child.stderr.strip().splitlines()[-1])
        window = min(10, len(memory))
        first, last = max(memory[:window]), max(memory[-window:])
        growth = memory_growth(memory, window)
        mode = f"worker replaced every {per_process}" if per_process else "all in one process"
        rows.append(
            f"| {arguments.trials} | {mode} | {memory[0]:.0f} | {first:.0f} | {last:.0f}"
            f" | {max(memory):.0f} | {growth:+.0f} | {seconds:.0f} |"
        )
    print(
        "| trials | training | after trial 1 | peak, first 10 | peak, last 10 | peak | growth"
        " | wall s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
