"""The study file's JSON Schema, from the pydantic models, for editors (``hpsearch schema``).

An editor that knows the schema completes the keys of a study file, shows what each takes
and underlines an unknown key as it is typed. With the YAML language server (VS Code's
YAML extension, Neovim, Helix...)::

    hpsearch schema > study.schema.json

and, as the study file's first line::

    # yaml-language-server: $schema=study.schema.json

The schema checks each key and its type, not everything ``hpsearch validate`` does: the
checks across sections (a metric that fits the task, a sampler's options), a range's
``low <= high`` and the builder's parameter names are ``validate``'s alone.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from hpsearch.study.model import Study

DIALECT = "https://json-schema.org/draft/2020-12/schema"
TITLE = "hpsearch study file"
# Fields of the Study model that are no keys of the file: set by hpsearch when it reads it.
INTERNAL_FIELDS = ("source",)
# What ``Scalar`` (a fixed value of the search space, an enqueued value) accepts.
SCALAR = {"type": ["number", "string", "boolean"]}


class _StudyFileSchema(GenerateJsonSchema):
    """pydantic's generator, with what the study file's types mean written as JSON Schema
    can check it.

    - ``Scalar`` (a fixed value of the space, a choice, an enqueued value) is ``Any`` that a
      validator keeps to numbers, strings and true/false: the only validated ``Any`` of
      the study's models. pydantic writes it as ``{}``, anything.
    - The space's dimensions and ``cv`` are unions told apart by a function (a list is
      choices, a mapping with ``choices`` branches...), which pydantic writes as ``oneOf``:
      but a value may match two members (``[1, 2]`` is a list and, to a schema, maybe
      more), so ``anyOf``.
    - A bound on a union (``timeout: int | float``, ``> 0``) comes out as pydantic's own
      ``gt``, a keyword JSON Schema does not know: its ``exclusiveMinimum``.
    """

    def function_after_schema(self, schema) -> dict[str, Any]:
        if schema["schema"]["type"] == "any":
            return dict(SCALAR)
        return super().function_after_schema(schema)

    def tagged_union_schema(self, schema) -> dict[str, Any]:
        generated = super().tagged_union_schema(schema)
        if "oneOf" in generated:
            generated["anyOf"] = generated.pop("oneOf")
        generated.pop("discriminator", None)
        return generated


_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _json_schema_bounds(schema: Any) -> Any:
    """pydantic's ``gt``/``ge``/``lt``/``le`` anywhere in ``schema`` as JSON Schema's
    keywords (which apply to numbers only, so they may sit beside an ``anyOf``); the
    names of ``properties`` are keys of the file, left as they are."""
    if isinstance(schema, list):
        return [_json_schema_bounds(value) for value in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        _BOUNDS.get(key, key): (
            {name: _json_schema_bounds(value) for name, value in value.items()}
            if key == "properties"
            else _json_schema_bounds(value)
        )
        for key, value in schema.items()
    }


def study_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a study file: every key, its type, its default."""
    schema = _json_schema_bounds(
        Study.model_json_schema(mode="validation", schema_generator=_StudyFileSchema)
    )
    for name in INTERNAL_FIELDS:
        schema["properties"].pop(name, None)
        if name in schema.get("required", []):
            schema["required"].remove(name)
    return {
        "$schema": DIALECT,
        "title": TITLE,
        "description": "A study of hpsearch: the data, the model builder, the search space"
        " and the metric (`hpsearch validate STUDY.yaml` checks the rest).",
        **{key: value for key, value in schema.items() if key not in ("title", "description")},
    }
