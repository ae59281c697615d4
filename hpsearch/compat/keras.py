"""Keras 3's private API that hpsearch uses: seeding a build, and a model's loss and layers.

Every function names the private access, why, and the public alternative where one exists.
"""

from __future__ import annotations

import random
from contextlib import contextmanager

import keras


@contextmanager
def python_random_for_builds(seed: int | None):
    """Keras draws the seed of each unseeded initializer and layer from the module-level
    ``random.Random`` of ``keras.src.random.seed_generator`` (``python_random``), which
    ``keras.utils.set_random_seed`` seeds. Other threads draw from it too (a Dask worker's
    event loop, at any moment), so a model built there differed from run to run. Here a
    build draws from a generator of its own, seeded as ``set_random_seed`` would.

    Why: no public way to give one build its own source of seeds. Public alternative: seed
    every initializer and layer explicitly, which a user's builder does not do. Without the
    private name (a later Keras), builds draw from the shared generator as before.
    """
    module = _seed_generator_module()
    if seed is None or module is None or not hasattr(module, "python_random"):
        yield
        return
    saved = module.python_random
    module.python_random = random.Random(int(seed))
    try:
        yield
    finally:
        module.python_random = saved


def build_training_state(model, data_batch) -> bool:
    """Create a compiled model's metric, loss and optimizer variables from one batch,
    symbolically (``Model._symbolic_build``, what Keras does under a distribution strategy).

    Why: a ``tf.function`` whose first trace creates variables is traced twice; built ahead,
    the train step is traced once (~0.5 s per new model here). Public alternative: none
    (``model.build`` builds the layers only). Returns False where Keras lacks it.
    """
    build = getattr(model, "_symbolic_build", None)
    if build is None:
        return False
    build(data_batch=data_batch)
    return True


def validation_results(model, y, y_pred, sample_weight=None) -> dict:
    """The loss and compiled metrics of ``y_pred`` as Keras's test step computes them
    (``Model._compute_loss`` with the model's regularization, into ``Model._loss_tracker``),
    from a prediction already made.

    Why: ``evaluate`` would predict the rows a second time through a third traced function.
    Public alternative: ``model.evaluate`` (used where ``loss_needs_only_prediction`` is
    False).
    """
    model.reset_metrics()
    loss = model._compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
    model._loss_tracker.update_state(loss)
    return model.compute_metrics(None, y, y_pred, sample_weight=sample_weight)


def loss_needs_only_prediction(model) -> bool:
    """Whether ``validation_results`` gives what ``evaluate`` would: the model does not
    override how it tests or computes its loss and metrics, and no layer adds a loss in its
    ``call`` (``Layer._losses``).

    Why: ``Model.losses`` mixes those with the weights' regularization losses, which the
    loss computation adds itself. Public alternative: none.
    """
    kind = type(model)
    overrides = any(
        getattr(kind, name) is not getattr(keras.Model, name)
        for name in ("test_step", "compute_loss", "compute_metrics")
    )
    return not overrides and not any(layer._losses for layer in all_layers(model))


def all_layers(model) -> list:
    """Every layer of ``model``, nested ones included (``Layer._flatten_layers``).

    Why: ``model.layers`` lists only the top level, and a wrapper (``Bidirectional``) does
    not list the layer it wraps. Public alternative: none that sees wrapped layers.
    """
    return list(model._flatten_layers())


def _seed_generator_module():
    try:
        from keras.src.random import seed_generator
    except ImportError:
        return None
    return seed_generator


def missing() -> list[str]:
    """The private names above that this Keras lacks."""
    gone = []
    module = _seed_generator_module()
    if module is None or not hasattr(module, "python_random"):
        gone.append("keras.src.random.seed_generator.python_random")
    for name in ("_symbolic_build", "_compute_loss", "_flatten_layers"):
        if not hasattr(keras.Model, name):
            gone.append(f"keras.Model.{name}")
    # Set in __init__ (no class attribute): looked up on a built model.
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    for name in ("_loss_tracker", "_losses"):
        if not hasattr(model, name):
            gone.append(f"keras.Model.{name}")
    return gone
