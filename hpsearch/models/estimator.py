"""scikit-learn estimators for Keras models, trained with the study's names.

``HpsearchClassifier`` and ``HpsearchRegressor`` pass scikit-learn's own estimator checks
(``tests/test_estimator_checks.py``) but for the few a Keras model cannot honestly pass
(``EXPECTED_FAILED_CHECKS``). They build on SciKeras's ``BaseWrapper`` (through the seam
``hpsearch.compat.scikeras``) and not on its ``KerasClassifier``/``KerasRegressor``, which
list ``BaseWrapper`` before scikit-learn's mixins: with scikit-learn >= 1.6 those are not
even seen as a classifier and a regressor (unstratified folds, the wrong scorers). Here the
mixin comes first, as scikit-learn asks. What they add to SciKeras:

- the study's names as constructor parameters (``units=64, learning_rate=1e-3``), in the
  signature of the class ``make_estimator`` returns, routed to the builder or to training,
  so that ``get_params``/``set_params``/``clone`` and GridSearchCV's ``param_grid`` speak
  the study file's language;
- inputs by kind (``hpsearch.models.inputs``): numbers standardised with each fit's
  training rows, token ids as they are, raw text as token ids of a vocabulary learnt from
  the fit's training rows; integers are numbers unless declared tokens;
- targets that follow the estimator, not their dtype: integer targets of a regressor are
  numbers, standardised per fit (``StandardizedTargetEncoder``), and ``deployable_model``
  folds the inverse back into the saved model;
- validation on the held-out fold of the cross-validation the fit is part of (per-epoch
  ``val_loss``), found through a ``FoldPlan`` passed as fit parameter, from one prediction
  of those rows per epoch that the pruner's score reuses (``_FoldValidation``);
- a loss that becomes NaN stops training and fails the fit with a clear message;
- errors scikit-learn's way: sparse input refused, the feature count checked at predict.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
import warnings
from collections import defaultdict
from typing import Any

import keras
import numpy as np
from scikeras.utils import metric_name
from scikeras.utils.transformers import ClassifierLabelEncoder, RegressorTargetEncoder
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import type_of_target

from hpsearch.compat import keras as keras_seam
from hpsearch.compat.scikeras import WrapperHooks
from hpsearch.data.inputs import is_text
from hpsearch.errors import TrialFailed
from hpsearch.models.builders import adapt_preprocessing
from hpsearch.models.cudnn import cudnn_eligible
from hpsearch.models.folds import FoldPlan
from hpsearch.models.heads import default_loss, default_metrics
from hpsearch.models.inputs import InputEncoder, model_for_raw_inputs
from hpsearch.models.prediction import predict_rows
from hpsearch.models.reuse import (
    BUILT_MODELS,
    EpochState,
    architecture_key,
    epochs_group_key,
    release_keras_memory,
)
from hpsearch.models.scoring import make_scorer, natural
from hpsearch.models.seeding import keeps_kernels_safely, seeded_fit

# Rows per batch for validation and scoring, where the rows are small (see
# ``_evaluation_batch_size``).
EVALUATION_BATCH = 512

# Training batches Keras runs per call into TensorFlow (``compile(steps_per_execution)``),
# unless the study's ``model.steps_per_execution`` says. A small recurrent model's step
# takes less time than Python's call into the traced step and the hand-over between
# TensorFlow's threads around it: a 16-unit LSTM's fit on 900 digits took 0.65-0.75x the
# time (docs/benchmarks.md). The training is the same, to the bit (the same steps on the
# same batches in the same order; tests/test_estimator.py); what changes is that Keras calls
# per-batch callbacks (fit's, evaluate's, predict's) after every 32nd batch and the last.
STEPS_PER_EXECUTION = 32


def build_model(
    meta: dict[str, Any],
    compile_kwargs: dict[str, Any],
    params: dict[str, Any],
    **hyperparameters: Any,
):
    """SciKeras's ``model`` callable: resolve the builder, build, compile with the study's names.

    SciKeras hands every constructor keyword the wrapper did not define itself to this
    function: the builder reference, ``learning_rate``, ``jit_compile``,
    ``steps_per_execution``, the input settings (the feature encoder's, not the
    builder's) and the builder's own parameters.
    """
    from hpsearch.models.routing import resolve_builder_reference

    for own_setting in ("inputs", "standardize", "early_stopping", "training_callbacks"):
        hyperparameters.pop(own_setting, None)  # the estimator's, not the builder's
    builder = resolve_builder_reference(hyperparameters.pop("builder"))
    learning_rate = hyperparameters.pop("learning_rate", None)
    momentum = hyperparameters.pop("momentum", None)
    jit_compile = hyperparameters.pop("jit_compile", None)
    steps_per_execution = hyperparameters.pop("steps_per_execution", None)
    seed = params.get("random_state")
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    with keras_seam.python_random_for_builds(seed):
        model = builder(meta=meta, **hyperparameters)
    if not model.compiled:
        model.compile(
            optimizer=make_optimizer(params["optimizer"], learning_rate, momentum),
            loss=params.get("loss") or default_loss(meta),
            metrics=default_metrics(meta),
            # Keras's "auto" unless the study says; XLA is switched on below (_use_xla).
            jit_compile="auto" if jit_compile is None else False,
            steps_per_execution=steps_per_execution or STEPS_PER_EXECUTION,
        )
    else:  # compiled by the builder: its own settings, unless the study gives one
        if learning_rate is not None:
            model.optimizer.learning_rate = float(learning_rate)
        if steps_per_execution is not None:
            model.steps_per_execution = int(steps_per_execution)
    if jit_compile:
        _use_xla(model)
    return model


def _use_xla(model) -> None:
    """Compile the model's steps with XLA, as ``model.jit_compile: true`` asks.

    SciKeras fits a seeded estimator under TensorFlow's op determinism, and Keras then
    refuses XLA (some XLA kernels are not deterministic on GPUs). On a CPU they are: the
    determinism is lifted while Keras decides, and the same seed still gives the same
    model (tests/test_estimator.py). On a GPU Keras's refusal stands, with its warning.
    """
    import tensorflow as tf

    from hpsearch.compat import tensorflow as tensorflow_seam

    lift = tensorflow_seam.op_determinism_enabled() and not tf.config.list_physical_devices("GPU")
    if lift:
        tensorflow_seam.disable_op_determinism()
    try:
        model.jit_compile = True
    finally:
        if lift:
            tensorflow_seam.enable_op_determinism()


def _build_training_state(model, X, y) -> None:
    """Create the compiled metrics' and loss's variables (and an unbuilt optimizer's)
    before the first fit, from one row of its data.

    Keras creates them while it traces the train step, and a ``tf.function`` whose first
    trace creates variables is traced a second time: ~0.5 s more per new model here (a GRU
    of 4 units: its first fit 1.7 s instead of 1.1 s). Built ahead, the step is traced
    once; the training is the same (no random draw happens here: the build is symbolic).
    Where Keras cannot, it builds them in the trace as before.
    """
    if y is None:
        return
    first_row = keras.tree.map_structure(lambda array: array[:1], (X, y))
    try:
        keras_seam.build_training_state(model, (*first_row, None))
    except Exception:  # noqa: BLE001 - an optimization only: the trace builds them anyway
        return


def make_optimizer(optimizer: Any, learning_rate: float | None, momentum: float | None = None):
    """A Keras optimizer from its name, with the searched learning rate and momentum (sgd,
    rmsprop) where the study has them."""
    instance = keras.optimizers.get(optimizer)
    settings = {}
    if learning_rate is not None:
        settings["learning_rate"] = float(learning_rate)
    if momentum is not None:
        settings["momentum"] = float(momentum)
    return type(instance)(**settings) if settings else instance


class _StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Keras's TerminateOnNaN without its print: the fit itself reports the failure."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True


class _KeepEpochs(keras.callbacks.Callback):
    """Keeps the model's state after each epoch but the last, for shorter fits of the fold."""

    def __init__(self, group: str, fold: int, epochs: int):
        super().__init__()
        self.group, self.fold, self.epochs = group, fold, epochs
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(_history_name(key), []).append(float(value))
        if epoch + 1 < self.epochs and not self.model.stop_training:
            state = EpochState(
                variables=[np.array(v.numpy()) for v in self.model.variables],
                history={k: list(v) for k, v in self.history.items()},
            )
            BUILT_MODELS.keep_epoch(self.group, self.fold, epoch + 1, state)


def _history_name(key: str) -> str:
    """SciKeras's name for a Keras log key in ``history_`` (``acc`` becomes ``accuracy``)."""
    if key == "loss" or key.startswith("val_"):
        return key
    try:
        return metric_name(key)
    except ValueError:
        return key


class _FoldValidation(keras.callbacks.Callback):
    """Keras's per-epoch validation (``val_loss``, ``val_accuracy``...) from one prediction.

    Keras validates through its test step, a third traced function beside the train step
    and the predict step the study's scorer needs (~1 s to trace here, paid by every new
    architecture), and a pruned trial then predicted the same rows again for its score.
    Here each epoch predicts the held-out rows once; the loss and compiled metrics are
    computed from that prediction as Keras's test step computes them (the model's own loss,
    regularization and metric objects; all rows at once instead of a mean over batches,
    equal within float), and ``prediction`` stays for the epoch's score
    (``_TrackedFitMixin.epoch_score``). A model whose loss needs more than its prediction
    (it overrides how it tests or computes its loss or metrics, or a layer adds a loss in
    its ``call``) is validated by Keras's ``evaluate`` instead. Placed first among the
    callbacks, so that every other one (History, EarlyStopping, the pruner's) sees the
    ``val_`` entries.
    """

    def __init__(self, X, y, batch_size: int, sample_weight=None):
        super().__init__()
        self.X, self.y, self.batch_size = X, y, batch_size
        self.sample_weight = sample_weight
        self.prediction = None

    def on_epoch_begin(self, epoch, logs=None):
        self.prediction = None

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        self.prediction = predict_rows(model, self.X, self.batch_size)
        if keras_seam.loss_needs_only_prediction(model):
            # The metrics are reset first: the epoch's training results are in ``logs``.
            y_pred = keras.tree.map_structure(keras.ops.convert_to_tensor, self.prediction)
            weights = None
            if self.sample_weight is not None:
                weights = keras.ops.convert_to_tensor(self.sample_weight, dtype="float32")
            results = keras_seam.validation_results(model, self.y, y_pred, weights)
        else:
            results = model.evaluate(
                self.X,
                self.y,
                sample_weight=self.sample_weight,
                batch_size=self.batch_size,
                verbose=0,
                return_dict=True,
            )
        if logs is not None:
            logs.update({f"val_{name}": float(value) for name, value in results.items()})


class _MonitorMetric(keras.callbacks.Callback):
    """The study's metric on the fold's held-out rows after every epoch, as ``val_<name>``
    in the logs, for ``EarlyStopping`` to watch; scored from the prediction
    ``_FoldValidation`` made (placed right after it), so it costs no second pass."""

    def __init__(self, estimator, metric, X_val, y_val, sample_weight=None):
        super().__init__()
        self.estimator, self.metric = estimator, metric
        self.X_val, self.y_val, self.sample_weight = X_val, y_val, sample_weight
        self.scorer = make_scorer(metric, y_val)
        self.key = f"val_{metric.name}"

    def on_epoch_end(self, epoch, logs=None):
        score = self.estimator.epoch_score(
            self.scorer, self.X_val, self.y_val, sample_weight=self.sample_weight
        )
        if logs is not None:
            logs[self.key] = natural(self.metric, float(score))


class _FoldEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's ``EarlyStopping`` as ``training.early_stopping`` makes it for one fit (a
    class of its own: an ``EarlyStopping`` the user passes as ``callbacks`` stays theirs)."""


def make_early_stopping(settings: dict[str, Any]):
    """The fit's ``EarlyStopping`` from ``training.early_stopping`` (and the metric it
    watches, when not ``val_loss``): the direction is the metric's, never guessed from
    its name."""
    metric = settings["metric"]
    monitor = "val_loss" if metric is None else f"val_{metric.name}"
    mode = "min" if metric is None or not metric.greater_is_better else "max"
    return _FoldEarlyStopping(
        monitor=monitor,
        patience=int(settings["patience"]),
        min_delta=float(settings["min_delta"]),
        mode=mode,
        restore_best_weights=bool(settings["restore_best_weights"]),
        verbose=0,
    )


def user_callbacks(references) -> list:
    """One new callback from each of the user's factories (called once per fit, so that no
    state passes from one fit to the next)."""
    from hpsearch.study.references import reference_text, resolve_reference

    made = []
    for reference in references or ():
        factory = resolve_reference(
            reference, {}, kind="callback factory", where="training.callbacks"
        )
        callback = factory()
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError(
                f"training.callbacks: {reference_text(reference)} returned"
                f" {type(callback).__name__}, not a keras.callbacks.Callback"
            )
        made.append(callback)
    return made


class _EpochLog(keras.callbacks.Callback):
    """The epochs finished so far (a fit that raises keeps the curves it had), and the
    seconds each took (the first one includes tracing the train and predict steps)."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.seconds: list[float] = []

    def on_train_begin(self, logs=None):
        self.history, self.seconds = {}, []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))


# Made anew for every fit (and by the user's factories): never carried to the next fit.
_PER_FIT_CALLBACKS = (
    _FoldValidation,
    _MonitorMetric,
    _EpochLog,
    _KeepEpochs,
    _FoldEarlyStopping,
)


def describe_model(model) -> dict[str, Any] | None:
    """``n_params``, the ``summary`` text of a built model and whether its LSTM/GRU layers
    can run on cuDNN (``hpsearch.models.cudnn``); None before it is built."""
    if model is None or not model.built:
        return None
    lines: list[str] = []
    model.summary(print_fn=lambda text, **_: lines.append(text))
    return {
        "n_params": int(model.count_params()),
        "summary": "\n".join(lines),
        "cudnn": cudnn_eligible(model),
    }


def _with_parameters(signature: inspect.Signature, added) -> inspect.Signature:
    """``signature`` without its ``**params`` and with ``added`` keyword-only parameters."""
    fixed = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    return signature.replace(parameters=[*fixed, *added])


class _HpsearchEstimator(WrapperHooks):
    """What every hpsearch fit adds to SciKeras's: inputs by kind, fold validation, NaN
    checks, records, reused models; scikit-learn's input checks and errors."""

    # Mixed into the subclasses' tags: what a Keras model takes and how well it scores.
    _ND_INPUT = True

    def __init__(
        self,
        model=build_model,
        *,
        builder: str = "dense",
        inputs: str | None = None,
        standardize: bool = True,
        jit_compile: bool | None = None,
        steps_per_execution: int | None = None,
        early_stopping: dict | None = None,
        training_callbacks: tuple = (),
        build_fn=None,
        warm_start: bool = False,
        random_state=None,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        batch_size: int | None = None,
        validation_batch_size: int | None = None,
        verbose: int = 0,
        callbacks=None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        run_eagerly: bool = False,
        epochs: int = 1,
        **params,
    ):
        super().__init__(
            model=model,
            build_fn=build_fn,
            warm_start=warm_start,
            random_state=random_state,
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            batch_size=batch_size,
            validation_batch_size=validation_batch_size,
            verbose=verbose,
            callbacks=callbacks,
            validation_split=validation_split,
            shuffle=shuffle,
            run_eagerly=run_eagerly,
            epochs=epochs,
            builder=builder,
            inputs=inputs,
            standardize=standardize,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
            early_stopping=early_stopping,
            training_callbacks=training_callbacks,
            **params,
        )

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        """scikit-learn's: the parameters that differ from their defaults, in the order
        of the signature (SciKeras's lists them all, a function's address among them)."""
        return BaseEstimator.__repr__(self, N_CHAR_MAX)

    def __reduce__(self):
        """Pickled by its base class and parameter names: ``make_estimator``'s classes are
        made at run time, so no module attribute names them."""
        return _unpickled_estimator, _class_key(type(self)), self.__getstate__()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.three_d_array = True
        return tags

    def fit(self, X, y, sample_weight=None, *, row_index=None, fold_plan=None, **kwargs):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        fold = fold_plan.fold_of(row_index) if fold_plan is not None else None
        self._validation_rows = fold_plan.validation_rows(fold) if fold is not None else None
        self._validation_weights = fold_plan.validation_weights(fold) if fold is not None else None
        self._early_stopper = None
        # Which fold of which cross-validation this fit is: fits of the same fold may
        # share epochs (hpsearch.models.reuse).
        self._fold = None if fold is None else (fold_plan.records_dir, fold)
        self._epoch_log = _EpochLog()
        try:
            super().fit(X, y, sample_weight=sample_weight, **kwargs)
            self._raise_if_diverged()
        except BaseException as error:
            if fold is not None:
                fold_plan.record(
                    self.get_params(),
                    fold,
                    history=getattr(self, "history_", None) or self._epoch_log.history,
                    error=f"{type(error).__name__}: {error}",
                    model=self._model_facts(fold),
                    epoch_seconds=self._epoch_log.seconds,
                )
            raise
        finally:
            # The fitted estimator keeps no reference to the held-out rows.
            self._validation_rows = self._fold_validation = self._validation_weights = None
            self.fit_callbacks = self._without_per_fit(self.fit_callbacks)
            self._users_made = []
        if fold is not None:
            fold_plan.record(
                self.get_params(),
                fold,
                history=self.history_,
                model=self._model_facts(fold),
                trained_epochs=0 if self._took_epochs else len(self.history_.get("loss", [])),
                epoch_seconds=self._epoch_log.seconds,
                reused=getattr(self, "_reused_model", None),
                best_epoch=self._best_epoch(),
            )
        self._early_stopper = None
        return self

    def _best_epoch(self) -> int | None:
        """The epoch (from 1) early stopping found best on the fold; None without it."""
        stopper = getattr(self, "_early_stopper", None)
        if stopper is None or stopper.best_weights is None:
            return None
        return int(stopper.best_epoch) + 1

    @property
    def fitted_fold(self) -> int | None:
        """The cross-validation fold (of its ``FoldPlan``) the latest fit trained on; None
        for a fit on other rows (a refit)."""
        fold = getattr(self, "_fold", None)
        return None if fold is None else fold[1]

    def _model_facts(self, fold: int) -> dict[str, Any] | None:
        """The first fold describes the model for the trial (the others train the same)."""
        return describe_model(getattr(self, "model_", None)) if fold == 0 else None

    def train_keras_model(self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kw):
        self._fold_validation = None
        watching: list = []  # what the fold's held-out rows drive: early stopping
        if getattr(self, "_validation_rows", None) is not None:
            X_raw, y_raw = self._validation_rows
            weights = getattr(self, "_validation_weights", None)
            X_val, y_val = self.validate_arrays(X_raw, y_raw)
            self._fold_validation = _FoldValidation(
                self.feature_encoder_.transform(X_val),
                self.target_encoder_.transform(y_val),
                batch_size=self.validation_batch_size or self._evaluation_batch_size(X),
                sample_weight=None if weights is None else np.asarray(weights, "float32"),
            )
            if self.early_stopping:
                metric = self.early_stopping["metric"]
                if metric is not None:
                    watching.append(_MonitorMetric(self, metric, X_raw, y_raw, weights))
                self._early_stopper = make_early_stopping(self.early_stopping)
                watching.append(self._early_stopper)
        self._took_epochs = False
        group = self._epochs_group(warm_start, initial_epoch)
        BUILT_MODELS.fitting(group)
        if group is not None:
            state = BUILT_MODELS.epoch_state(group, self._fold[1], epochs)
            if state is not None:  # an earlier, longer fit of this fold passed here
                for variable, value in zip(self.model_.variables, state.variables, strict=True):
                    variable.assign(value)
                self.history_ = defaultdict(list, {k: list(v) for k, v in state.history.items()})
                self._took_epochs = True
                return
        if not warm_start:
            adapt_preprocessing(self.model_, X)
        callbacks = self.fit_callbacks
        if not any(isinstance(c, _StopOnNonFiniteLoss) for c in callbacks):
            callbacks = [*callbacks, _StopOnNonFiniteLoss()]
        others = self._without_per_fit(callbacks)
        # The user's, new for this fit, after ours (they see the val_ entries) and before
        # the search's (the pruner's reporter).
        self._users_made = user_callbacks(self.training_callbacks)
        others = [*watching, *self._users_made, *others]
        if self._fold_validation is not None:
            others.insert(0, self._fold_validation)
        if getattr(self, "_epoch_log", None) is not None:
            others.append(self._epoch_log)
        if group is not None:
            others.append(_KeepEpochs(group, self._fold[1], epochs))
        self.fit_callbacks = others
        _build_training_state(self.model_, X, y)
        seed = self.fit_seed
        if seed is None or not keeps_kernels_safely(self.model_):
            return super().train_keras_model(
                X, y, sample_weight, warm_start, epochs, initial_epoch, **kw
            )
        # SciKeras seeds the fit itself while its seed is set; here ``seeded_fit`` does,
        # the same way but keeping the prepared steps (hpsearch.models.seeding).
        self.fit_seed = None
        try:
            with seeded_fit(seed):
                return super().train_keras_model(
                    X, y, sample_weight, warm_start, epochs, initial_epoch, **kw
                )
        finally:
            self.fit_seed = seed

    def _without_per_fit(self, callbacks: list) -> list:
        """``callbacks`` without those made for one fit: ours and the user's factories'."""
        made = getattr(self, "_users_made", None) or []
        return [
            c
            for c in callbacks
            if not isinstance(c, _PER_FIT_CALLBACKS) and all(c is not m for m in made)
        ]

    def epoch_score(self, scorer, X_val, y_val, sample_weight=None) -> float:
        """``scorer(self, X_val, y_val)`` from inside the fit, after an epoch: the scorer's
        predictions are the ones that epoch's validation made (``X_val`` must be the fold's
        held-out rows), so the pruner's score costs no second pass over them."""
        validation = getattr(self, "_fold_validation", None)
        self._epoch_prediction = None if validation is None else validation.prediction
        try:
            if sample_weight is None:
                return scorer(self, X_val, y_val)
            return scorer(self, X_val, y_val, sample_weight=sample_weight)
        finally:
            self._epoch_prediction = None

    def predict_raw(self, X, **kwargs):
        """Predictions in large batches: the training batch size (10 in the lecture's grid)
        made scoring a fold cost a third of an epoch. Rows are predicted independently, so
        the batch does not change the answers. In-memory arrays skip Keras's tf.data set-up
        (``hpsearch.models.prediction``). Within ``epoch_score``, the epoch's own."""
        if not self.initialized_:
            return super().predict_raw(X, **kwargs)  # SciKeras's NotFittedError
        X, _ = self.validate_arrays(X=X, y=None)  # as SciKeras's own predict
        ready = getattr(self, "_epoch_prediction", None)
        if ready is not None and len(keras.tree.flatten(ready)[0]) == len(X):
            self._epoch_prediction = None  # once: a scorer predicts its rows once
            return ready
        if getattr(self, "predict__batch_size", None) is None and "batch_size" not in kwargs:
            kwargs["batch_size"] = self._evaluation_batch_size(X)
        settings = self.predict_settings()
        settings.update(kwargs)
        batch_size = settings.get("batch_size") or -1  # -1 (all rows): SciKeras resolves it
        if batch_size < 1 or settings.get("steps") or settings.get("verbose"):
            return super().predict_raw(X, **kwargs)
        X = self.feature_encoder_.transform(X)
        return predict_rows(self.model_, X, batch_size, self.predict_callbacks)

    def _evaluation_batch_size(self, X) -> int:
        """At least the training batch size; up to 512 rows of up to 2**20 values in all."""
        values_per_row = max(1, int(np.prod(np.shape(X)[1:])))
        largest = max(1, min(EVALUATION_BATCH, 2**20 // values_per_row))
        return max(int(self.batch_size or 32), largest)

    def _epochs_group(self, warm_start: bool, initial_epoch: int) -> str | None:
        """The group of fits this one may share epochs with; None if it may not."""
        if warm_start or initial_epoch or getattr(self, "_fold", None) is None:
            return None
        if self.early_stopping or self.training_callbacks:
            return None  # a fit's epochs then depend on more than their number
        if not (BUILT_MODELS.keeps_epochs and BUILT_MODELS.holds(self.model_)):
            return None
        return epochs_group_key(self.get_params(), self.metadata(), self._fold[0])

    def build_keras_model(self):
        """A fresh model, or inside ``BUILT_MODELS.reusing()`` the same architecture's kept
        one reset to its initial state (see ``hpsearch.models.reuse``)."""
        # SciKeras reads the metadata of a new, unfitted encoder (``feature_encoder`` is a
        # property): the fitted one's (kind, statistics, text as token ids) is added here.
        vars(self).update(self.feature_encoder_.get_metadata())
        self._reused_model = False  # recorded with the fold (the study's savings)
        if not BUILT_MODELS.active:
            return super().build_keras_model()
        key = architecture_key(self.get_params(), self.metadata())
        model = BUILT_MODELS.get(key, getattr(self, "learning_rate", None))
        self._reused_model = model is not None
        if model is None:
            release_keras_memory()  # the kept models stay usable
            model = super().build_keras_model()
            BUILT_MODELS.keep(key, model)
        return model

    @property
    def feature_encoder(self):
        # ``vocab_size`` and ``sequence_length`` are the builder's own names (absent for
        # builders that take no text settings).
        return InputEncoder(
            inputs=self.inputs,
            standardize=self.standardize,
            vocab_size=getattr(self, "vocab_size", None),
            sequence_length=getattr(self, "sequence_length", None),
        )

    def validate_arrays(self, X=None, y=None, reset: bool = False, **kwargs):
        """SciKeras's checks, with scikit-learn's errors (sparse input, the feature count,
        a 2-D X), and raw text (strings: SciKeras would cast them to numbers) passing as
        ``(n, 1)``."""
        if X is not None:
            if sparse.issparse(X):
                raise TypeError(
                    f"{type(self).__name__} does not accept sparse input (a SciPy sparse"
                    " matrix or array): convert it with X.toarray()"
                )
            if not reset:
                self._check_feature_count(X)
        if y is not None:
            y = self._target_as_fitted(y)
        if X is None or not is_text(np.asarray(X)):
            X, y = super().validate_arrays(X=X, y=y, reset=reset, **kwargs)
            if reset and y is not None:
                self.y_shape_ = y.shape  # read by the regression head through ``meta``
            return X, y
        X = np.asarray(X, dtype=object)
        X = X.reshape(-1, 1) if X.ndim == 1 else X
        if y is not None:
            _, y = super().validate_arrays(X=None, y=y, reset=reset, **kwargs)
            if len(y) != len(X):
                raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
        if reset:
            self.X_dtype_, self.X_shape_, self.n_features_in_ = X.dtype, X.shape, X.shape[1]
            if y is not None:
                self.y_shape_ = y.shape
        return X, y

    def _target_as_fitted(self, y):
        """The target as the estimator takes it (a classifier: a column becomes 1-D)."""
        return y

    def _check_feature_count(self, X) -> None:
        expected = getattr(self, "n_features_in_", None)
        shape = np.asarray(X).shape if not hasattr(X, "shape") else X.shape
        if expected is None or len(shape) < 2:
            return  # not fitted, or 1-D: scikit-learn's "Reshape your data" follows
        if shape[1] != expected:
            raise ValueError(
                f"X has {shape[1]} features, but {type(self).__name__} is expecting"
                f" {expected} features as input"
            )

    def _raise_if_diverged(self) -> None:
        losses = self.history_.get("loss", [])
        for epoch, value in enumerate(losses, start=1):
            if not math.isfinite(value):
                raise TrialFailed(f"the training loss became {value} at epoch {epoch}")


class HpsearchClassifier(ClassifierMixin, _HpsearchEstimator):
    """A Keras classifier: labels of any type in, labels and class probabilities out.

    ``class_weight`` (``"balanced"``, ``{label: weight}``, or None / ``"none"``) multiplies
    each row's sample weight, as scikit-learn's classifiers do.
    """

    handled_fit_keywords = ("class_weight",)  # turned into sample weights in ``fit``

    def __init__(self, model=build_model, *, class_weight=None, **params):
        super().__init__(model=model, **params)
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None, **kwargs):
        self.classes_ = None  # learnt again from y by the target encoder
        sample_weight = self._weighted(y, sample_weight)
        return super().fit(X, y, sample_weight=sample_weight, **kwargs)

    def partial_fit(self, X, y, classes=None, sample_weight=None, **kwargs):
        """One more epoch on ``(X, y)``; ``classes`` names every label of the first call."""
        self.classes_ = classes if classes is not None else getattr(self, "classes_", None)
        return super().partial_fit(X, y, sample_weight=self._weighted(y, sample_weight), **kwargs)

    def initialize(self, X, y=None):
        self.classes_ = None
        return super().initialize(X, y)

    def _weighted(self, y, sample_weight):
        # "none" is how a search space names no weights (a choice: [none, balanced]).
        if self.class_weight in (None, "none") or y is None:
            return sample_weight
        weights = compute_sample_weight(class_weight=self.class_weight, y=y)
        if sample_weight is None:
            return weights
        return np.asarray(sample_weight, dtype="float64").reshape(-1) * weights

    def predict_proba(self, X, **kwargs):
        """Class probabilities, one column per class of ``classes_`` (two for binary)."""
        outputs = self.predict_raw(X, **kwargs)
        return self.target_encoder_.inverse_transform(outputs, return_proba=True)

    @property
    def target_encoder(self):
        categories = "auto" if getattr(self, "classes_", None) is None else [self.classes_]
        return ClassifierLabelEncoder(loss=self.loss, categories=categories)

    def target_type(self, y) -> str:
        kind = type_of_target(y)
        if kind == "binary" and getattr(self, "classes_", None) is not None:
            kind = type_of_target(self.classes_)  # two labels seen of more
        return kind

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()  # the mixin's classifier tags, then ours
        # A few epochs of a small network on scikit-learn's toy data: no score guarantee.
        tags.classifier_tags.poor_score = True
        return tags

    def _target_as_fitted(self, y):
        shape = np.shape(np.asarray(y))
        if len(shape) == 2 and shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change"
                " the shape of y to (n_samples,), for example using ravel().",
                DataConversionWarning,
                stacklevel=4,
            )
            return np.ravel(y)
        return y

    @staticmethod
    def scorer(y_true, y_pred, **kwargs) -> float:
        return accuracy_score(y_true, y_pred, **kwargs)


# scikit-learn reads an estimator's parameters from its constructor's signature: the
# classifier's lists the shared ones too (they reach ``_HpsearchEstimator`` as ``**params``).
HpsearchClassifier.__init__.__signature__ = _with_parameters(
    inspect.signature(HpsearchClassifier.__init__),
    [
        p
        for name, p in inspect.signature(_HpsearchEstimator.__init__).parameters.items()
        if name not in ("self", "model") and p.kind is not p.VAR_KEYWORD
    ],
)


class StandardizedTargetEncoder(RegressorTargetEncoder):
    """Targets standardised with the mean and spread of each fit's training targets.

    Prices in the thousands train badly through a linear output; the network learns the
    standardised target, predictions come back in the data's units (so do the scores).
    """

    def fit(self, y: np.ndarray) -> StandardizedTargetEncoder:
        super().fit(y)
        values = np.asarray(y, dtype="float64")
        self.mean_ = values.mean(axis=0)
        scale = values.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def get_metadata(self) -> dict[str, Any]:
        """Seen by builders in ``meta`` (a residual forecaster standardises with them)."""
        return {"target_mean_": self.mean_, "target_scale_": self.scale_}

    def transform(self, y: np.ndarray) -> np.ndarray:
        y = super().transform(y)
        return ((np.asarray(y, dtype="float64") - self.mean_) / self.scale_).astype("float32")

    def inverse_transform(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype="float64").reshape(-1, *np.shape(self.mean_))
        return super().inverse_transform(y * self.scale_ + self.mean_)


class HpsearchRegressor(RegressorMixin, _HpsearchEstimator):
    """A Keras regressor on standardised targets; integer targets are numbers too."""

    @property
    def target_encoder(self):
        return StandardizedTargetEncoder()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()  # the mixin's regressor tags, then ours
        tags.regressor_tags.poor_score = True  # as the classifier's
        tags.target_tags.multi_output = True  # y of shape (n, k): k linear outputs
        return tags

    def validate_arrays(self, X=None, y=None, reset: bool = False, **kwargs):
        # A regressor's y is numeric, whatever its dtype says (SciKeras's y_numeric).
        return super().validate_arrays(X=X, y=y, reset=reset, y_numeric=True)

    def target_type(self, y) -> str:
        """Continuous, even when every value is whole (counts, ratings): the task, not
        the dtype, says what the target is."""
        return "continuous" if np.ndim(y) == 1 else "continuous-multioutput"

    @staticmethod
    def scorer(y_true, y_pred, **kwargs) -> float:
        return r2_score(y_true, y_pred, **kwargs)


# scikit-learn's checks that a Keras estimator cannot honestly pass, with the reason
# (``parametrize_with_checks(..., expected_failed_checks=expected_failed_checks)``).
EXPECTED_FAILED_CHECKS = {
    "check_estimator_tags_renamed": (
        "SciKeras's BaseWrapper, a base class, still defines _more_tags for scikit-learn"
        " < 1.6; hpsearch's classes define __sklearn_tags__"
    ),
    "check_sample_weight_equivalence_on_dense_data": (
        "mini-batch training: a weight of 2 doubles a row's loss within its batch, a"
        " repeated row changes the batches and their number, so the models differ"
    ),
}


def expected_failed_checks(estimator) -> dict[str, str]:
    """``EXPECTED_FAILED_CHECKS`` for ``parametrize_with_checks``."""
    return dict(EXPECTED_FAILED_CHECKS)


def deployable_model(estimator):
    """The fitted Keras model taking raw inputs and giving answers in the data's units.

    What the estimator did to the inputs goes in front (the fit's vectorizer for text, its
    standardisation for numbers). For a regressor, the target standardisation is appended
    as a ``Rescaling`` layer, so the saved model predicts prices, not standardised prices.
    """
    model = model_for_raw_inputs(estimator.model_, getattr(estimator, "feature_encoder_", None))
    encoder = getattr(estimator, "target_encoder_", None)
    if not isinstance(encoder, StandardizedTargetEncoder):
        return model
    outputs = keras.layers.Rescaling(
        scale=encoder.scale_.tolist(), offset=encoder.mean_.tolist(), name="target_scale"
    )(model.outputs[0])
    return keras.Model(model.inputs, outputs, name=model.name)


def estimator_class(task: str, parameter_names=()) -> type:
    """The estimator class for ``task`` whose constructor also takes ``parameter_names``
    (a study's names: ``units``, ``dropout``...), so that scikit-learn sees every parameter
    in the signature, as it asks of an estimator."""
    base = HpsearchClassifier if task == "classification" else HpsearchRegressor
    known = set(inspect.signature(base.__init__).parameters)
    names = tuple(sorted(set(parameter_names) - known))
    return _class_with_parameters(base, names)


@functools.cache
def _class_with_parameters(base: type, names: tuple[str, ...]) -> type:
    if not names:
        return base

    def __init__(self, model=build_model, **params):
        for name in names:
            params.setdefault(name, None)
        base.__init__(self, model=model, **params)

    added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None) for n in names]
    __init__.__signature__ = _with_parameters(inspect.signature(base.__init__), added)
    namespace = {
        "__init__": __init__,
        "__module__": base.__module__,
        "__qualname__": base.__qualname__,
        "__doc__": base.__doc__,
        "study_parameters": names,
    }
    return type(base.__name__, (base,), namespace)


def _class_key(kind: type) -> tuple[type, tuple[str, ...]]:
    names = kind.__dict__.get("study_parameters", ())
    return (kind.__mro__[1] if names else kind), names


def _unpickled_estimator(base: type, names: tuple[str, ...]):
    kind = _class_with_parameters(base, names)
    return kind.__new__(kind)


def make_estimator(
    task: str,
    builder: str,
    parameters: dict[str, Any],
    *,
    loss: str | None = None,
    seed: int | None = None,
    inputs: str | None = None,
    standardize: bool = True,
    jit_compile: bool | None = None,
    steps_per_execution: int | None = None,
    early_stopping: dict[str, Any] | None = None,
    training_callbacks: tuple = (),
):
    """An unfitted estimator for ``task`` whose parameters are the study's names.

    ``builder`` is a reference (``lstm``, ``pkg.mod:fn``, ``/abs/path/file.py:fn``) so that
    the estimator pickles to other processes without pickling functions. ``inputs`` is the
    kind of X (``numbers``, ``tokens``, ``text``; None: strings are text, anything else
    numbers); ``standardize`` scales numbers with each fit's training rows.
    ``early_stopping`` (``CrossValidation.early_stopping_settings``) stops fits that
    validate on a fold's held-out rows; ``training_callbacks`` are references to the
    user's callback factories, each called once per fit.
    """
    estimator_type = estimator_class(task, parameters)
    return estimator_type(
        model=build_model,
        builder=builder,
        loss=loss,
        random_state=seed,
        verbose=0,
        inputs=inputs,
        standardize=standardize,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
        early_stopping=early_stopping,
        training_callbacks=tuple(training_callbacks),
        **parameters,
    )


__all__ = [
    "EXPECTED_FAILED_CHECKS",
    "FoldPlan",
    "HpsearchClassifier",
    "HpsearchRegressor",
    "StandardizedTargetEncoder",
    "build_model",
    "deployable_model",
    "estimator_class",
    "expected_failed_checks",
    "make_estimator",
    "make_optimizer",
]
