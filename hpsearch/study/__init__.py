"""The study file: its sections (pydantic models), the search space, how a file is read,
the checks across sections, metric names and references to builders and loaders.

The lowest layer: it imports nothing of hpsearch but ``hpsearch.errors``, and neither
TensorFlow nor scikit-learn, so that ``hpsearch validate`` answers at once. Every other
layer reads a ``Study``.
"""

from hpsearch.study.model import (
    DEFAULT_OPTUNA_STORAGE,
    DEFAULT_TRACKING_URI,
    MODEL_SETTINGS,
    MOMENTUM_OPTIMIZERS,
    PRUNERS,
    SAMPLERS,
    TRAINING_PARAMETERS,
    DataSection,
    ModelSection,
    SearchSection,
    Study,
    TrackingSection,
    absolute_sqlite,
    redact_text,
    resolve_tracking_uri,
    sqlite_path,
)
from hpsearch.study.reading import apply_overrides, load_study, parse_study, read_yaml
from hpsearch.study.space import Branches, Range, branch_name

__all__ = [
    "DEFAULT_OPTUNA_STORAGE",
    "DEFAULT_TRACKING_URI",
    "MODEL_SETTINGS",
    "MOMENTUM_OPTIMIZERS",
    "PRUNERS",
    "SAMPLERS",
    "TRAINING_PARAMETERS",
    "Branches",
    "DataSection",
    "ModelSection",
    "Range",
    "SearchSection",
    "Study",
    "TrackingSection",
    "absolute_sqlite",
    "apply_overrides",
    "branch_name",
    "load_study",
    "parse_study",
    "read_yaml",
    "redact_text",
    "resolve_tracking_uri",
    "sqlite_path",
]
