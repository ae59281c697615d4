"""Wall time of a grid with and without reusing built models, back to back.

    python bench/model_reuse.py [--repeat 3]

The same small grid (the lecture's shape: batch size x epochs, 3 folds; an LSTM on the
digits) run by ``python -m hpsearch run`` with ``search.reuse_models`` true and false,
alternating, each in a fresh store. Reports the median wall time of each, their ratio, and
checks that every candidate's CV score is the same both ways.
"""

from __future__ import annotations

import argparse
import statistics

from harness import fresh_study, timed_run, trial_runs

STUDY = """
name: reuse-bench
task: classification
seed: 7
data: {{loader: digits, params: {{n_samples: 600}}}}
model: {{builder: lstm}}
search:
  backend: grid
  cv: 3
  reuse_models: {reuse}
  space:
    units: 32
    batch_size: [10, 20, 40]
    epochs: [1, 2, 3]
"""


def run_once(reuse: bool) -> tuple[float, list[float]]:
    with fresh_study(STUDY.format(reuse=str(reuse).lower())) as folder:
        wall = timed_run(folder)
        return wall, [run.data.metrics["cv_score"] for run in trial_runs(folder, "reuse-bench")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    walls: dict[bool, list[float]] = {True: [], False: []}
    scores: dict[bool, list[float]] = {}
    for _ in range(arguments.repeat):
        for reuse in (False, True):
            wall, scores[reuse] = run_once(reuse)
            walls[reuse].append(wall)
            print(f"reuse_models={reuse}: {wall:.1f} s", flush=True)
    fresh, reused = statistics.median(walls[False]), statistics.median(walls[True])
    print("| reuse_models | median wall (s) | runs (s) |")
    print("| --- | --- | --- |")
    for reuse, median in ((False, fresh), (True, reused)):
        runs = ", ".join(f"{w:.1f}" for w in walls[reuse])
        print(f"| {str(reuse).lower()} | {median:.1f} | {runs} |")
    print(f"ratio reused / fresh: {reused / fresh:.2f}")
    print(f"same CV scores for all {len(scores[True])} candidates: {scores[True] == scores[False]}")


if __name__ == "__main__":
    main()
