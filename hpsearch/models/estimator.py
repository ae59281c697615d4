"""SciKeras estimators that scikit-learn recognises, trained with the study's names.

SciKeras 0.13 (the last release) lists ``BaseWrapper`` before ``ClassifierMixin``, so with
scikit-learn >= 1.6 ``is_classifier(KerasClassifier())`` is False and GridSearchCV silently
uses unstratified folds. ``HpsearchClassifier`` and ``HpsearchRegressor`` fix the tags and
add what a tracked search needs from every fit:

- the study's names as constructor parameters (``units=64, learning_rate=1e-3``), routed to
  the builder or to training, so that ``get_params``/``set_params``/``clone`` and
  GridSearchCV's ``param_grid`` speak the study file's language;
- validation on the held-out fold of the cross-validation the fit is part of (per-epoch
  ``val_loss``), found through a ``FoldPlan`` passed as fit parameter, from one prediction
  of those rows per epoch that the pruner's score reuses (``_FoldValidation``);
- a loss that becomes NaN stops training and fails the fit with a clear message;
- raw text (strings, which SciKeras would cast to numbers) becomes token ids with a
  vocabulary learnt from each fit's training rows, once per fold and process
  (``hpsearch.models.text_tokens``); other preprocessing layers (``Normalization``) are
  adapted on each fit's training rows;
- regression targets are standardised per fit (``StandardizedTargetEncoder``) and
  ``deployable_model`` folds the inverse back into the saved model.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np
from keras.src.random import seed_generator as _keras_seeding  # see _private_seed_source
from scikeras._utils import route_params  # pinned SciKeras: how it routes predict__*
from scikeras.utils import metric_name
from scikeras.utils.transformers import RegressorTargetEncoder
from scikeras.wrappers import KerasClassifier, KerasRegressor
from sklearn.utils import ClassifierTags, RegressorTags

from hpsearch.errors import TrialFailed
from hpsearch.models.builders import adapt_preprocessing
from hpsearch.models.folds import FoldPlan
from hpsearch.models.heads import default_loss, default_metrics
from hpsearch.models.prediction import predict_rows
from hpsearch.models.reuse import (
    BUILT_MODELS,
    EpochState,
    architecture_key,
    epochs_group_key,
    release_keras_memory,
)
from hpsearch.models.seeding import keeps_kernels_safely, seeded_fit
from hpsearch.models.text_tokens import TextTokens, text_model

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
    ``steps_per_execution`` and the builder's own parameters.
    """
    from hpsearch.models.routing import resolve_builder_reference

    builder = resolve_builder_reference(hyperparameters.pop("builder"))
    learning_rate = hyperparameters.pop("learning_rate", None)
    momentum = hyperparameters.pop("momentum", None)
    jit_compile = hyperparameters.pop("jit_compile", None)
    steps_per_execution = hyperparameters.pop("steps_per_execution", None)
    seed = params.get("random_state")
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    with _private_seed_source(seed):
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
    from tensorflow.python.framework import config  # where Keras itself reads it

    lift = config.is_op_determinism_enabled() and not tf.config.list_physical_devices("GPU")
    if lift:
        config.disable_op_determinism()
    try:
        model.jit_compile = True
    finally:
        if lift:
            config.enable_op_determinism()


def _build_training_state(model, X, y) -> None:
    """Create the compiled metrics' and loss's variables (and an unbuilt optimizer's)
    before the first fit, from one row of its data.

    Keras creates them while it traces the train step, and a ``tf.function`` whose first
    trace creates variables is traced a second time: ~0.5 s more per new model here (a GRU
    of 4 units: its first fit 1.7 s instead of 1.1 s). Built ahead, the step is traced
    once; the training is the same (no random draw happens here: the build is symbolic).
    Keras's own way (``_symbolic_build``, what it does under a distribution strategy);
    where it cannot, Keras builds them in the trace as before.
    """
    build = getattr(model, "_symbolic_build", None)
    if build is None or y is None:
        return
    first_row = keras.tree.map_structure(lambda array: array[:1], (X, y))
    try:
        build(data_batch=(*first_row, None))
    except Exception:  # noqa: BLE001 - an optimization only: the trace builds them anyway
        return


@contextmanager
def _private_seed_source(seed):
    """Keras gives each unseeded initializer and layer a seed drawn from Python's global
    ``random``; other threads of the process draw from it too (a Dask worker's event loop
    does, at any moment), and a model built there came out different from one run to the
    next. During the build, Keras draws from a generator of its own, seeded as
    ``set_random_seed`` seeds the global one: the same seeds, whatever other threads do."""
    if seed is None or not hasattr(_keras_seeding, "python_random"):  # a later Keras
        yield
        return
    saved = _keras_seeding.python_random
    _keras_seeding.python_random = random.Random(int(seed))
    try:
        yield
    finally:
        _keras_seeding.python_random = saved


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

    def __init__(self, X, y, batch_size: int):
        super().__init__()
        self.X, self.y, self.batch_size = X, y, batch_size
        self.prediction = None

    def on_epoch_begin(self, epoch, logs=None):
        self.prediction = None

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        self.prediction = predict_rows(model, self.X, self.batch_size)
        if self._loss_from_prediction(model):
            model.reset_metrics()  # the epoch's training results are in ``logs`` already
            y_pred = keras.tree.map_structure(keras.ops.convert_to_tensor, self.prediction)
            loss = model._compute_loss(y=self.y, y_pred=y_pred, training=False)
            model._loss_tracker.update_state(loss)
            results = model.compute_metrics(None, self.y, y_pred)
        else:
            results = model.evaluate(
                self.X, self.y, batch_size=self.batch_size, verbose=0, return_dict=True
            )
        if logs is not None:
            logs.update({f"val_{name}": float(value) for name, value in results.items()})

    @staticmethod
    def _loss_from_prediction(model) -> bool:
        kind = type(model)
        overrides = any(
            getattr(kind, name) is not getattr(keras.Model, name)
            for name in ("test_step", "compute_loss", "compute_metrics")
        )
        return not overrides and not any(layer._losses for layer in model._flatten_layers())


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


def describe_model(model) -> dict[str, Any] | None:
    """``n_params`` and the ``summary`` text of a built model (None before it is built)."""
    if model is None or not model.built:
        return None
    lines: list[str] = []
    model.summary(print_fn=lambda text, **_: lines.append(text))
    return {"n_params": int(model.count_params()), "summary": "\n".join(lines)}


class _TrackedFitMixin:
    """What every hpsearch fit adds to SciKeras's: fold validation, NaN checks, records."""

    def fit(self, X, y, sample_weight=None, *, row_index=None, fold_plan=None, **kwargs):
        fold = fold_plan.fold_of(row_index) if fold_plan is not None else None
        self._validation_rows = fold_plan.validation_rows(fold) if fold is not None else None
        # Which fold of which cross-validation this fit is: fits of the same fold may
        # share epochs (hpsearch.models.reuse).
        self._fold = None if fold is None else (fold_plan.records_dir, fold)
        self._epoch_log = _EpochLog()
        self.y_shape_ = np.shape(y)  # read by the regression head through ``meta``
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
            self._validation_rows = self._fold_validation = None
            callbacks = getattr(self, "_fit_callbacks", None) or []
            self._fit_callbacks = [c for c in callbacks if not isinstance(c, _FoldValidation)]
        if fold is not None:
            fold_plan.record(
                self.get_params(),
                fold,
                history=self.history_,
                model=self._model_facts(fold),
                trained_epochs=0 if self._took_epochs else len(self.history_.get("loss", [])),
                epoch_seconds=self._epoch_log.seconds,
            )
        return self

    def _model_facts(self, fold: int) -> dict[str, Any] | None:
        """The first fold describes the model for the trial (the others train the same)."""
        return describe_model(getattr(self, "model_", None)) if fold == 0 else None

    def _fit_keras_model(self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs):
        self._fold_validation = None
        if getattr(self, "_validation_rows", None) is not None:
            X_val, y_val = self._validate_data(*self._validation_rows)
            self._fold_validation = _FoldValidation(
                self.feature_encoder_.transform(X_val),
                self.target_encoder_.transform(y_val),
                batch_size=self.validation_batch_size or self._evaluation_batch_size(X),
            )
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
        if not any(isinstance(c, _StopOnNonFiniteLoss) for c in self._fit_callbacks):
            self._fit_callbacks = [*self._fit_callbacks, _StopOnNonFiniteLoss()]
        ours = (_FoldValidation, _EpochLog, _KeepEpochs)
        others = [c for c in self._fit_callbacks if not isinstance(c, ours)]
        if self._fold_validation is not None:
            others.insert(0, self._fold_validation)
        if getattr(self, "_epoch_log", None) is not None:
            others.append(self._epoch_log)
        if group is not None:
            others.append(_KeepEpochs(group, self._fold[1], epochs))
        self._fit_callbacks = others
        _build_training_state(self.model_, X, y)
        seed = self._random_state
        if seed is None or not keeps_kernels_safely(self.model_):
            return super()._fit_keras_model(
                X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs
            )
        # SciKeras seeds the fit itself while ``_random_state`` is set; here ``seeded_fit``
        # does, the same way but keeping the prepared steps (hpsearch.models.seeding).
        self._random_state = None
        try:
            with seeded_fit(seed):
                return super()._fit_keras_model(
                    X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs
                )
        finally:
            self._random_state = seed

    def epoch_score(self, scorer, X_val, y_val) -> float:
        """``scorer(self, X_val, y_val)`` from inside the fit, after an epoch: the scorer's
        predictions are the ones that epoch's validation made (``X_val`` must be the fold's
        held-out rows), so the pruner's score costs no second pass over them."""
        validation = getattr(self, "_fold_validation", None)
        self._epoch_prediction = None if validation is None else validation.prediction
        try:
            return scorer(self, X_val, y_val)
        finally:
            self._epoch_prediction = None

    def _predict_raw(self, X, **kwargs):
        """Predictions in large batches: the training batch size (10 in the lecture's grid)
        made scoring a fold cost a third of an epoch. Rows are predicted independently, so
        the batch does not change the answers. In-memory arrays skip Keras's tf.data set-up
        (``hpsearch.models.prediction``). Within ``epoch_score``, the epoch's own."""
        ready = getattr(self, "_epoch_prediction", None)
        if ready is not None and len(keras.tree.flatten(ready)[0]) == len(X):
            self._epoch_prediction = None  # once: a scorer predicts its rows once
            return ready
        if getattr(self, "predict__batch_size", None) is None and "batch_size" not in kwargs:
            kwargs["batch_size"] = self._evaluation_batch_size(X)
        settings = route_params(
            self.get_params(), destination="predict", pass_filter=self._predict_kwargs, strict=True
        )
        settings.update(kwargs)
        batch_size = settings.get("batch_size") or -1  # -1 (all rows): SciKeras resolves it
        if (
            not self.initialized_
            or batch_size < 1
            or settings.get("steps")
            or settings.get("verbose")
        ):
            return super()._predict_raw(X, **kwargs)
        X, _ = self._validate_data(X=X, y=None)  # as SciKeras's own _predict_raw
        X = self.feature_encoder_.transform(X)
        return predict_rows(self.model_, X, batch_size, self._predict_callbacks)

    def _evaluation_batch_size(self, X) -> int:
        """At least the training batch size; up to 512 rows of up to 2**20 values in all."""
        values_per_row = max(1, int(np.prod(np.shape(X)[1:])))
        largest = max(1, min(EVALUATION_BATCH, 2**20 // values_per_row))
        return max(int(self.batch_size or 32), largest)

    def _epochs_group(self, warm_start: bool, initial_epoch: int) -> str | None:
        """The group of fits this one may share epochs with; None if it may not."""
        if warm_start or initial_epoch or getattr(self, "_fold", None) is None:
            return None
        if not (BUILT_MODELS.active and BUILT_MODELS.holds(self.model_)):
            return None
        return epochs_group_key(self.get_params(), self._get_metadata(), self._fold[0])

    def _build_keras_model(self):
        """A fresh model, or inside ``BUILT_MODELS.reusing()`` the same architecture's kept
        one reset to its initial state (see ``hpsearch.models.reuse``)."""
        # SciKeras reads the metadata of a new, unfitted encoder (``feature_encoder`` is a
        # property): the fitted one's (text as token ids) is added here.
        vars(self).update(self.feature_encoder_.get_metadata())
        if not BUILT_MODELS.active:
            return super()._build_keras_model()
        key = architecture_key(self.get_params(), self._get_metadata())
        model = BUILT_MODELS.get(key, getattr(self, "learning_rate", None))
        if model is None:
            release_keras_memory()  # the kept models stay usable
            model = super()._build_keras_model()
            BUILT_MODELS.keep(key, model)
        return model

    @property
    def feature_encoder(self):
        # The builder's own names (absent for builders that take no text settings).
        return TextTokens(getattr(self, "vocab_size", None), getattr(self, "sequence_length", None))

    def _validate_data(self, X=None, y=None, reset: bool = False, **kwargs):
        """SciKeras casts every X to numbers; raw text (strings) passes through as (n, 1)."""
        if X is None or np.asarray(X).dtype.kind not in "OUS":
            return super()._validate_data(X=X, y=y, reset=reset, **kwargs)
        X = np.asarray(X, dtype=object)
        X = X.reshape(-1, 1) if X.ndim == 1 else X
        if y is not None:
            _, y = super()._validate_data(X=None, y=y, reset=reset, **kwargs)
            if len(y) != len(X):
                raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
        if reset:
            self.X_dtype_, self.X_shape_, self.n_features_in_ = X.dtype, X.shape, X.shape[1]
        return X, y

    def _raise_if_diverged(self) -> None:
        losses = self.history_.get("loss", [])
        for epoch, value in enumerate(losses, start=1):
            if not math.isfinite(value):
                raise TrialFailed(f"the training loss became {value} at epoch {epoch}")


class HpsearchClassifier(_TrackedFitMixin, KerasClassifier):
    """``KerasClassifier`` seen by scikit-learn as a classifier: stratified folds, proba scorers."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags()
        tags.target_tags.required = True
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        return tags


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


class HpsearchRegressor(_TrackedFitMixin, KerasRegressor):
    """``KerasRegressor`` that scikit-learn sees as a regressor, on standardised targets."""

    @property
    def target_encoder(self):
        return StandardizedTargetEncoder()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.regressor_tags = RegressorTags()
        tags.target_tags.required = True
        tags.input_tags.three_d_array = True
        return tags


def deployable_model(estimator):
    """The fitted Keras model taking raw inputs and giving answers in the data's units.

    A text model gets its fit's vectorizer in front (it trained on token ids). For a
    regressor, the target standardisation is appended as a ``Rescaling`` layer, so the
    saved model predicts prices, not standardised prices.
    """
    model = estimator.model_
    tokens = getattr(estimator, "feature_encoder_", None)
    if isinstance(tokens, TextTokens) and tokens.get_metadata():
        model = text_model(model, tokens)
    encoder = getattr(estimator, "target_encoder_", None)
    if not isinstance(encoder, StandardizedTargetEncoder):
        return model
    outputs = keras.layers.Rescaling(
        scale=encoder.scale_.tolist(), offset=encoder.mean_.tolist(), name="target_scale"
    )(model.outputs[0])
    return keras.Model(model.inputs, outputs, name=model.name)


def make_estimator(
    task: str,
    builder: str,
    parameters: dict[str, Any],
    *,
    loss: str | None = None,
    seed: int | None = None,
    jit_compile: bool | None = None,
    steps_per_execution: int | None = None,
):
    """An unfitted estimator for ``task`` whose parameters are the study's names.

    ``builder`` is a reference (``lstm``, ``pkg.mod:fn``, ``/abs/path/file.py:fn``) so that
    the estimator pickles to other processes without pickling functions.
    """
    estimator_class = HpsearchClassifier if task == "classification" else HpsearchRegressor
    return estimator_class(
        model=build_model,
        builder=builder,
        loss=loss,
        random_state=seed,
        verbose=0,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
        **parameters,
    )


__all__ = [
    "FoldPlan",
    "HpsearchClassifier",
    "HpsearchRegressor",
    "StandardizedTargetEncoder",
    "build_model",
    "deployable_model",
    "make_estimator",
    "make_optimizer",
]
