"""Optuna TPE with Hyperband pruning against the exhaustive grid, on the same space.

    python bench/search_efficiency.py [--trials 48] [--startup-trials 10] [--seed 42]

The space: an LSTM reading the digits row by row (``workloads.py``, 1,437 training rows,
3 stratified folds), units [8, 16, 32, 64] x learning rate [0.001, 0.003, 0.01, 0.03] x
optimizer [adam, rmsprop] x epochs [4, 8, 12], batch size 32: 96 candidates. Both are
``python -m hpsearch run`` in a fresh store, same seed: once ``backend: grid`` (which trains
each architecture's 12 epochs once per fold and scores the 4- and 8-epoch candidates on the
way), once ``backend: optuna`` with ``sampler: tpe``, ``pruner: hyperband`` and
``--trials`` trials over the same lists, the first ``--startup-trials`` of them drawn at
random (``search.startup_trials``; Optuna's default is 10).

A candidate's folds train the same way in both (same seed, same folds), so Optuna "reaches
the grid's best" when it finds a candidate scoring as well as the grid's best. Reports the
epochs each trained (``trained_epochs`` of the trial runs; for the grid also what a grid
without shared epochs trains), the wall time of the trials and of the whole command, and
for Optuna the epochs and time until its first trial at the grid's best score, and within
0.005 and 0.01 of it.
"""

from __future__ import annotations

import argparse

from harness import fresh_study, timed_run, trial_runs
from workloads import loader

STUDY_NAME = "search-efficiency"
STUDY = """
name: search-efficiency
task: classification
seed: {seed}
data: {{loader: "{loader}"}}
model: {{builder: lstm}}
search:
  backend: {backend}
  {optuna}
  cv: 3
  metric: accuracy
  space:
    units: [8, 16, 32, 64]
    learning_rate: [0.001, 0.003, 0.01, 0.03]
    optimizer: [adam, rmsprop]
    epochs: [4, 8, 12]
    batch_size: 32
"""
TOLERANCES = (0.0, 0.005, 0.01)


def run(backend: str, trials: int = 0, startup_trials: int = 10, seed: int = 42) -> dict:
    """``hpsearch run`` of the study with ``backend``; its trials in the order they ended."""
    optuna = (
        f"n_trials: {trials}\n  sampler: tpe\n  startup_trials: {startup_trials}\n"
        "  pruner: hyperband"
        if trials
        else ""
    )
    text = STUDY.format(loader=loader("digits"), backend=backend, optuna=optuna, seed=seed)
    with fresh_study(text) as folder:
        wall = timed_run(folder)
        runs = trial_runs(folder, STUDY_NAME)
    ended = {r.data.tags["hpsearch.trial"]: r.info.end_time for r in runs}

    def settled(r) -> tuple[int, bool]:
        """When a trial's result was known: a shared trial's is its longer trial's end."""
        parent = r.data.tags.get("hpsearch.shared_from")
        return (ended[parent] if parent is not None else r.info.end_time, parent is not None)

    runs.sort(key=settled)
    started = min(r.info.start_time for r in runs)
    trials_record = [
        {
            "score": r.data.metrics.get("cv_score")
            if r.data.tags["hpsearch.state"] == "COMPLETE"
            else None,
            "epochs": int(r.data.metrics.get("trained_epochs", 0)),
            "ended": (settled(r)[0] - started) / 1000,
            "shared": "hpsearch.shared_from" in r.data.tags,
            "params": {
                k: r.data.params[k] for k in ("units", "learning_rate", "optimizer", "epochs")
            },
            "state": r.data.tags["hpsearch.state"],
        }
        for r in runs
    ]
    return {"wall": wall, "trials": trials_record}


def best(record: dict) -> dict:
    return max((t for t in record["trials"] if t["score"] is not None), key=lambda t: t["score"])


def reaching(record: dict, target: float) -> dict | None:
    """Epochs, trials (those that trained) and seconds until the first trial scoring at
    least ``target``; a shared trial counts as known when its longer trial ended."""
    epochs = number = 0
    for trial in record["trials"]:
        epochs += trial["epochs"]
        number += 0 if trial["shared"] else 1
        if trial["score"] is not None and trial["score"] >= target - 1e-12:
            return {"trials": number, "epochs": epochs, "seconds": trial["ended"]}
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--startup-trials", type=int, default=10)
    parser.add_argument(
        "--seed", type=int, default=42, help="the study's seed: folds, initial weights, sampling"
    )
    arguments = parser.parse_args()
    grid = run("grid", seed=arguments.seed)
    optuna = run("optuna", arguments.trials, arguments.startup_trials, arguments.seed)
    grid_best = best(grid)
    grid_epochs = sum(t["epochs"] for t in grid["trials"])
    unshared = 3 * sum(int(t["params"]["epochs"]) for t in grid["trials"])
    grid_seconds = max(t["ended"] for t in grid["trials"])
    optuna_epochs = sum(t["epochs"] for t in optuna["trials"])
    print(
        f"grid: {len(grid['trials'])} candidates,"
        f" best {grid_best['score']:.4f} {grid_best['params']}"
    )
    print(
        f"  trained {grid_epochs} epochs ({unshared} without shared epochs), trials"
        f" {grid_seconds:.1f} s, whole command {grid['wall']:.1f} s"
    )
    optuna_best = best(optuna)
    states = [t["state"] for t in optuna["trials"] if not t["shared"]]
    shared = len(optuna["trials"]) - len(states)
    print(
        f"optuna: {len(states)} trials ({states.count('PRUNED')} pruned) and {shared} scored"
        f" from their epochs, best {optuna_best['score']:.4f} {optuna_best['params']}"
    )
    print(
        f"  trained {optuna_epochs} epochs, trials {max(t['ended'] for t in optuna['trials']):.1f}"
        f" s, whole command {optuna['wall']:.1f} s"
    )
    print(
        "\n| target | trials | epochs | ÷ grid's epochs | ÷ unshared grid's | seconds | ÷ grid's |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for tolerance in TOLERANCES:
        target = grid_best["score"] - tolerance
        hit = reaching(optuna, target)
        label = "grid's best" if not tolerance else f"grid's best - {tolerance}"
        if hit is None:
            print(f"| {label} ({target:.4f}) | not reached | | | | | |")
            continue
        print(
            f"| {label} ({target:.4f}) | {hit['trials']} | {hit['epochs']} |"
            f" {hit['epochs'] / grid_epochs:.2f} | {hit['epochs'] / unshared:.2f} |"
            f" {hit['seconds']:.1f} | {hit['seconds'] / grid_seconds:.2f} |"
        )


if __name__ == "__main__":
    main()
