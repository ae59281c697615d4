"""KerasTuner on the search benchmark's space, the way its documentation writes it.

    python bench/kerastuner_search.py STUDY.yaml --tuner random|bayesian|hyperband
        [--trials N] [--max-epochs 12]

The model is the one hpsearch's ``lstm`` builder makes for the study's workload
(``workloads.py``: LSTM(units) and a softmax layer), compiled with the searched optimizer
and learning rate; the space is the study's: units 8-64 (log), learning rate 1e-4 to 3e-2
(log), optimizer adam | rmsprop, epochs 2-12 (Hyperband manages epochs itself, up to
``--max-epochs``), batch size 32. It trains on the rows the study's holdout trains on and
validates on its validation rows (``workloads.validation_split``), then refits the best
candidate on all training rows and scores the test rows, as ``hpsearch run`` does. Prints
one JSON line: wall time, best validation accuracy (KerasTuner's score: the best epoch's;
and the last epoch's), epochs trained, trials, the process's memory (PSS) after every fit,
and the test accuracy.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402

from harness import tree_pss_mib  # noqa: E402

FITS: list[dict] = []  # after each fit: time, memory, last epoch's validation accuracy
EPOCHS = [0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study")
    parser.add_argument("--tuner", choices=["random", "bayesian", "hyperband"], required=True)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--max-epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=42)
    arguments = parser.parse_args()

    import keras
    import keras_tuner
    import numpy as np
    from workloads import validation_split

    (X_train, y_train), (X_val, y_val), (X_all, y_all), (X_test, y_test) = validation_split(
        arguments.study
    )
    keras.utils.set_random_seed(arguments.seed)
    tuned_epochs = arguments.tuner != "hyperband"

    class CountEpochs(keras.callbacks.Callback):
        # KerasTuner deep-copies callbacks for every trial: count in module globals.
        def on_epoch_end(self, epoch, logs=None):
            EPOCHS[0] += 1

        def on_train_end(self, logs=None):  # Keras passes the last epoch's logs
            FITS.append(
                {
                    "time": time.time(),
                    "pss_mib": tree_pss_mib(),
                    "val_accuracy": (logs or {}).get("val_accuracy", float("nan")),
                }
            )

    class DigitsLSTM(keras_tuner.HyperModel):
        def build(self, hp):
            units = hp.Int("units", 8, 64, sampling="log")
            learning_rate = hp.Float("learning_rate", 1e-4, 3e-2, sampling="log")
            optimizer = hp.Choice("optimizer", ["adam", "rmsprop"])
            model = keras.Sequential(
                [
                    keras.Input(shape=X_train.shape[1:]),
                    keras.layers.LSTM(units),
                    keras.layers.Dense(int(y_all.max()) + 1, activation="softmax"),
                ]
            )
            optimizers = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}
            model.compile(
                optimizer=optimizers[optimizer](learning_rate=learning_rate),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
            return model

        def fit(self, hp, model, *args, **kwargs):
            if tuned_epochs:
                kwargs["epochs"] = hp.Int("epochs", 2, arguments.max_epochs)
            return model.fit(*args, batch_size=32, verbose=0, **kwargs)

    common = {
        "objective": "val_accuracy",
        "seed": arguments.seed,
        "directory": tempfile.mkdtemp(),
        "project_name": "digits",
        "overwrite": True,
    }
    if arguments.tuner == "random":
        tuner = keras_tuner.RandomSearch(DigitsLSTM(), max_trials=arguments.trials, **common)
    elif arguments.tuner == "bayesian":
        tuner = keras_tuner.BayesianOptimization(
            DigitsLSTM(), max_trials=arguments.trials, **common
        )
    else:
        tuner = keras_tuner.Hyperband(
            DigitsLSTM(), max_epochs=arguments.max_epochs, factor=3, **common
        )
    search_started = time.perf_counter()
    tuner.search(X_train, y_train, validation_data=(X_val, y_val), callbacks=[CountEpochs()])
    search_seconds = time.perf_counter() - search_started
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    best = tuner.oracle.get_best_trials(1)[0]
    best_hp = best.hyperparameters
    epochs = best_hp.get("epochs") if tuned_epochs else best_hp.get("tuner/epochs")

    # Refit the best candidate on all training rows; score the test rows once.
    keras.utils.set_random_seed(arguments.seed)
    model = DigitsLSTM().build(best_hp)
    model.fit(X_all, y_all, epochs=epochs, batch_size=32, verbose=0)
    test_accuracy = float(np.mean(model.predict(X_test, verbose=0).argmax(axis=1) == y_test))
    print(
        json.dumps(
            {
                "tuner": arguments.tuner,
                "wall": time.perf_counter() - STARTED,
                "search": search_seconds,
                "trials": len(trials),
                # Hyperband's promoted candidates are new trials that resume an earlier one's
                # checkpoint (round > 0): the candidates tried are the trials of round 0.
                "configurations": sum(
                    t.hyperparameters.values.get("tuner/round", 0) == 0 for t in trials
                ),
                "epochs_trained": EPOCHS[0],
                "best_val_accuracy": float(best.score),
                # KerasTuner keeps only a trial's best epoch: what hpsearch scores a trial by
                # (the last of the epochs it was given), best over the search's fits.
                "last_epoch_val_accuracy": max(
                    f["val_accuracy"] for f in FITS if not math.isnan(f["val_accuracy"])
                ),
                "best": {
                    name: best_hp.get(name) for name in ("units", "learning_rate", "optimizer")
                },
                "best_epochs": epochs,
                "test_accuracy": test_accuracy,
                "fits": FITS,
            }
        )
    )


if __name__ == "__main__":
    main()
