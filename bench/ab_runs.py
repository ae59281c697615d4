"""Whole ``hpsearch run`` commands of this checkout against another, alternating.

    git worktree add /tmp/base <commit>
    python bench/ab_runs.py STUDY.yaml --base /tmp/base [--repeat 4] [-- --n-jobs 2 ...]

Each run copies the study file (and what sits beside it: builders, loaders) into a fresh
folder, so every run makes its own MLflow store, and runs ``python -m hpsearch run
study.yaml --quiet`` with this interpreter, timed whole as ``subprocess.run`` waits for it
(until the last process holding its output pipe has exited). The base side runs with
``PYTHONPATH=<base>``, so its ``hpsearch`` package is imported instead of this one: both
sides share the installed dependencies. The sides alternate (base first) ``--repeat``
times: on a noisy machine, the pairs' ratios and the medians say more than any one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(study: Path, base: str | None, options: list[str]) -> float:
    environment = dict(os.environ)
    if base is not None:
        environment["PYTHONPATH"] = base
    with tempfile.TemporaryDirectory() as folder:
        for path in study.parent.iterdir():
            if path.is_file() and path.suffix in (".yaml", ".yml", ".py", ".csv"):
                shutil.copy(path, folder)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "hpsearch", "run", study.name, "--quiet", *options],
            cwd=folder,
            env=environment,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("--base", required=True, help="the other checkout's folder")
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("options", nargs="*", help="after --: options of hpsearch run")
    arguments = parser.parse_args()
    study, base = arguments.study.resolve(), str(Path(arguments.base).resolve())
    walls: dict[str, list[float]] = {"base": [], "this": []}
    for _ in range(arguments.repeat):
        walls["base"].append(timed(study, base, arguments.options))
        walls["this"].append(timed(study, None, arguments.options))
        print(f"base {walls['base'][-1]:.1f} s, this {walls['this'][-1]:.1f} s", flush=True)
    medians = {side: statistics.median(values) for side, values in walls.items()}
    pairs = ", ".join(f"{t / b:.2f}" for b, t in zip(walls["base"], walls["this"], strict=True))
    print(
        f"median base {medians['base']:.1f} s, this {medians['this']:.1f} s:"
        f" this / base {medians['this'] / medians['base']:.2f} (pairs {pairs})"
    )


if __name__ == "__main__":
    main()
