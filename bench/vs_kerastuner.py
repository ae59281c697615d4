"""hpsearch (Optuna TPE + successive halving) against KerasTuner at the same trial budget.

    pip install -e '.[bench]'
    python bench/vs_kerastuner.py [--repeat 3 | --seeds 42,7,...] [--workload digits|waves]
        [--max-epochs 12] [--jit] [--tools random,...] [--startup-trials 10]
        [--pruner hyperband] [--sampler gp] [--budget 30] [--share-epochs] [--out runs.jsonl]
    python bench/vs_kerastuner.py --report runs.jsonl [more.jsonl ...]

The space, for every tool: an LSTM reading a workload's sequences (``workloads.py``: the
digits read row by row, 1,437 training rows and 360 test rows; or ``waves``, the frequency
of a noisy sine wave, 600 and 300), units 8-64 (log), learning rate 1e-4 to 3e-2 (log),
optimizer adam | rmsprop, epochs 2 to ``--max-epochs``, batch size 32, validated on the same
20% of the training rows. KerasTuner's Hyperband (max_epochs, factor 3) runs first and its
number of trials is the budget of the others: KerasTuner's RandomSearch and
BayesianOptimization (``bench/kerastuner_search.py``) and ``hpsearch`` (TPE with ``pruner:
successive_halving``, which makes ``epochs`` the pruner's budget, or the pruner ``--pruner``
names; ``cv: {holdout: 0.2}``, full MLflow tracking; ``--startup-trials`` sets
``search.startup_trials``, Optuna's default 10; with ``--jit`` also a run with
``model.jit_compile: true``; with ``--share-epochs``, ``search.share_epochs: true``, which
needs ``--pruner none`` or ``median``). Each is one fresh process, timed whole (imports,
search, refit of the best on all training rows, test score); they alternate ``--repeat``
times with seed 42, or once per seed of ``--seeds`` (the seed of every tool's sampling,
initial weights and shuffling, and of the validation rows): one search's best score is a
draw, and which tool draws best moves with the seed.

Reports per tool the median wall time, best validation accuracy (KerasTuner's own score is
the best epoch's; beside it, the best over its fits of the last epoch's, which is what
hpsearch scores a trial by), epochs trained, test accuracy of the refitted best and memory
growth over the trials (peak PSS of the process tree over the last third of the trials
minus the first third's); with seeds, a table per seed and, for hpsearch against each
KerasTuner tool, the mean difference in test accuracy with its paired 95% interval.
``--out`` appends every run as a JSON line as it finishes, so that a long benchmark can be
split (``taskset -c 0 ... --seeds 1,2 --out a.jsonl``, ``taskset -c 1 ... --seeds 3,4
--out b.jsonl``) and reported together with ``--report``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import fresh_study, memory_growth, parent_run, timeline, tree_pss_mib, trial_runs
from workloads import WORKLOADS, loader

BENCH = Path(__file__).resolve().parent
TOOLS = ("hyperband", "random", "bayesian", "hpsearch")
STUDY_NAME = "kerastuner-bench"
STUDY = """
name: kerastuner-bench
task: classification
seed: {seed}
data: {{loader: "{loader}"}}
model: {{builder: lstm, jit_compile: {jit}}}
search:
  backend: optuna
  n_trials: {trials}
  sampler: {sampler}
  startup_trials: {startup}
  pruner: {pruner}
  share_epochs: {share}
  cv: {{holdout: 0.2}}
  metric: accuracy
  space:
    units: {{low: 8, high: 64, log: true}}
    learning_rate: {{low: 1.0e-4, high: 3.0e-2, log: true}}
    optimizer: [adam, rmsprop]
    epochs: {{low: 2, high: {max_epochs}}}
    batch_size: 32
"""


def study_text(
    trials: int,
    max_epochs: int,
    jit: bool,
    startup: int = 10,
    seed: int = 42,
    pruner: str = "successive_halving",
    sampler: str = "tpe",
    share: bool = False,
    workload: str = "digits",
) -> str:
    return STUDY.format(
        seed=seed,
        share="true" if share else "null",
        pruner=pruner,
        sampler=sampler,
        loader=loader(workload),
        trials=trials,
        max_epochs=max_epochs,
        jit="true" if jit else "null",
        startup=startup,
    )


def hpsearch_child(study_path: str) -> None:
    """Run the study in this process (as ``hpsearch run`` does); print one JSON line."""
    import psutil

    from hpsearch.runner import run_study
    from hpsearch.study import load_study

    memory: list[float] = []
    result = run_study(load_study(study_path), on_trial=lambda _: memory.append(tree_pss_mib()))
    runs = trial_runs(Path(study_path).parent, STUDY_NAME)
    parent = parent_run(Path(study_path).parent, STUDY_NAME)
    complete = [r for r in runs if r.data.tags["hpsearch.state"] == "COMPLETE"]
    shared = sum("hpsearch.shared_from" in r.data.tags for r in runs)
    trained = len(runs) - shared
    print(
        json.dumps(
            {
                "trials": trained,  # those that trained: the budget
                "configurations": trained,  # each trial is one candidate
                "shared": shared,
                "pruned": sum(r.data.tags["hpsearch.state"] == "PRUNED" for r in runs),
                "epochs_trained": int(sum(r.data.metrics.get("trained_epochs", 0) for r in runs)),
                "best_val_accuracy": max(r.data.metrics["cv_score"] for r in complete),
                "test_accuracy": result.test_score,
                "best": result.best.params,
                "memory": memory,
                "timeline": timeline(runs, parent, psutil.Process().create_time()),
            }
        )
    )


def run_child(command: list[str], cwd: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    output = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if output.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{output.stderr[-3000:]}")
    return wall, json.loads(output.stdout.strip().splitlines()[-1])


def run_hpsearch(trials: int, arguments: argparse.Namespace, jit: bool, seed: int) -> dict:
    text = study_text(
        trials,
        arguments.max_epochs,
        jit,
        arguments.startup_trials,
        seed,
        arguments.pruner,
        arguments.sampler,
        arguments.share_epochs,
        arguments.workload,
    )
    with fresh_study(text) as folder:
        study = folder / "study.yaml"
        wall, record = run_child([sys.executable, __file__, "--child", str(study)], folder)
    return {**record, "wall": wall, "growth": memory_growth(record.pop("memory"))}


def run_kerastuner(
    tuner: str, trials: int, max_epochs: int, seed: int, workload: str = "digits"
) -> dict:
    text = study_text(trials, max_epochs, jit=False, seed=seed, workload=workload)  # the split
    with fresh_study(text) as folder:
        study = folder / "study.yaml"
        command = [
            sys.executable,
            str(BENCH / "kerastuner_search.py"),
            str(study),
            "--tuner",
            tuner,
            "--trials",
            str(trials),
            "--max-epochs",
            str(max_epochs),
            "--seed",
            str(seed),
        ]
        wall, record = run_child(command, folder)
    fits = record.pop("fits")[:-1]  # the last is the refit of the best
    return {**record, "wall": wall, "growth": memory_growth([f["pss_mib"] for f in fits])}


def hpsearch_name(arguments: argparse.Namespace, jit: bool) -> str:
    sampler = "TPE" if arguments.sampler == "tpe" else arguments.sampler
    name = "hpsearch, jit_compile" if jit else f"hpsearch ({sampler} + {arguments.pruner})"
    if arguments.startup_trials != 10:
        name += f", startup_trials {arguments.startup_trials}"
    if arguments.share_epochs:
        name += ", epochs shared"
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workload", choices=WORKLOADS, default="digits")
    parser.add_argument("--max-epochs", type=int, default=12)
    parser.add_argument("--jit", action="store_true", help="also hpsearch with jit_compile")
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help="which sides run, comma-separated (default: all; Hyperband runs anyway unless"
        " --budget is given: it sets the trial budget)",
    )
    parser.add_argument(
        "--startup-trials", type=int, default=10, help="hpsearch's random start (default 10)"
    )
    parser.add_argument(
        "--pruner",
        default="successive_halving",
        help="hpsearch's pruner (default successive_halving)",
    )
    parser.add_argument(
        "--sampler", default="tpe", help="hpsearch's sampler (default tpe; gp needs torch)"
    )
    parser.add_argument(
        "--share-epochs",
        action="store_true",
        help="hpsearch with search.share_epochs: true (a trial's better shorter epochs recorded)",
    )
    parser.add_argument(
        "--budget",
        type=int,
        help="the trial budget, instead of KerasTuner Hyperband's own count (Hyperband then"
        " runs only if --tools names it)",
    )
    parser.add_argument(
        "--seeds",
        help="comma-separated seeds: one run of every tool per seed instead of --repeat runs"
        " of seed 42",
    )
    parser.add_argument("--out", type=Path, help="append every run to this file (JSON lines)")
    parser.add_argument(
        "--report", type=Path, nargs="+", help="report the runs of these --out files; run none"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    tools = set(arguments.tools.split(","))
    if tools - set(TOOLS):
        parser.error(f"--tools: unknown {sorted(tools - set(TOOLS))}; choose from {TOOLS}")
    if arguments.child:
        hpsearch_child(arguments.child)
        return
    if arguments.report:
        records = [
            json.loads(line) for path in arguments.report for line in path.read_text().splitlines()
        ]
        report_all(records)
        return
    records: list[dict] = []

    def keep(name: str, record: dict, seed: int) -> None:
        record = {**record, "tool": name, "seed": seed, "workload": arguments.workload}
        records.append(record)
        show(record)
        if arguments.out:
            with arguments.out.open("a") as out:
                out.write(json.dumps(record) + "\n")

    budget = arguments.budget  # None: the first Hyperband run's number of trials
    seeds = [int(s) for s in arguments.seeds.split(",")] if arguments.seeds else None
    for seed in seeds or [42] * arguments.repeat:
        if budget is None or "hyperband" in tools:
            hyperband = run_kerastuner(
                "hyperband", 1, arguments.max_epochs, seed, arguments.workload
            )  # its own number of trials
            budget = budget or hyperband["trials"]
            keep("KerasTuner Hyperband", hyperband, seed)
        for tuner, name in (("random", "RandomSearch"), ("bayesian", "BayesianOptimization")):
            if tuner in tools:
                record = run_kerastuner(
                    tuner, budget, arguments.max_epochs, seed, arguments.workload
                )
                keep(f"KerasTuner {name}", record, seed)
        for jit in ((False, True) if arguments.jit else (False,)) if "hpsearch" in tools else ():
            keep(hpsearch_name(arguments, jit), run_hpsearch(budget, arguments, jit, seed), seed)
    report_all(records)


def report_all(records: list[dict]) -> None:
    """The tables of ``report`` and, where runs have seeds, ``report_seeds``: per workload."""
    for workload in dict.fromkeys(r.get("workload", "digits") for r in records):
        mine = [r for r in records if r.get("workload", "digits") == workload]
        results: dict[str, list[dict]] = {}
        for record in mine:
            results.setdefault(record["tool"], []).append(record)
        print(f"\n## {workload}")
        report(results, int(statistics.median(r["trials"] for r in mine)))
        seeds = sorted({r["seed"] for r in mine})
        if len(seeds) > 1:
            report_seeds(results, seeds)


def show(record: dict) -> None:
    print(
        f"{record['tool']}, seed {record['seed']}: {record['wall']:.1f} s,"
        f" {record['trials']} trials"
        + (f" (+{record['shared']} shared)," if record.get("shared") else ",")
        + f" {record['epochs_trained']} epochs,"
        f" best val {record['best_val_accuracy']:.4f},"
        f" test {record['test_accuracy']:.4f}, growth {record['growth']:+.0f} MiB",
        flush=True,
    )


def report(results: dict[str, list[dict]], budget: int) -> None:
    fastest_tuner = min(
        (
            statistics.median(r["wall"] for r in records)
            for name, records in results.items()
            if name.startswith("KerasTuner")
        ),
        default=math.nan,
    )
    print(f"\nTrial budget: {budget}. Medians over runs.\n")
    print(
        "| tool | wall (s) | ÷ fastest KerasTuner | trials | candidates | epochs trained"
        " | best val accuracy | test accuracy | memory growth (MiB) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, records in results.items():
        wall = statistics.median(r["wall"] for r in records)

        def runs(key: str, records=records) -> str:
            if len(records) > 3:  # many seeds: the mean (the per-seed table has each)
                return f"{statistics.mean(r[key] for r in records):.4f} (mean)"
            return ", ".join(f"{r[key]:.4f}" for r in records)

        validation = runs("best_val_accuracy")
        if "last_epoch_val_accuracy" in records[0]:
            validation += " (last epoch: " + runs("last_epoch_val_accuracy") + ")"
        print(
            f"| {name} | {wall:.1f} | {wall / fastest_tuner:.2f} |"
            f" {statistics.median(r['trials'] for r in records):.0f} |"
            f" {statistics.median(r.get('configurations', math.nan) for r in records):.0f} |"
            f" {statistics.median(r['epochs_trained'] for r in records):.0f} |"
            f" {validation} | {runs('test_accuracy')} |"
            f" {statistics.median(r['growth'] for r in records):+.0f} |"
        )
    for name, records in results.items():
        if "timeline" in records[0]:
            parts = {
                key: statistics.median(r["timeline"][key] for r in records)
                for key in records[0]["timeline"]
            }
            print(
                f"\n{name}, where the time goes (medians, s): "
                + ", ".join(f"{key} {value:.1f}" for key, value in parts.items())
            )


def report_seeds(results: dict[str, list[dict]], seeds: list[int]) -> None:
    """Per seed: best validation accuracy as each tool scores a trial (KerasTuner: its best
    epoch's), as hpsearch scores one (its last epoch, best over the trials) and the test
    accuracy of the refitted best; their means; and for hpsearch against each other tool,
    on the seeds both ran: the seeds where hpsearch's is at least that tool's, the mean
    difference in test accuracy with its paired 95% interval, and the median ratio of
    wall times."""
    names = list(results)
    by_seed = {name: {r["seed"]: r for r in records} for name, records in results.items()}

    def last_epoch(record: dict) -> float:
        return record.get("last_epoch_val_accuracy", record["best_val_accuracy"])

    print("\nvalidation as the tool scores it (last epoch) / test")
    print("\n| seed | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for seed in seeds:
        cells = []
        for name in names:
            r = by_seed[name].get(seed)
            cells.append(
                "–"
                if r is None
                else f"{r['best_val_accuracy']:.4f} ({last_epoch(r):.4f})"
                f" / {r['test_accuracy']:.4f}"
            )
        print(f"| {seed} | " + " | ".join(cells) + " |")
    means = [
        f"{statistics.mean(r['best_val_accuracy'] for r in results[n]):.4f}"
        f" ({statistics.mean(last_epoch(r) for r in results[n]):.4f}) /"
        f" {statistics.mean(r['test_accuracy'] for r in results[n]):.4f}"
        for n in names
    ]
    print("| mean | " + " | ".join(means) + " |")
    ours = next((n for n in names if n.startswith("hpsearch")), None)
    if ours is None:
        return
    print()
    for name in names:
        if name == ours:
            continue
        common = sorted(set(by_seed[ours]) & set(by_seed[name]))
        pairs = [(by_seed[ours][seed], by_seed[name][seed]) for seed in common]
        if not pairs:
            continue
        wins = {
            "validation as scored": sum(
                _at_least(a["best_val_accuracy"], b["best_val_accuracy"]) for a, b in pairs
            ),
            "last epoch": sum(_at_least(last_epoch(a), last_epoch(b)) for a, b in pairs),
            "test": sum(_at_least(a["test_accuracy"], b["test_accuracy"]) for a, b in pairs),
        }
        difference, low, high = paired_interval(
            [a["test_accuracy"] - b["test_accuracy"] for a, b in pairs]
        )
        ratio = statistics.median(a["wall"] / b["wall"] for a, b in pairs)
        print(
            f"{ours} >= {name}: "
            + ", ".join(f"{key} {won} of {len(pairs)}" for key, won in wins.items())
            + f"; test accuracy {difference:+.4f} (95% interval {low:+.4f} to {high:+.4f});"
            f" wall time {ratio:.2f}x"
        )


def paired_interval(differences: list[float]) -> tuple[float, float, float]:
    """The mean of paired differences and its 95% interval (Student's t)."""
    from scipy import stats

    mean = statistics.mean(differences)
    if len(differences) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.975, len(differences) - 1) * stats.sem(differences)
    return mean, mean - half, mean + half


def _at_least(ours: float, theirs: float) -> bool:
    """KerasTuner's scores are float32 (282/288 is 0.97916669), ours float64."""
    return ours >= theirs - 1e-6


if __name__ == "__main__":
    main()
