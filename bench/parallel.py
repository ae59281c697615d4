"""Trials per hour with n_jobs 1 and 2, back to back, for both backends.

    python bench/parallel.py [--repeat 3] [--backend grid optuna]
        [--samples 900] [--units 8 16] [--epochs 4] [--rates 0.003 0.01]
        [--no-machine | --machine-only]

The same 8 candidates (an LSTM on 900 digits, units [8, 16] x batch size [16, 32] x
learning rate [0.003, 0.01], 4 epochs, 3 folds: 24 fits; ``--samples``, ``--units`` and
``--epochs`` make every trial bigger and ``--rates`` (4 candidates per learning rate) the
study longer, so that the fixed part of a command weighs less and
the trials per hour approach a long study's) run by ``python -m hpsearch run``
with ``--n-jobs 1`` and ``--n-jobs 2``, alternating, each in a fresh store:
- grid: one worker process against two, each taking whole groups of candidates that
  share a built model (``hpsearch.search.grid``);
- optuna (its grid sampler, so both draw the same candidates): one worker process
  against two Optuna threads each training in a worker of its own.
With 2 jobs each process's TensorFlow gets half the cores. Reports the median wall time
of the whole command and of the search alone (first trial's start to last trial's end, from
MLflow), trials per hour and the ratios, the cores the command kept busy (CPU seconds of
its process tree ÷ wall time: one job's TensorFlow uses the second core for part of each
step, which bounds what a second job can add), and checks that both found the same CV
scores. Then where the time went (medians): before the first trial (start-up, data,
baseline, parent run), the search, after the last trial (refit, plots, exit), the sum of
the trials' fit times (training and scoring: 2 jobs ÷ 1 job is how much slower a fit
runs beside another), and the workers' occupancy (that sum ÷ jobs × the search: the rest
is a worker waiting for TensorFlow's import, for its next trial, or idle at the end).
First, the machine's own bound (``--no-machine`` skips it): how much slower CPU-bound work
runs beside another copy than alone, for a Python loop, one-threaded float32 matrix products
and a plain Keras fit of a small LSTM with one TensorFlow thread (what a worker does with
2 jobs, without hpsearch), with one batch per call (also on TensorFlow's single-threaded
executor, which runs a call's ops on the calling thread) and with 32 batches per call into
TensorFlow — whatever hpsearch does, two jobs cannot beat 2 ÷ that here
(``--machine-only``: this alone).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from harness import cpu_timed_run, fresh_study, parent_run, timeline, trial_runs

STUDY = """
name: parallel-bench
task: classification
seed: 5
data: {{loader: digits, params: {{n_samples: {samples}}}}}
model: {{builder: lstm}}
search:
  backend: {backend}
  cv: 3
  space:
    units: {units}
    batch_size: [16, 32]
    learning_rate: {rates}
    epochs: {epochs}
"""
OPTUNA_OPTIONS = "optuna\n  sampler: grid\n  n_trials: {candidates}"


def candidate_count(rates: list[float]) -> int:
    """The study's candidates: units (2) x batch sizes (2) x learning rates."""
    return 2 * 2 * len(rates)


# (set-up, timed work): each copy sets up, waits until every copy is ready, then times
# its work; run alone, then two copies at once.
KERAS_SETUP = """
import keras
import tensorflow as tf
from sklearn.datasets import load_digits
if {single_threaded}:  # TensorFlow runs each call's ops on the calling thread, from now on
    tf.experimental.function_executor_type("SINGLE_THREADED_EXECUTOR").__enter__()
X, y = load_digits(return_X_y=True)
X, y = (X[:900] / 16).reshape(-1, 8, 8).astype("float32"), y[:900]
keras.utils.set_random_seed(0)
model = keras.Sequential(
    [keras.Input((8, 8)), keras.layers.LSTM(16), keras.layers.Dense(10, activation="softmax")]
)
model.compile("adam", "sparse_categorical_crossentropy", steps_per_execution={steps})
model.fit(X, y, batch_size=16, epochs=1, verbose=0)  # traced before the timing
"""
SPINS = {
    "Python loop": ("", "sum(i * i for i in range(25_000_000))"),
    "float32 matmul, 1 thread": (
        "import numpy as np; a = np.ones((600, 600), np.float32)",
        "for _ in range(500): a @ a",
    ),
    "Keras LSTM(16) fit, 12 epochs, 1 thread (no hpsearch)": (
        KERAS_SETUP.format(steps=1, single_threaded=False),
        "model.fit(X, y, batch_size=16, epochs=12, verbose=0)",
    ),
    # It hangs with more than one batch per call (the loop over them is a While op).
    "the same, on TensorFlow's single-threaded executor": (
        KERAS_SETUP.format(steps=1, single_threaded=True),
        "model.fit(X, y, batch_size=16, epochs=12, verbose=0)",
    ),
    "the same, 32 batches per call (hpsearch's default)": (
        KERAS_SETUP.format(steps=32, single_threaded=False),
        "model.fit(X, y, batch_size=16, epochs=12, verbose=0)",
    ),
}
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",  # as hpsearch sets a worker's with 2 jobs on 2 cores
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}
TIMED = """{setup}
import sys, time
print("ready", flush=True)
sys.stdin.readline()
started, cpu = time.perf_counter(), time.process_time()
{work}
print(time.perf_counter() - started, time.process_time() - cpu, flush=True)
"""


def _spin_seconds(setup: str, work: str, copies: int) -> tuple[float, float]:
    """Seconds the slowest of ``copies`` processes took over ``work``, started together
    once every copy has done ``setup`` (timed inside each: start-up is left out), and the
    cores the first kept busy meanwhile (its CPU seconds, every thread, ÷ wall)."""
    environment = {**os.environ, **ONE_THREAD}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", TIMED.format(setup=setup, work=work)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=environment,
        )
        for _ in range(copies)
    ]
    for process in processes:
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    timings = [process.communicate()[0].split() for process in processes]
    wall, cpu = (float(value) for value in timings[0])
    return max(float(timing[0]) for timing in timings), cpu / wall


def print_machine_bound(repeat: int) -> None:
    """How much slower CPU-bound work runs beside another copy than alone (medians of
    ``repeat`` alternating runs)."""
    print("| work | alone (s) | cores busy alone | two at once (s) | beside another ÷ alone |")
    print("| --- | --- | --- | --- | --- |")
    for name, (setup, work) in SPINS.items():
        alone, busy, together = [], [], []
        for _ in range(repeat):
            seconds, cores = _spin_seconds(setup, work, 1)
            alone.append(seconds)
            busy.append(cores)
            together.append(_spin_seconds(setup, work, 2)[0])
        a, b = statistics.median(alone), statistics.median(together)
        print(
            f"| {name} | {a:.2f} | {statistics.median(busy):.2f} | {b:.2f} | {b / a:.2f} |",
            flush=True,
        )
    print()


def run_once(backend: str, n_jobs: int, size: dict) -> tuple[float, float, dict, list[float]]:
    """Whole-command seconds, the cores the command kept busy on average (CPU seconds of
    its processes ÷ wall), where the time went (``harness.timeline``: ``trials`` is the
    search's own seconds, the first trial's start to the last trial's end), the scores."""
    optuna = OPTUNA_OPTIONS.format(candidates=candidate_count(size["rates"]))
    options = optuna if backend == "optuna" else "grid"
    with fresh_study(STUDY.format(backend=options, **size)) as folder:
        started = time.time()
        wall, cpu = cpu_timed_run(folder, "--n-jobs", str(n_jobs))
        runs = trial_runs(folder, "parallel-bench")
        spent = timeline(runs, parent_run(folder, "parallel-bench"), started)
    return wall, cpu / wall, spent, sorted(run.data.metrics["cv_score"] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", nargs="+", default=["grid", "optuna"])
    parser.add_argument("--samples", type=int, default=900, help="digits rows (at most 1797)")
    parser.add_argument("--units", type=int, nargs=2, default=[8, 16])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[0.003, 0.01],
        help="learning rates: 4 candidates each (a longer study amortises its fixed part)",
    )
    machine = parser.add_mutually_exclusive_group()
    machine.add_argument(
        "--no-machine", action="store_true", help="skip the machine's own two-process bound"
    )
    machine.add_argument(
        "--machine-only", action="store_true", help="only the machine's own two-process bound"
    )
    arguments = parser.parse_args()
    if not arguments.no_machine:
        print_machine_bound(arguments.repeat)
    if arguments.machine_only:
        return
    size = {
        "samples": arguments.samples,
        "units": list(arguments.units),
        "epochs": arguments.epochs,
        "rates": list(arguments.rates),
    }
    print(
        "| backend | n_jobs | median wall (s) | trials per hour (wall) |"
        " median search (s) | trials per hour (search) | cores busy |"
        " runs: wall / search (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    candidates = candidate_count(arguments.rates)
    summary = []
    breakdowns = []
    for backend in arguments.backend:
        walls: dict[int, list[float]] = {1: [], 2: []}
        spans: dict[int, list[float]] = {1: [], 2: []}
        busy: dict[int, list[float]] = {1: [], 2: []}
        spent: dict[int, list[dict]] = {1: [], 2: []}
        scores: dict[int, list[float]] = {}
        for _ in range(arguments.repeat):
            for n_jobs in (1, 2):
                wall, cores, parts, scores[n_jobs] = run_once(backend, n_jobs, size)
                busy[n_jobs].append(cores)
                walls[n_jobs].append(wall)
                spans[n_jobs].append(parts["trials"])
                spent[n_jobs].append(parts)
        breakdowns.append((backend, spent))
        for n_jobs in (1, 2):
            wall, span = statistics.median(walls[n_jobs]), statistics.median(spans[n_jobs])
            runs = ", ".join(
                f"{w:.1f} / {s:.1f}" for w, s in zip(walls[n_jobs], spans[n_jobs], strict=True)
            )
            print(
                f"| {backend} | {n_jobs} | {wall:.1f} | {3600 * candidates / wall:.0f} |"
                f" {span:.1f} | {3600 * candidates / span:.0f} |"
                f" {statistics.median(busy[n_jobs]):.2f} | {runs} |",
                flush=True,
            )
        ratio = statistics.median(walls[1]) / statistics.median(walls[2])
        search_ratio = statistics.median(spans[1]) / statistics.median(spans[2])
        same = all(abs(a - b) < 1e-9 for a, b in zip(scores[1], scores[2], strict=True))
        summary.append(
            f"{backend}: trials per hour, 2 jobs / 1 job: {ratio:.2f} whole command,"
            f" {search_ratio:.2f} search alone; same CV scores both ways: {same}"
        )
    print("\n".join(summary))
    print_breakdowns(breakdowns)


def print_breakdowns(breakdowns: list[tuple[str, dict[int, list[dict]]]]) -> None:
    """Medians of where each command's time went, and what 2 jobs did to the fits."""
    print(
        "\n| backend | n_jobs | before trials (s) | search (s) | after trials (s) |"
        " fit times, summed (s) | workers' occupancy |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    slower = []
    for backend, spent in breakdowns:
        fits = {}
        for n_jobs, runs in spent.items():
            part = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            fits[n_jobs] = part["fit_time"]
            occupancy = statistics.median(
                run["fit_time"] / (n_jobs * run["trials"]) for run in runs
            )
            print(
                f"| {backend} | {n_jobs} | {part['before_trials']:.1f} | {part['trials']:.1f} |"
                f" {part['after_trials']:.1f} | {part['fit_time']:.1f} | {occupancy:.2f} |"
            )
        slower.append(
            f"{backend}: a fit beside another takes {fits[2] / fits[1]:.2f}× its time alone"
        )
    print("\n".join(slower))


if __name__ == "__main__":
    main()
