"""hpsearch from Python: a study as a file, a dict or a ``Study``; its run; its results.

``hpsearch`` re-exports these names (lazily: ``import hpsearch`` imports none of them)::

    import hpsearch

    def build(meta, units=32):
        import keras
        model = keras.Sequential([
            keras.Input(meta["X_shape_"][1:]),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(meta["n_classes_"], activation="softmax"),
        ])
        return model

    result = hpsearch.run({
        "name": "first",
        "task": "classification",
        "data": {"loader": "digits", "params": {"n_samples": 300}},
        "model": {"builder": build},
        "search": {"n_trials": 3, "trials_per_process": 0, "space": {"units": [16, 32]}},
    })
    result.leaderboard            # a DataFrame, best first
    model = result.load_best_model()

A study from Python is checked as a study file is, and errors are the same one-line
``UserError``s (``<study>: search.space.units: ...``). A loader or builder may be the
function itself; trials that train in other processes (``search.trials_per_process`` > 0,
the default) import it by its module and name, so there it must be a module's own function,
not a lambda or one defined in a notebook: such a study is refused before it runs, saying
to set ``search.trials_per_process: 0`` or to name it as ``"file.py:function"``.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import tempfile
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.errors import UserError

if TYPE_CHECKING:
    import keras
    import pandas as pd

    from hpsearch.results.report import Leaderboard
    from hpsearch.study import Study


def load_study(
    study: str | os.PathLike[str] | Mapping[str, Any] | Study,
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> Study:
    """A checked ``Study`` from a study file, a dict with the file's keys, or a ``Study``.

    A dict's ``"file.py:function"`` references resolve from ``base_dir``, by default the
    current folder (as ``open`` finds a relative path); a file's from its own folder. A
    loader or builder may also be given as the function itself. Raises ``UserError`` with
    the command line's one-line message (``<study>: search.space.units: low (200) must be
    <= high (128)``) on the first problem.
    """
    from hpsearch.study.reading import load_study as read

    return read(study, base_dir=base_dir)


def run(
    study: str | os.PathLike[str] | Mapping[str, Any] | Study,
    *,
    n_trials: int | None = None,
    n_jobs: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    tracking_uri: str | None = None,
    storage: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    quiet: bool = True,
) -> StudyResult:
    """Run the study, or resume it, as ``hpsearch run`` does; returns its ``StudyResult``.

    The keywords are the command's options, written over the study's keys: ``n_trials``
    (``search.n_trials``), ``n_jobs``, ``timeout`` (seconds), ``seed``, ``tracking_uri``
    (``tracking.uri``; default ``mlruns/`` in the current folder) and ``storage`` (Optuna's,
    ``search.storage``). ``base_dir``: where a dict's ``file.py:function`` references are
    (``load_study``). ``quiet=False`` shows the command's progress and, at the end, its
    leaderboard. Trials train in worker processes unless ``search.trials_per_process`` is
    0; those import the script that called ``run``, so in a script the call goes under
    ``if __name__ == "__main__":`` (Python's rule for the processes it starts; a notebook
    needs none). A study with no complete trial, counting earlier runs, returns its result
    with ``best_params`` None and warns with the trials' errors (the leaderboard's ``error``
    column). Ctrl-C (a notebook's interrupt) records the running trial and raises
    ``KeyboardInterrupt``; running it again resumes.
    """
    from hpsearch.console import RunDisplay, print_result
    from hpsearch.results.report import leaderboard_of_result
    from hpsearch.runner import run_study
    from hpsearch.study.reading import load_study as read

    overrides = {
        "search.n_trials": n_trials,
        "search.n_jobs": n_jobs,
        "search.timeout": timeout,
        "search.storage": storage,
        "tracking.uri": tracking_uri,
        "seed": seed,
    }
    caller = inspect.currentframe().f_back
    if caller.f_globals.get("__name__") == "__mp_main__":
        raise UserError(
            "hpsearch.run: called again by a worker process importing your script; put the"
            ' call under `if __name__ == "__main__":`'
        )
    checked = read(study, overrides, base_dir=base_dir)
    _check_script_guard(checked, caller)
    with RunDisplay(checked, quiet=quiet) as display, warnings.catch_warnings():
        # tqdm's advice to install ipywidgets, in a notebook, when a library imports it.
        warnings.filterwarnings("ignore", message="IProgress not found")
        outcome = run_study(checked, on_trial=display.trial_done, on_start=display.start)
    leaderboard = leaderboard_of_result(outcome)
    if not quiet:
        print_result(outcome, leaderboard)
    result = StudyResult.of(leaderboard, outcome.tracking_uri, outcome.parent_run_id, checked)
    if result.best_trial is None:
        reasons = "; ".join(f'{n} failed with "{error}"' for error, n in leaderboard.errors())
        warnings.warn(
            f"{result.name}: no trial completed" + (f": {reasons}" if reasons else ""),
            stacklevel=2,
        )
    return result


def _check_script_guard(study: Study, caller) -> None:
    """Refuse a call from a script's top level outside ``if __name__ == "__main__":`` when
    trials train in other processes: they import the script that started them (to find its
    functions, as multiprocessing does), and each would start the study again."""
    from hpsearch.study.references import settings_that_train_elsewhere

    script = getattr(sys.modules.get("__main__"), "__file__", None)
    settings = settings_that_train_elsewhere(study)
    in_script = caller.f_globals.get("__name__") == "__main__"
    if not (in_script and caller.f_code.co_name == "<module>" and script and settings):
        return
    try:
        tree = ast.parse(Path(script).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return
    line = caller.f_lineno
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and node.lineno <= line <= (node.end_lineno or 0):
            if "__name__" in ast.unparse(node.test) and "__main__" in ast.unparse(node.test):
                return
    raise UserError(
        f"hpsearch.run: trials train in worker processes, which import {script} and would"
        f' run it again: put the call under `if __name__ == "__main__":`, or set'
        f" {', '.join(settings)}"
    )


def load_results(name: str, *, tracking_uri: str | None = None) -> StudyResult:
    """The ``StudyResult`` of a study already run, read back from MLflow (what ``hpsearch
    report NAME`` prints). ``tracking_uri``: the store, by default ``MLFLOW_TRACKING_URI``
    or ``mlruns/`` in the current folder. A study the store lacks is a ``UserError``."""
    from hpsearch.results.report import leaderboard_of
    from hpsearch.study import resolve_tracking_uri
    from hpsearch.tracking.tracker import StudyTracker

    uri = resolve_tracking_uri(tracking_uri)
    tracker = StudyTracker.find(name, uri)
    return StudyResult.of(leaderboard_of(tracker), uri, tracker.parent_run_id, None)


@dataclass(repr=False)
class StudyResult:
    """A study's trials and best model, as MLflow holds them.

    ``leaderboard``: a pandas DataFrame, one row per trial, best first (then pruned, then
    failed): ``trial``, ``state``, ``score`` and ``score_std`` (the metric over the folds),
    one column per searched parameter, ``error`` (why a trial failed) and ``run_id`` (its
    MLflow run). ``best_*`` are None while no trial has completed. ``test_score``: the best
    candidate refitted on all training data, scored on the loader's test set (None without
    one). ``study``: the checked ``Study`` that ran (None when read back by name).
    """

    name: str
    metric: str
    direction: str
    leaderboard: pd.DataFrame
    best_trial: int | None
    best_params: dict[str, Any] | None
    best_score: float | None
    best_score_std: float | None
    test_score: float | None
    baseline: str | None
    baseline_score: float | None
    tracking_uri: str
    parent_run_id: str
    study: Study | None = None

    @classmethod
    def of(
        cls, leaderboard: Leaderboard, tracking_uri: str, parent_run_id: str, study
    ) -> StudyResult:
        best = leaderboard.best()
        return cls(
            name=leaderboard.study_name,
            metric=leaderboard.metric,
            direction=leaderboard.direction,
            leaderboard=_leaderboard_frame(leaderboard),
            best_trial=None if best is None else best.number,
            best_params=None if best is None else dict(best.params),
            best_score=None if best is None else best.score,
            best_score_std=None if best is None else best.score_std,
            test_score=leaderboard.test_score,
            baseline=leaderboard.baseline,
            baseline_score=leaderboard.study_metrics.get("baseline_score"),
            tracking_uri=tracking_uri,
            parent_run_id=parent_run_id,
            study=study,
        )

    def load_best_model(self) -> keras.Model:
        """The best candidate refitted on all training data, as ``hpsearch export`` writes it
        (``model.keras``): a Keras model that takes the loader's raw inputs (numbers are
        standardised inside it, raw text vectorised) and answers in the data's units. A
        classifier's model gives one probability per class, in the order of ``classes``."""
        import keras

        with _downloaded(self, "") as folder:
            return keras.saving.load_model(folder / "model.keras", safe_mode=True)

    @cached_property
    def classes(self) -> list | None:
        """The class labels, in the order of the best model's outputs (None: a regressor)."""
        import json

        with _downloaded(self, "estimator.json") as path:
            return json.loads(path.read_text()).get("classes")

    def __repr__(self) -> str:
        score = "-" if self.best_score is None else f"{self.best_score:.4f}"
        test = "" if self.test_score is None else f", test_score={self.test_score:.4f}"
        return (
            f"StudyResult(name={self.name!r}, trials={len(self.leaderboard)},"
            f" best_trial={self.best_trial}, best_score={score} ({self.metric}){test},"
            f" best_params={self.best_params})"
        )


def _leaderboard_frame(leaderboard: Leaderboard) -> pd.DataFrame:
    """The leaderboard's rows (``Leaderboard.as_rows``: best first) as a DataFrame, the
    score columns named as the metric's value is everywhere in Python: ``score``."""
    import pandas as pd

    rows = leaderboard.as_rows()
    errors = {trial.run_id: trial.error for trial in leaderboard.trials}
    for row in rows:
        row["error"] = errors.get(row["run_id"])
        row["run_id"] = row.pop("run_id")  # last, after the error
    frame = pd.DataFrame(rows, columns=_columns(rows))
    frame = frame.rename(columns={"cv_score": "score", "cv_score_std": "score_std"})
    for column in ("score", "score_std"):
        frame[column] = frame[column].astype(float)
    return frame


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns = ["trial", "state", "cv_score", "cv_score_std"]
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    return columns


@contextmanager
def _downloaded(result: StudyResult, name: str):
    """The refitted best model's folder (``name`` "") or one of its files, downloaded from
    the parent run into a temporary folder for the block."""
    from hpsearch.tracking.tracker import MODEL_ARTIFACT_DIR, StudyTracker

    tracker = StudyTracker.find(result.name, result.tracking_uri)
    if tracker.model_trial_run_id() is None:
        raise UserError(f"{result.name}: no refitted best model yet (no trial has completed)")
    artifact = f"{MODEL_ARTIFACT_DIR}/{name}" if name else MODEL_ARTIFACT_DIR
    saved = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # no bar in a notebook
    try:
        with tempfile.TemporaryDirectory(prefix="hpsearch-best-model-") as folder:
            path = tracker.client.download_artifacts(result.parent_run_id, artifact, folder)
            yield Path(path)
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = saved
