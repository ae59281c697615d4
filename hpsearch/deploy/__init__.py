"""Deployment: the best model exported (``model.keras``, SavedModel, MLflow model, model
card, registry; ``export``), batch predictions of an export (``predict``), and the code the
MLflow model carries with it (``serving_model``, which imports nothing of hpsearch: it is
copied into the export).
"""
