"""Which of scikit-learn's own estimator checks do Keras models wrapped for scikit-learn pass?

    python bench/estimator_checks.py [--only NAME] [--json PATH]

Runs scikit-learn's whole suite, ``sklearn.utils.estimator_checks.check_estimator(estimator,
on_fail=None)`` (legacy checks included), in this one process against the same tiny model
(inputs -> 1 hidden Dense of 8 units -> output layer, 2 epochs) wrapped three ways:

- ``scikeras-*``: plain SciKeras 0.13 ``KerasClassifier`` / ``KerasRegressor``;
- ``keras-*``: Keras 3's ``keras.wrappers.SKLearnClassifier`` / ``SKLearnRegressor``;
- ``hpsearch-dense-*``: ``make_estimator(task, "dense", {"units": 8, "epochs": 2,
  "batch_size": 32}, seed=0)``, and ``hpsearch-lstm-*`` the same with ``"lstm"`` (units 4).

hpsearch's estimators are checked with the failures hpsearch declares as expected
(``EXPECTED_FAILED_CHECKS`` in ``hpsearch.models.estimator``, a dict or a function of the
estimator), which count as xfail; without it, none. Prints per estimator the checks passed,
failed, expected to fail (xfail) and skipped, its wall time, the failed checks' names (a
check run several times, with different arguments, is named once) and any declared as
failing that passed; ``--json`` writes the same with each failure's error.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import contextlib
import io
import json
import logging
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

TASKS = {"classifier": "classification", "regressor": "regression"}
STATUSES = ("passed", "failed", "xfail", "skipped")


def scikeras_model(meta):
    """SciKeras's model function: it reads the data's shape and classes from ``meta``."""
    import keras

    inputs = keras.Input(shape=(meta["n_features_in_"],))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    if "n_classes_" in meta:  # a KerasClassifier
        outputs = keras.layers.Dense(meta["n_classes_"], activation="softmax")(hidden)
    else:
        outputs = keras.layers.Dense(meta["n_outputs_expected_"] or 1)(hidden)
    return keras.Model(inputs, outputs)


def keras_wrapper_model(X, y, task):
    """Keras's wrapper calls it with the training rows; the classifier's ``y`` is one-hot."""
    import keras

    inputs = keras.Input(shape=(X.shape[1],))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    width = y.shape[1] if y.ndim > 1 else 1
    if task == "classification":
        outputs = keras.layers.Dense(width, activation="softmax")(hidden)
        loss = "categorical_crossentropy"
    else:
        outputs = keras.layers.Dense(width)(hidden)
        loss = "mse"
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss=loss)
    return model


def make_scikeras(task: str):
    from scikeras.wrappers import KerasClassifier, KerasRegressor

    if task == "classification":
        return KerasClassifier(
            model=scikeras_model,
            loss="sparse_categorical_crossentropy",
            optimizer="adam",
            epochs=2,
            verbose=0,
            random_state=0,
        )
    return KerasRegressor(
        model=scikeras_model, loss="mse", optimizer="adam", epochs=2, verbose=0, random_state=0
    )


def make_keras_wrapper(task: str):
    from keras.wrappers import SKLearnClassifier, SKLearnRegressor

    wrapper = SKLearnClassifier if task == "classification" else SKLearnRegressor
    return wrapper(
        model=keras_wrapper_model,
        model_kwargs={"task": task},
        fit_kwargs={"epochs": 2, "verbose": 0},
    )


def make_hpsearch(task: str, builder: str):
    from hpsearch.models.estimator import make_estimator

    units = 8 if builder == "dense" else 4
    return make_estimator(task, builder, {"units": units, "epochs": 2, "batch_size": 32}, seed=0)


def estimators() -> dict[str, Any]:
    """Name -> a function making the unfitted estimator (built only when it is checked)."""
    makers = {}
    for suffix, task in TASKS.items():
        makers[f"scikeras-{suffix}"] = lambda task=task: make_scikeras(task)
        makers[f"keras-{suffix}"] = lambda task=task: make_keras_wrapper(task)
        for builder in ("dense", "lstm"):
            makers[f"hpsearch-{builder}-{suffix}"] = lambda task=task, builder=builder: (
                make_hpsearch(task, builder)
            )
    return makers


def declared_expected_failures(name: str, estimator) -> tuple[dict[str, str] | None, str]:
    """The checks hpsearch declares as failing for ``estimator``, and where they came from.

    ``EXPECTED_FAILED_CHECKS`` may be a function of the estimator (as scikit-learn's
    ``parametrize_with_checks`` takes it), a ``{check: reason}`` dict, or such dicts keyed by
    estimator kind (the class, its name, the task or the builder).
    """
    if not name.startswith("hpsearch-"):
        return None, "none (not hpsearch's)"
    try:
        from hpsearch.models.estimator import EXPECTED_FAILED_CHECKS as declared
    except ImportError:
        return None, "none: hpsearch.models.estimator declares no EXPECTED_FAILED_CHECKS"
    if callable(declared):
        return dict(declared(estimator) or {}), "EXPECTED_FAILED_CHECKS(estimator)"
    if all(isinstance(reason, str) for reason in declared.values()):
        return dict(declared), "EXPECTED_FAILED_CHECKS"
    builder, suffix = name.split("-")[1:]
    kind = type(estimator)
    for key in (kind, kind.__name__, TASKS[suffix], f"{builder}-{TASKS[suffix]}", builder):
        if key in declared:
            return dict(declared[key]), f"EXPECTED_FAILED_CHECKS[{key!r}]"
    return None, f"none: EXPECTED_FAILED_CHECKS has no entry for {kind.__name__}"


def import_keras_quietly() -> None:
    """TensorFlow 2.21 prints its C++ start-up notes whatever TF_CPP_MIN_LOG_LEVEL says, so
    the import's standard error goes to /dev/null (a failed import still raises)."""
    sys.stderr.flush()
    saved = os.dup(2)
    silent = os.open(os.devnull, os.O_WRONLY)
    os.dup2(silent, 2)
    try:
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(silent)
    # "triggered tf.function retracing": every check builds new models.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def run_checks(name: str, make) -> dict[str, Any]:
    import keras
    from sklearn.utils.estimator_checks import check_estimator

    keras.utils.set_random_seed(0)
    estimator = make()
    expected, source = declared_expected_failures(name, estimator)
    started = time.perf_counter()
    # Keras's progress bars (its wrapper's clones forget verbose=0) and the checks' warnings.
    with (
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, expected_failed_checks=expected, on_fail=None)
    seconds = time.perf_counter() - started
    counts = Counter(result["status"] for result in results)
    return {
        "estimator": name,
        "class": f"{type(estimator).__module__}.{type(estimator).__name__}",
        "expected_failed_checks": source,
        "seconds": round(seconds, 1),
        **{status: counts.get(status, 0) for status in STATUSES},
        "failures": [
            {"check": result["check_name"], "error": _first_line(result["exception"])}
            for result in results
            if result["status"] == "failed"
        ],
        "xfails": [result["check_name"] for result in results if result["status"] == "xfail"],
        # Declared as failing, yet passed: a declaration to drop.
        "xpasses": [
            result["check_name"]
            for result in results
            if result["status"] == "passed" and result["expected_to_fail"]
        ],
        "skips": [
            {"check": result["check_name"], "reason": _first_line(result["exception"])}
            for result in results
            if result["status"] == "skipped"
        ],
    }


def _first_line(error: BaseException | None) -> str:
    text = f"{type(error).__name__}: {error}" if error is not None else ""
    return text.strip().partition("\n")[0][:300]


def print_table(records: list[dict[str, Any]]) -> None:
    print("| estimator | passed | failed | xfail | skipped | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    for record in records:
        counts = " | ".join(str(record[status]) for status in STATUSES)
        print(f"| {record['estimator']} | {counts} | {record['seconds']} |")
    for record in records:
        names = list(dict.fromkeys(failure["check"] for failure in record["failures"]))
        print(f"\n{record['estimator']} failed: {', '.join(names) or 'nothing'}")
        if record["estimator"].startswith("hpsearch-"):
            print(f"  expected failures: {record['expected_failed_checks']}")
        if record["xpasses"]:
            print(f"  expected to fail but passed: {', '.join(record['xpasses'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    makers = estimators()
    parser.add_argument("--only", choices=sorted(makers), help="check this estimator alone")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the records here")
    arguments = parser.parse_args()
    names = [arguments.only] if arguments.only else list(makers)
    import_keras_quietly()
    records = []
    for name in names:
        record = run_checks(name, makers[name])
        print(
            f"{name}: {record['passed']} passed, {record['failed']} failed,"
            f" {record['xfail']} xfail, {record['skipped']} skipped ({record['seconds']} s)",
            flush=True,
        )
        records.append(record)
    print()
    print_table(records)
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    main()
