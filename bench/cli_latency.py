"""How long `--help` and `validate` take, against a bare Python start in the same run.

    python bench/cli_latency.py [--repeat 7]

Prints the median wall time of each command and its ratio to `python -c pass` measured
back to back, so the machine's noise cancels out. Goal: each answers in about a second.
The last case validates a study whose builder is a user's `file.py:function` that starts
with `import keras`, as every user builder does; its files are written to a temporary
folder, so the figure is the same on any checkout.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

USER_BUILDER = """\
import keras

from hpsearch.models.heads import output_layer


def build(meta, units=16, dropout=0.0):
    model = keras.Sequential([keras.Input(shape=meta["X_shape_"][1:])])
    model.add(keras.layers.LSTM(units, dropout=dropout))
    model.add(output_layer(meta))
    return model
"""

USER_STUDY = """\
name: user-builder
task: classification
data:
  loader: digits
model:
  builder: my_model.py:build
search:
  backend: optuna
  n_trials: 4
  space:
    units: {low: 8, high: 32}
    dropout: [0.0, 0.2]
    epochs: 2
"""


def commands(folder: Path) -> dict[str, list[str]]:
    (folder / "my_model.py").write_text(USER_BUILDER)
    (folder / "study.yaml").write_text(USER_STUDY)
    hpsearch = [sys.executable, "-m", "hpsearch"]
    return {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "hpsearch --help": [*hpsearch, "--help"],
        "hpsearch validate studies/quickstart.yaml": [
            *hpsearch,
            "validate",
            str(ROOT / "studies" / "quickstart.yaml"),
        ],
        "hpsearch validate study.yaml (builder my_model.py:build, import keras)": [
            *hpsearch,
            "validate",
            str(folder / "study.yaml"),
        ],
    }


def median_seconds(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as folder:
        cases = commands(Path(folder))
        results = {name: median_seconds(command, repeat) for name, command in cases.items()}
    baseline = results["python -c pass (baseline)"]
    print(f"| command | median of {repeat} (s) | ratio to bare python |")
    print("| --- | --- | --- |")
    for name, seconds in results.items():
        print(f"| `{name}` | {seconds:.3f} | {seconds / baseline:.1f} |")


if __name__ == "__main__":
    main()
