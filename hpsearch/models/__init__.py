"""Model builders (by name) and the scikit-learn estimators that train them.

A builder is ``def build(meta, **params) -> keras.Model`` (SciKeras's convention: ``meta``
holds ``n_features_in_``, ``X_shape_``, ``n_classes_``, ``target_type_``...). It may return
an uncompiled model: hpsearch compiles it with the study's optimizer, learning rate and a
loss that fits the task (see ``hpsearch.models.heads``).
"""

import warnings

# The recurrent builders' ``pooling: max`` drops the padding mask on purpose (see
# ``_recurrent_stack``); Keras warns at every trace of the model, in every process that
# builds, trains, loads or exports one.
warnings.filterwarnings("ignore", message="Layer 'max_over_steps' .* does not support masking")

BUILDERS: dict[str, str] = {
    "dense": "hpsearch.models.builders:build_dense",
    "simple_rnn": "hpsearch.models.builders:build_simple_rnn",
    "lstm": "hpsearch.models.builders:build_lstm",
    "gru": "hpsearch.models.builders:build_gru",
    "recurrent": "hpsearch.models.builders:build_recurrent",
    "cnn_lstm": "hpsearch.models.builders:build_cnn_lstm",
    "conv_lstm2d": "hpsearch.models.builders:build_conv_lstm2d",
}
