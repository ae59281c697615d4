"""Resident memory over many sequential trials in one process.

    python bench/memory.py [--trials 50] [--keep-keras-state]

Runs an Optuna study of small LSTMs on the digits (holdout validation) in this process and
records the RSS after every trial. Memory growth across trials is the most common complaint
about KerasTuner, Optuna scripts and Ray Tune; hpsearch clears Keras's global state after
each trial. ``--keep-keras-state`` skips that, for comparison. Goal: growth <= 150 MB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from pathlib import Path

import psutil

STUDY = """
name: memory-bench
task: classification
seed: 1
data: {{loader: digits, params: {{n_samples: 400}}}}
model: {{builder: lstm}}
search:
  backend: optuna
  n_trials: {trials}
  sampler: random
  cv: {{holdout: 0.25}}
  space:
    units: {{low: 4, high: 32}}
    dropout: [0.0, 0.2]
    epochs: 2
    batch_size: 64
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--keep-keras-state", action="store_true")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) after each trial")
    arguments = parser.parse_args()

    import hpsearch.search.base as base
    from hpsearch.runner import run_study
    from hpsearch.schema import load_study

    if arguments.keep_keras_state:
        base.release_trial_memory = lambda: None
    if arguments.trim:
        import ctypes

        release = base.release_trial_memory

        def release_and_trim() -> None:
            release()
            ctypes.CDLL("libc.so.6").malloc_trim(0)

        base.release_trial_memory = release_and_trim
    process = psutil.Process()
    rss: list[float] = []

    def record(outcome) -> None:
        rss.append(process.memory_info().rss / 2**20)
        print(f"trial {outcome.number:>3} {outcome.state:<8} rss {rss[-1]:7.1f} MiB", flush=True)

    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        path = Path(folder, "study.yaml")
        path.write_text(textwrap.dedent(STUDY.format(trials=arguments.trials)))
        run_study(load_study(path), on_trial=record)
    warm = rss[min(4, len(rss) - 1)]
    mode = "kept" if arguments.keep_keras_state else "cleared"
    print(
        f"| {arguments.trials} | Keras state {mode} | {rss[0]:.0f} | {warm:.0f} | {rss[-1]:.0f}"
        f" | {rss[-1] - warm:+.0f} |",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
