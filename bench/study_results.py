"""Run shipped studies from scratch and collect what docs/results.md reports.

    python bench/study_results.py studies/imdb_lstm.yaml [...] [--out results.jsonl]
    python bench/study_results.py --markdown results.jsonl > docs/results.md

Each study runs with ``python -m hpsearch run`` in a fresh folder (its own ``mlruns/``),
timed from the command's start to its exit, TensorFlow's start-up included. Then the
study's parent run is read back from MLflow: best parameters, CV score, test score, the
baseline and the extra test metrics. One JSON line per study is appended to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def run_one(study_path: Path) -> dict:
    study_path = study_path.resolve()
    settings = yaml.safe_load(study_path.read_text())
    name = settings["name"]
    cv = (settings.get("search") or {}).get("cv")
    holdout = isinstance(cv, dict) and "holdout" in cv  # one fold: no spread to report
    with tempfile.TemporaryDirectory(prefix="hpsearch-results-") as folder:
        started = time.perf_counter()
        finished = subprocess.run(
            [sys.executable, "-m", "hpsearch", "run", str(study_path), "--quiet"],
            cwd=folder,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        if finished.returncode != 0:
            return {
                "study": name,
                "file": study_path.name,
                "wall_s": wall,
                "error": finished.stderr[-2000:],
            }
        return {
            "file": study_path.name,
            "wall_s": round(wall, 1),
            "holdout": holdout,
            **_read_back(name, folder),
        }


def _read_back(name: str, folder: str) -> dict:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{Path(folder) / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parent = next(r for r in runs if r.data.tags.get("hpsearch.role") == "parent")
    trials = [r for r in runs if r.data.tags.get("hpsearch.role") == "trial"]
    tags = parent.data.tags
    best = next((r for r in trials if r.info.run_id == tags.get("hpsearch.best_run_id")), None)
    return {
        "study": name,
        "metric": tags.get("hpsearch.metric"),
        "backend": tags.get("hpsearch.backend"),
        "baseline": tags.get("hpsearch.baseline"),
        "trials": len(trials),
        "states": sorted(r.data.tags.get("hpsearch.state", "?") for r in trials),
        "best_params": json.loads(tags.get("hpsearch.best_params", "{}")),
        "best_cv_std": best.data.metrics.get("cv_score_std") if best else None,
        "metrics": dict(parent.data.metrics),
    }


def _number(value) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def _spread(row: dict) -> str:
    std = row.get("best_cv_std")
    holdout = row.get("holdout", not std)  # rows written before "holdout" was recorded
    return " (hold-out)" if holdout else f" ± {_number(std)}"


def markdown(lines: list[dict]) -> str:
    out = [
        "| study | metric | trials | CV score (best) | test score | baseline CV / test"
        " | other test metrics | wall time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    details = []
    for row in lines:
        if "error" in row:
            out.append(f"| {row['study']} | failed | | | | | | {row['wall_s']:.0f} s |")
            continue
        metrics = row["metrics"]
        extras = ", ".join(
            f"{name[5:]} {_number(value)}"
            + (
                f" (baseline {_number(metrics[f'baseline_{name}'])})"
                if f"baseline_{name}" in metrics
                else ""
            )
            for name, value in sorted(metrics.items())
            if name.startswith("test_") and name != "test_score"
        )
        out.append(
            f"| `{row['file']}` | {row['metric']} | {row['trials']} ({row['backend']})"
            f" | {_number(metrics.get('best_score'))}{_spread(row)}"
            f" | {_number(metrics.get('test_score'))}"
            f" | {row['baseline']}: {_number(metrics.get('baseline_score'))}"
            f" / {_number(metrics.get('baseline_test_score'))}"
            f" | {extras or '–'} | {row['wall_s'] / 60:.1f} min |"
        )
        details.append(f"- `{row['file']}`: best parameters `{json.dumps(row['best_params'])}`")
    return "\n".join(out) + "\n\nBest parameters:\n\n" + "\n".join(details) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results.jsonl"))
    parser.add_argument("--markdown", type=Path, help="print a table from a results file")
    args = parser.parse_args()
    if args.markdown:
        rows = [json.loads(line) for line in args.markdown.read_text().splitlines() if line]
        print(markdown(rows))
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"machine: {machine}", flush=True)
    for study in args.studies:
        row = run_one(study)
        with args.out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        summary = row.get("error") or json.dumps(row["metrics"])
        print(f"{study.name}: {row['wall_s']:.0f} s {summary}", flush=True)


if __name__ == "__main__":
    main()
