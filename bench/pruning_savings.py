"""Epochs trained, best score and wall time of the same Optuna study with and without pruning.

    python bench/pruning_savings.py [--trials 16] [--pruner median]

The study (an LSTM on the digits, 3 folds, TPE, learning rate, units and 4-10 epochs
searched) runs twice back to back, each with ``python -m hpsearch run`` in a fresh store:
once with ``pruner: none`` and once with the given pruner, the same seed. Reports the epochs
each trained in all (the trials' ``trained_epochs``), the best CV score and the wall time.
"""

from __future__ import annotations

import argparse

from harness import fresh_study, timed_run, trial_runs

STUDY = """
name: pruning-bench
task: classification
seed: 21
data: {{loader: digits, params: {{n_samples: 900}}}}
model: {{builder: lstm}}
search:
  backend: optuna
  n_trials: {trials}
  sampler: tpe
  pruner: {pruner}
  cv: 3
  space:
    units: {{low: 8, high: 48, log: true}}
    learning_rate: {{low: 1.0e-4, high: 3.0e-2, log: true}}
    epochs: {{low: 4, high: 10}}
    batch_size: 32
"""


def run(trials: int, pruner: str) -> dict[str, float]:
    with fresh_study(STUDY.format(trials=trials, pruner=pruner)) as folder:
        wall = timed_run(folder)
        runs = trial_runs(folder, "pruning-bench")
    states = [r.data.tags["hpsearch.state"] for r in runs]
    return {
        "trials": len(runs),
        "pruned": states.count("PRUNED"),
        "epochs trained": sum(r.data.metrics.get("trained_epochs", 0) for r in runs),
        "best cv accuracy": max(
            r.data.metrics["cv_score"] for r in runs if r.data.tags["hpsearch.state"] == "COMPLETE"
        ),
        "wall (s)": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--pruner", default="median")
    arguments = parser.parse_args()
    results = {name: run(arguments.trials, name) for name in ("none", arguments.pruner)}
    names = list(next(iter(results.values())))
    print("| pruner | " + " | ".join(names) + " |")
    print("| --- " * (len(names) + 1) + "|")
    for pruner, row in results.items():
        cells = [f"{row[n]:.4f}" if n == "best cv accuracy" else f"{row[n]:.0f}" for n in names]
        print(f"| {pruner} | " + " | ".join(cells) + " |")
    base, pruned = results["none"], results[arguments.pruner]
    print(
        f"epochs with pruning / without: {pruned['epochs trained'] / base['epochs trained']:.2f};"
        f" wall: {pruned['wall (s)'] / base['wall (s)']:.2f}"
    )


if __name__ == "__main__":
    main()
