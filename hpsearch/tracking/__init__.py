"""Tracking: the MLflow record of a study (parent run, one child run per trial, the tags
and metrics a trial logs), the provenance of a result (package versions, git commit) and
the lock that keeps two runs of a study off one local store.

Below the search layer, which records its trials through it; it imports only
``hpsearch.study``, ``hpsearch.errors`` and ``hpsearch.compat``.
"""
