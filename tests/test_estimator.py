"""The SciKeras compatibility layer: scikit-learn must see classifiers and regressors."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, check_cv

from hpsearch.data.digits import load_digits_sequences
from hpsearch.errors import TrialFailed
from hpsearch.models.estimator import HpsearchClassifier, HpsearchRegressor, make_estimator
from hpsearch.models.folds import FoldPlan
from hpsearch.models.routing import WRAPPER_PARAMETERS


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_sequences(n_samples=90, classes=3)
    return X, y


def tiny(task="classification", builder="lstm", **params):
    """A tiny estimator: an LSTM, or (``builder="dense"``, where the test is about the
    wrapper and not the network) a cheaper dense model."""
    defaults = {"units": 4, "epochs": 2, "batch_size": 32}
    return make_estimator(task, builder, {**defaults, **params}, seed=0)


def test_scikeras_alone_is_mistagged_and_ours_is_not():
    from scikeras.wrappers import KerasClassifier, KerasRegressor

    assert not is_classifier(KerasClassifier())  # the bug this layer exists for
    assert not is_regressor(KerasRegressor())
    assert is_classifier(HpsearchClassifier())
    assert is_regressor(HpsearchRegressor())


def test_cross_validation_is_stratified_for_classifiers(digits):
    X, y = digits
    assert isinstance(check_cv(3, y, classifier=is_classifier(tiny())), StratifiedKFold)
    assert isinstance(check_cv(3, y, classifier=is_classifier(tiny("regression"))), KFold)
    # And GridSearchCV really uses it: with labels sorted, unstratified folds would each
    # hold a single class; stratified ones hold all three.
    ordered = np.argsort(y, kind="stable")

    def classes_in_fold(estimator, X_fold, y_fold):
        return len(np.unique(y_fold))

    search = GridSearchCV(
        tiny(builder="dense", epochs=1),
        {"units": [3]},
        cv=3,
        scoring=classes_in_fold,
        error_score="raise",
    )
    search.fit(X[ordered], y[ordered])
    assert search.best_score_ == 3


def test_parameters_are_the_study_names():
    estimator = tiny(dropout=0.1, learning_rate=0.01, optimizer="sgd")
    params = estimator.get_params()
    for name, value in {
        "units": 4,
        "dropout": 0.1,
        "learning_rate": 0.01,
        "optimizer": "sgd",
        "epochs": 2,
        "batch_size": 32,
        "builder": "lstm",
    }.items():
        assert params[name] == value
    estimator.set_params(units=7, learning_rate=0.5)
    copy = clone(estimator)
    assert copy.get_params()["units"] == 7 and copy.get_params()["learning_rate"] == 0.5
    assert copy is not estimator


def test_routing_reaches_builder_and_optimizer(digits):
    X, y = digits
    estimator = tiny(units=5, learning_rate=0.0123, optimizer="sgd", init="he_normal").fit(X, y)
    model = estimator.model_
    lstm = next(layer for layer in model.layers if layer.__class__.__name__ == "LSTM")
    assert lstm.units == 5
    assert lstm.kernel_initializer.__class__.__name__ == "HeNormal"
    assert model.optimizer.__class__.__name__ == "SGD"
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.0123)
    assert len(estimator.history_["loss"]) == 2


def test_predict_proba_and_pickling(digits):
    X, y = digits
    estimator = tiny(builder="dense").fit(X, y)
    probabilities = estimator.predict_proba(X)
    assert probabilities.shape == (len(X), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    restored = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_allclose(restored.predict_proba(X), probabilities, rtol=1e-5)
    binary = y[y < 2]
    fitted = tiny(builder="dense").fit(X[y < 2], binary)
    assert fitted.predict_proba(X[y < 2]).shape == (len(binary), 2)


def test_same_seed_same_model(digits):
    X, y = digits
    first = tiny().fit(X, y).predict_proba(X)
    second = tiny().fit(X, y).predict_proba(X)
    np.testing.assert_allclose(first, second, rtol=1e-6)


def test_fold_plan_gives_validation_curves_of_the_held_out_fold(digits, tmp_path):
    X, y = digits
    splits = list(StratifiedKFold(2, shuffle=True, random_state=0).split(X, y))
    plan = FoldPlan(X, y, splits, names=["units"], records_dir=tmp_path)
    search = GridSearchCV(
        tiny(builder="dense"), {"units": [3, 4]}, cv=splits, refit=False, error_score="raise"
    )
    search.fit(X, y, **plan.fit_params())
    for units in (3, 4):
        records = plan.collect({"units": units})
        assert [r["fold"] for r in records] == [0, 1]
        for record in records:
            assert set(record["history"]) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
            assert len(record["history"]["val_loss"]) == 2
    assert list(tmp_path.iterdir()) == []  # collected records are removed


def test_two_trials_that_drew_the_same_values_read_their_own_fold_records(digits, tmp_path):
    """Parallel Optuna trials may draw the same values and fit the same fold at once; each
    must collect its own fold's record (one is not overwritten by, or read as, the other's)."""
    X, y = digits
    splits = list(StratifiedKFold(2, shuffle=True, random_state=0).split(X, y))
    plan = FoldPlan(X, y, splits, names=["units"], records_dir=tmp_path)
    train = splits[0][0]
    # Same searched values; the epochs (not searched here) tell the two records apart.
    first_fit, second_fit = (
        tiny(builder="dense", units=3, epochs=1),
        tiny(builder="dense", units=3, epochs=2),
    )
    first_fit.fit(X[train], y[train], row_index=train, fold_plan=plan.for_trial(0))
    second_fit.fit(X[train], y[train], row_index=train, fold_plan=plan.for_trial(1))
    assert plan.collect({"units": 3}) == []  # a grid's records are named apart too
    (second,) = plan.for_trial(1).collect({"units": 3})
    (first,) = plan.for_trial(0).collect({"units": 3})
    assert len(first["history"]["loss"]) == first["trained_epochs"] == 1
    assert len(second["history"]["loss"]) == second["trained_epochs"] == 2
    assert plan.for_trial(None) is plan and plan.trial is None
    assert list(tmp_path.iterdir()) == []


REGULARIZED = """
import keras
from hpsearch.models.heads import output_layer

def build(meta, units=4, activity=False):
    regularizer = keras.regularizers.l2(0.05)
    return keras.Sequential([
        keras.Input(meta["X_shape_"][1:]),
        keras.layers.Flatten(),
        keras.layers.Dense(
            units,
            activation="relu",
            kernel_regularizer=regularizer,
            activity_regularizer=regularizer if activity else None,
        ),
        output_layer(meta),
    ])
"""


@pytest.mark.parametrize(
    "task, builder, params",
    [
        ("classification", "lstm", {}),
        ("regression", "regularized", {}),  # the weights' penalty is part of val_loss
        ("regression", "regularized", {"activity": True}),  # a loss of the call: evaluate
    ],
)
def test_fold_validation_equals_kerass_evaluate_after_every_epoch(
    digits, tmp_path, monkeypatch, task, builder, params
):
    """Validation curves come from one prediction per epoch, not from Keras's test step,
    yet equal what ``model.evaluate`` gives on the held-out rows after each epoch; the
    pruner's epoch score is the scorer's on that same prediction, without predicting
    again; and the plain model never traces a test step."""
    import keras
    from sklearn.metrics import get_scorer

    from hpsearch.models import estimator as estimator_module

    if builder == "regularized":
        (tmp_path / "regularized.py").write_text(REGULARIZED)
        builder = f"{tmp_path / 'regularized.py'}:build"
    X, y = digits
    labels = y
    if task == "regression":
        y = (y * 10 + np.linspace(100, 101, len(y))).astype("float32")
    splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, labels))
    plan = FoldPlan(X, y, splits, names=["units"], records_dir=tmp_path / "records")
    train, test = splits[1]
    scorer = get_scorer("accuracy" if task == "classification" else "neg_mean_squared_error")
    settings = {"units": 4, "epochs": 3, "batch_size": 16, **params}
    estimator = make_estimator(task, builder, settings, seed=0)
    seen: dict[str, list[float]] = {}

    predictions = []
    predict_rows = estimator_module.predict_rows
    monkeypatch.setattr(
        estimator_module,
        "predict_rows",
        lambda *a, **k: predictions.append(1) or predict_rows(*a, **k),
    )

    class Check(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            model = self.model
            before = len(predictions)
            seen.setdefault("epoch_score", []).append(
                estimator.epoch_score(scorer, X[test], y[test])
            )
            assert len(predictions) == before  # the epoch's validation prediction
            seen.setdefault("score", []).append(scorer(estimator, X[test], y[test]))
            assert len(predictions) == before + 1
            truth = model.evaluate(
                estimator.feature_encoder_.transform(X[test]),  # the model's own inputs
                estimator.target_encoder_.transform(y[test]),
                verbose=0,
                return_dict=True,
            )
            for name, value in truth.items():
                seen.setdefault(f"val_{name}", []).append(value)

    estimator.set_params(callbacks=[Check()])
    estimator.fit(X[train], y[train], row_index=train, fold_plan=plan)
    for name in ("val_loss", "val_accuracy", "val_mean_absolute_error"):
        if name in seen:
            np.testing.assert_allclose(estimator.history_[name], seen[name], rtol=1e-5)
    assert seen["epoch_score"] == seen["score"] and len(seen["score"]) == 3

    plain = make_estimator(task, builder, settings, seed=0)
    plain.fit(X[train], y[train], row_index=train, fold_plan=plan)
    assert plain.history_["val_loss"] == estimator.history_["val_loss"]
    traced_test_step = plain.model_.test_function is not None
    assert traced_test_step == bool(params.get("activity"))
    # The fitted estimator keeps no reference to the held-out rows.
    assert plain._fold_validation is None
    assert all(c.__class__.__name__ != "_FoldValidation" for c in plain._fit_callbacks)


def test_fold_records_describe_the_model_and_keep_the_epochs_of_a_fit_that_raises(digits, tmp_path):
    import keras

    class BreakAtSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("the machine caught fire")

    X, y = digits
    splits = list(StratifiedKFold(2, shuffle=True, random_state=0).split(X, y))
    plan = FoldPlan(X, y, splits, names=["units"], records_dir=tmp_path)
    train = splits[0][0]
    good = tiny(units=3)
    good.fit(X[train], y[train], row_index=train, fold_plan=plan)
    (record,) = plan.collect({"units": 3})
    assert record["model"]["n_params"] == good.model_.count_params()
    assert "Total params" in record["model"]["summary"] and "LSTM" in record["model"]["summary"]

    broken = tiny(units=5, epochs=3, callbacks=[BreakAtSecondEpoch()])
    with pytest.raises(RuntimeError, match="caught fire"):
        broken.fit(X[train], y[train], row_index=train, fold_plan=plan)
    (record,) = plan.collect({"units": 5})
    assert record["error"] == "RuntimeError: the machine caught fire"
    assert len(record["history"]["loss"]) == len(record["history"]["val_loss"]) == 1


def test_a_nan_loss_fails_the_fit(digits):
    X, y = digits
    estimator = make_estimator(
        "regression", "dense", {"learning_rate": 1e30, "optimizer": "sgd", "epochs": 3}, seed=0
    )
    with pytest.raises(TrialFailed, match="training loss became (nan|inf) at epoch 1"):
        estimator.fit(X, y.astype("float32") * 1e20)


def test_reserved_names_match_scikeras():
    from scikeras.wrappers import BaseWrapper, KerasClassifier

    names = set(inspect.signature(BaseWrapper.__init__).parameters) - {"self", "kwargs"}
    names |= set(inspect.signature(KerasClassifier.__init__).parameters) - {"self", "kwargs"}
    assert names == WRAPPER_PARAMETERS


@pytest.mark.slow
def test_many_steps_per_call_train_exactly_as_one_step_per_call(digits):
    from hpsearch.models.estimator import STEPS_PER_EXECUTION

    X, y = digits  # 90 rows in batches of 8: 12 steps an epoch, the last one short
    settings = {"units": 4, "epochs": 3, "batch_size": 8, "dropout": 0.2}

    def fitted(**steps):
        return make_estimator("classification", "lstm", settings, seed=0, **steps).fit(X, y)

    one, five, default = fitted(steps_per_execution=1), fitted(steps_per_execution=5), fitted()
    assert (one.model_.steps_per_execution, default.model_.steps_per_execution) == (
        1,
        STEPS_PER_EXECUTION,
    )
    for other in (five, default):
        assert other.history_ == one.history_
        for mine, theirs in zip(other.model_.variables, one.model_.variables, strict=True):
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
        np.testing.assert_array_equal(other.predict_proba(X), one.predict_proba(X))


@pytest.mark.slow
def test_jit_compile_trains_with_xla_to_the_same_model(digits):
    from hpsearch.models.reuse import architecture_key

    X, y = digits
    settings = {"units": 4, "epochs": 3, "batch_size": 32}

    def xla():
        return make_estimator("classification", "lstm", settings, seed=0, jit_compile=True)

    plain, first, again = tiny(epochs=3).fit(X, y), xla().fit(X, y), xla().fit(X, y)
    assert first.model_.jit_compile is True and plain.model_.jit_compile is False
    assert again.history_["loss"] == first.history_["loss"]  # seeded XLA on a CPU: repeatable
    # XLA fuses and reorders float operations: the same training within rounding.
    np.testing.assert_allclose(first.history_["loss"], plain.history_["loss"], rtol=1e-4)
    np.testing.assert_allclose(first.predict_proba(X), plain.predict_proba(X), atol=1e-4)
    # A model traced with XLA is not reused for one without it, nor the reverse.
    meta = plain._get_metadata()
    assert architecture_key(first.get_params(), meta) != architecture_key(plain.get_params(), meta)


@pytest.mark.slow
def test_predictions_skip_kerass_data_pipeline_with_kerass_answers(digits):
    import keras

    X, y = digits
    estimator = tiny(builder="dense", epochs=1).fit(X, y)
    model, rows = estimator.model_, estimator.feature_encoder_.transform(X)
    for batch_size in (32, 7, 512):  # partial last batches; one batch for all rows
        estimator.set_params(predict__batch_size=batch_size)
        ours = estimator.predict_proba(X)
        keras_answers = model.predict(rows, batch_size=batch_size, verbose=0)
        np.testing.assert_allclose(ours, keras_answers, rtol=1e-6, atol=1e-7)
    (_, call) = model._hpsearch_predict  # the fast path ran, with one trace for every size
    assert call.experimental_get_tracing_count() == 1

    class Watching(keras.callbacks.Callback):  # a callback that watches prediction...
        batches = 0

        def on_predict_batch_end(self, batch, logs=None):
            Watching.batches += 1

    # One batch per call into TensorFlow, so that Keras calls the callback after each.
    estimator.set_params(
        predict__batch_size=32, predict__callbacks=[Watching()], steps_per_execution=1
    ).fit(X, y)
    estimator.predict_proba(X)
    assert Watching.batches == 3  # ...still sees Keras's predict: 90 rows in batches of 32


WITHOUT_ONEDNN = """
import numpy as np
from hpsearch.models.estimator import make_estimator

rng = np.random.RandomState(0)
X = rng.normal(size=(45, 6)).astype("float32")
y = np.arange(45) % 3
order = rng.permutation(45)
for builder in ("dense", "simple_rnn"):
    estimator = make_estimator("classification", builder, {"units": 5, "epochs": 1}, seed=0)
    estimator.fit(X, y)
    np.testing.assert_array_equal(
        estimator.predict_proba(X)[order], estimator.predict_proba(X[order]), err_msg=builder
    )
# Keras's own predict, on the same rows, shows what the aligned batches avoid.
rows = estimator.feature_encoder_.transform(X)
keras_answers = estimator.model_.predict(rows, verbose=0)
assert (keras_answers[order] != estimator.model_.predict(rows[order], verbose=0)).any()
print("invariant")
"""


@pytest.mark.slow
def test_a_rows_probabilities_do_not_depend_on_its_place_among_the_rows():
    """Without oneDNN, TensorFlow's element-wise kernels round a tensor's last elements
    differently from the rest (see hpsearch.models.prediction): on such CPUs reordering the
    rows changed their probabilities in the last bits. Run where oneDNN is off."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_ONEDNN], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == "invariant", done.stderr[-2000:]


def test_the_train_step_is_traced_once_per_model(digits, monkeypatch):
    """Keras creates the metrics' variables in the first trace of the train step, and
    TensorFlow then traces it again; built ahead of the fit, it is traced once."""
    import keras

    traces = []
    train_step = keras.Model.train_step

    def counted(model, data):
        traces.append(model)
        return train_step(model, data)

    monkeypatch.setattr(keras.Model, "train_step", counted)
    X, y = digits
    estimator = tiny(builder="dense", epochs=2).fit(X, y)
    assert traces == [estimator.model_]
