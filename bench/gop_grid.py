"""hpsearch against the lecture's plain GridSearchCV script, on the same grid, back to back.

    python bench/gop_grid.py [--repeat 3] [--samples N] [--jit]

The grid: GOP-debate tweets, Embedding(2000, 32) + LSTM(32), batch size [10, 20, 40] x
epochs [1, 2, 3], 3 stratified folds, seed 42. One side is ``bench/lecture_grid.py`` (the
lecture's SciKeras + GridSearchCV script); the other ``python -m hpsearch run`` of the same
grid with full MLflow tracking (baseline, refit on all training tweets, test score, model,
plots). ``--samples 1500`` makes it the small-data grid (1,500 tweets before the 20% test
split). ``--jit`` adds a third side, hpsearch with ``model.jit_compile: true`` (the plain script
stays the lecture's, without XLA; so does the floor). The sides alternate, ``--repeat``
times each.

Reports the median wall time of each and their ratio, each side's best CV score, and where
the time went: the floor (every fit's epochs x the steady epoch time of its batch size, as
the plain script trains them, plus the plain script's start-up), tracing (first epochs'
excess over steady ones), scoring, tokenizing, start-up, and for hpsearch logging and the
study's own steps (baseline, refit, plots) from its MLflow records.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from harness import fresh_study, parent_run, timed_run, timeline, trial_runs

REPOSITORY = Path(__file__).resolve().parent.parent

STUDY = """
name: gop-grid-bench
task: classification
seed: 42
data:
  loader: gop_tweets
  params: {{test_size: 0.2, maxlen: 40, num_words: 2000, n_samples: {samples},
            data_dir: {data}}}
model:
  builder: lstm
  params: {{units: 32, embedding_dim: 32}}
  jit_compile: {jit}
search:
  backend: grid
  cv: 3
  metric: accuracy
  space:
    batch_size: [10, 20, 40]
    epochs: [1, 2, 3]
"""


def plain_run(samples: int | None) -> tuple[float, dict]:
    """Wall seconds of the lecture's script and what it printed."""
    command = [sys.executable, str(REPOSITORY / "bench" / "lecture_grid.py")]
    if samples:
        command += ["--samples", str(samples)]
    started = time.perf_counter()
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPOSITORY)
    wall = time.perf_counter() - started
    return wall, json.loads(output.stdout.strip().splitlines()[-1])


def hpsearch_run(samples: int | None, jit: bool) -> tuple[float, dict]:
    """Wall seconds of ``hpsearch run`` and what its MLflow records say of the time."""
    text = STUDY.format(
        samples="null" if samples is None else samples,
        data=REPOSITORY / "data",
        jit="true" if jit else "null",
    )
    with fresh_study(text) as folder:
        started = time.time()
        wall = timed_run(folder)
        trials = trial_runs(folder, "gop-grid-bench")
        parent = parent_run(folder, "gop-grid-bench")

    return wall, {
        "best_score": max(t.data.metrics["cv_score"] for t in trials),
        "scores": {
            f"{t.data.params['batch_size']}/{t.data.params['epochs']}": t.data.metrics["cv_score"]
            for t in trials
        },
        **timeline(trials, parent, started),
    }


def cv_epochs(plain: dict) -> list[dict]:
    """The plain script's epochs of cross-validation fits (not of its refit)."""
    return [e for e in plain["epochs"] if not e["refit"]]


def steady_epoch_times(epochs: list[dict]) -> dict[int, float]:
    """Median seconds of the epochs after the first, per batch size (the plain script's)."""
    later = defaultdict(list)
    for epoch in epochs:
        if epoch["epoch"] > 1:
            later[epoch["batch_size"]].append(epoch["seconds"])
    return {size: statistics.median(times) for size, times in later.items()}


def floor(plain: dict) -> float:
    """Steady training of every fit the grid asks for, plus the plain script's start-up."""
    epochs = cv_epochs(plain)
    steady = steady_epoch_times(epochs)
    return plain["startup"] + sum(steady[e["batch_size"]] for e in epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--jit", action="store_true", help="also hpsearch with jit_compile: true")
    arguments = parser.parse_args()
    sides = {
        "hpsearch run": False,
        **({"hpsearch run, jit_compile": True} if arguments.jit else {}),
    }
    plain_walls, plains = [], []
    walls: dict[str, list[float]] = {name: [] for name in sides}
    ours: dict[str, list[dict]] = {name: [] for name in sides}
    for _ in range(arguments.repeat):
        wall, plain = plain_run(arguments.samples)
        plain_walls.append(wall)
        plains.append(plain)
        print(f"plain script: {wall:.1f} s, best CV {plain['best_score']:.4f}", flush=True)
        for name, jit in sides.items():
            wall, record = hpsearch_run(arguments.samples, jit)
            walls[name].append(wall)
            ours[name].append(record)
            print(f"{name}: {wall:.1f} s, best CV {record['best_score']:.4f}", flush=True)
    report(plain_walls, plains, walls, ours)


def report(plain_walls, plains, walls: dict, ours: dict) -> None:
    plain_wall = statistics.median(plain_walls)
    floors = [floor(p) for p in plains]
    floor_median = statistics.median(floors)
    print()
    print("| side | median wall (s) | runs (s) | ÷ floor | best CV (runs) |")
    print("| --- | --- | --- | --- | --- |")
    for name, side_walls, records in (
        ("plain script", plain_walls, plains),
        *((name, walls[name], ours[name]) for name in walls),
    ):
        runs = ", ".join(f"{w:.1f}" for w in side_walls)
        scores = ", ".join(f"{r['best_score']:.4f}" for r in records)
        ratio = statistics.median(side_walls) / floor_median
        print(f"| {name} | {statistics.median(side_walls):.1f} | {runs} | {ratio:.2f} | {scores} |")
    for name, side_walls in walls.items():
        print(
            f"\n{name} ÷ plain: {statistics.median(side_walls) / plain_wall:.2f} (medians; per"
            " pair: "
            + ", ".join(f"{h / p:.2f}" for h, p in zip(side_walls, plain_walls, strict=True))
            + ")"
        )
    print(f"floor: {floor_median:.1f} s (runs: " + ", ".join(f"{f:.1f}" for f in floors) + ")")
    print("\nWhere the plain script's time goes (median over runs, s):")
    for name, value in _plain_breakdown(plains).items():
        print(f"  {name}: {value:.1f}")
    for side, records in ours.items():
        print(f"\nWhere the time of {side} goes (median over runs, s):")
        for name, value in _our_breakdown(records).items():
            print(f"  {name}: {value:.1f}")
    print("\nCandidates, mean CV score (plain | " + " | ".join(ours) + ", first run):")
    for key, score in plains[0]["scores"].items():
        others = " | ".join(
            f"{records[0]['scores'].get(key, float('nan')):.4f}" for records in ours.values()
        )
        print(f"  batch/epochs {key}: {score:.4f} | {others}")


def _plain_breakdown(plains: list[dict]) -> dict[str, float]:
    rows = defaultdict(list)
    for plain in plains:
        fits = cv_epochs(plain)
        steady = steady_epoch_times(fits)
        epochs = sum(e["seconds"] for e in fits)
        steady_sum = sum(steady[e["batch_size"]] for e in fits)
        first_excess = sum(e["seconds"] - steady[e["batch_size"]] for e in fits if e["epoch"] == 1)
        rows["process start-up (imports)"].append(plain["startup"])
        rows["data loading + tokenizing"].append(plain["load"] + plain["tokenize"])
        rows[f"steady epochs ({len(fits)} epochs)"].append(steady_sum)
        rows["first epochs' excess (tracing)"].append(first_excess)
        rows["other epoch variance"].append(epochs - steady_sum - first_excess)
        rows["fit outside epochs (build, compile)"].append(plain["fit_time"] - epochs)
        rows["scoring (predict)"].append(plain["score_time"])
        rows["refit of the best on all rows"].append(plain["refit_time"])
        rows["search total"].append(plain["search"])
    return {name: statistics.median(values) for name, values in rows.items()}


def _our_breakdown(ours: list[dict]) -> dict[str, float]:
    rows = defaultdict(list)
    for record in ours:
        rows["before the first trial (start-up, data, baseline)"].append(record["before_trials"])
        rows[f"epochs trained ({record['trained_epochs']}), their time"].append(
            record["train_time"]
        )
        rows["trials' fit and score time outside epochs"].append(
            record["fit_time"] - record["train_time"]
        )
        rows["trials: MLflow, scheduling"].append(record["trials"] - record["fit_time"])
        rows["after the last trial (refit, test, model, plots)"].append(record["after_trials"])
    return {name: statistics.median(values) for name, values in rows.items()}


if __name__ == "__main__":
    main()
