"""Errors the user can act on.

A ``UserError`` is a mistake in the user's input (study file, data, command line): the CLI
prints its one-line message and exits 2, with no traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input, reported as ``FILE: KEY: problem``."""

    @classmethod
    def at(cls, source: object, key: str, problem: str) -> UserError:
        return cls(f"{source}: {key}: {problem}")


class TrialFailed(Exception):
    """A trial that cannot produce a score (it raised, or its loss became NaN)."""
