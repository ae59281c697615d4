"""The search space of a study file: ranges, choices and conditional branches.

A dimension is a scalar (fixed), a list (categorical choices), a ``Range`` (``low``/``high``,
optionally ``log`` or ``step``) or ``Branches`` (a choice whose values open their own
sub-spaces). Pydantic models; the errors name the key (``search.space.units.low``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
    model_validator,
)


def _check_scalar(value: Any) -> Any:
    if not isinstance(value, (bool, int, float, str)):
        raise ValueError(
            f"expected a number, a string or true/false (got {type(value).__name__} {value!r})"
        )
    return value


Scalar = Annotated[Any, AfterValidator(_check_scalar)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- the search space ------------------------------------------------------------------


class Range(_Section):
    """``{low, high, step?, log?}``: integers when both bounds are integers."""

    low: StrictInt | StrictFloat
    high: StrictInt | StrictFloat
    step: StrictInt | StrictFloat | None = None
    log: bool = False

    @model_validator(mode="after")
    def _check_bounds(self) -> Range:
        for name in ("low", "high", "step"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number (got {value})")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must be <= high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got low = {self.low})")
        if self.step is not None:
            if self.step <= 0:
                raise ValueError(f"step must be > 0 (got {self.step})")
            if self.log:
                raise ValueError("step and log cannot be combined")
        return self

    @property
    def is_int(self) -> bool:
        return all(isinstance(v, int) for v in (self.low, self.high, self.step or 1))

    def grid_values(self) -> list[int | float]:
        """The enumerated values, for the grid backend (floats need a step)."""
        if self.is_int:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise ValueError("a float range needs a step to be enumerated")
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def describe(self) -> str:
        kind = "int" if self.is_int else "float"
        extra = f", step {self.step}" if self.step is not None else ""
        extra += ", log" if self.log else ""
        return f"{kind} in [{self.low}, {self.high}]{extra}"


def _check_choices(values: list[Any]) -> list[Any]:
    if not values:
        raise ValueError("an empty list of choices; give at least one value")
    seen = set()
    for value in values:
        marker = (type(value).__name__, value)
        if marker in seen:
            raise ValueError(f"the choice {value!r} is listed twice")
        seen.add(marker)
    return values


def _dimension_kind(value: Any) -> str:
    if isinstance(value, list):
        return "<choices>"
    if isinstance(value, Mapping):
        return "<branches>" if "choices" in value else "<range>"
    return "<fixed>"


# A dimension inside a branch: choices, a range or a fixed value.
PlainDimension = Annotated[
    Annotated[list[Scalar], AfterValidator(_check_choices), Tag("<choices>")]
    | Annotated[Range, Tag("<range>")]
    | Annotated[Scalar, Tag("<fixed>")],
    Discriminator(_dimension_kind),
]


class Branches(_Section):
    """``{choices: {value: {name: dimension, ...}, ...}}``: a choice whose values bring
    their own sub-spaces (a learning-rate range per optimizer; ``growth`` only when
    ``layers`` > 1). One level: a branch holds plain dimensions."""

    choices: dict[StrictBool | StrictInt | StrictStr, dict[str, PlainDimension]]

    @field_validator("choices")
    @classmethod
    def _check_branches(cls, choices: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
        if not choices:
            raise ValueError("no choices; give at least one value with its sub-space ({})")
        for subspace in choices.values():
            _check_parameter_names(subspace)
        return choices

    def describe(self) -> str:
        return "one of " + "; ".join(
            f"{choice!r} with {', '.join(subspace) or 'nothing more'}"
            for choice, subspace in self.choices.items()
        )


Dimension = Annotated[
    Annotated[list[Scalar], AfterValidator(_check_choices), Tag("<choices>")]
    | Annotated[Range, Tag("<range>")]
    | Annotated[Branches, Tag("<branches>")]
    | Annotated[Scalar, Tag("<fixed>")],
    Discriminator(_dimension_kind),
]


def branch_name(name: str, parent: str, choice: Any) -> str:
    """The Optuna name of a parameter inside a branch (``learning_rate[optimizer=adam]``):
    its range may differ from branch to branch, and Optuna keeps one distribution per name."""
    return f"{name}[{parent}={choice}]"


def _check_parameter_names(names) -> None:
    """Names become keyword arguments of a loader, a builder or training."""
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{name!r} is not a valid parameter name")
