"""Pydantic models -> Kubernetes *structural* OpenAPI v3 schemas, and a checker for the structural rules.

Kubernetes (apiextensions.k8s.io/v1) accepts only structural schemas in a CRD: every node has a type,
no ``$ref``, no ``anyOf`` carrying types, ``nullable`` instead of a null variant, boolean exclusive
bounds, no ``additionalProperties`` beside ``properties``. Pydantic writes JSON Schema 2020-12 with
``$defs``; ``structural_schema`` converts it:

- every ``$ref`` is inlined (a recursive model becomes a free-form object: Kubernetes cannot recurse);
- ``X | None`` becomes X with ``nullable: true``; ``const`` becomes a one-value ``enum``;
- a union of objects (a discriminated union) becomes one object with the union of their properties;
  a union of enums one enum; ``int | float`` a number; ``int | str`` ``x-kubernetes-int-or-string``;
  any other union, ``Any`` and ``dict[str, Any]`` become ``x-kubernetes-preserve-unknown-fields``
  (pydantic still validates them; the API server just stores them);
- bounds (``minimum``/``exclusiveMinimum``, lengths, ``pattern``), enums, descriptions (with the
  default appended, for ``kubectl explain``) and ``required`` lists are carried over; titles, defaults
  and pydantic's ``additionalProperties: false`` are dropped (the API server would otherwise inject
  defaults, and it prunes unknown fields anyway).

The operator reuses this for the HyperpruneTrial CRD and the typed status. The tests check every
generated schema against the structural rules (tests/spec/structural_rules.py) and a real API
server accepts the CRDs (tests/kube).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic import BaseModel

PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"
TYPES = ("object", "array", "string", "integer", "number", "boolean")
# Formats the API server understands; pydantic's others (e.g. "path") would only be ignored.
FORMATS = frozenset(
    {"int32", "int64", "float", "double", "byte", "binary", "date", "date-time", "datetime", "duration",
     "password", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3", "uuid4", "uuid5"}
)
_CARRIED = ("minimum", "maximum", "multipleOf", "minLength", "maxLength", "pattern", "minItems", "maxItems",
            "minProperties", "maxProperties")


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a pydantic model (camelCase field names)."""
    return to_structural(model.model_json_schema(by_alias=True, mode="validation"))


def to_structural(json_schema: dict[str, Any]) -> dict[str, Any]:
    """Convert a pydantic JSON schema (with ``$defs``) into a structural schema."""
    schema = copy.deepcopy(json_schema)
    defs = schema.pop("$defs", {})
    return _convert(schema, defs, ())


def _preserve(**extra: Any) -> dict[str, Any]:
    return {**extra, PRESERVE: True}


def _is_null(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") == "null" and len(node) <= 2


def _deref(node: dict[str, Any], defs: dict[str, Any], seen: tuple[str, ...]) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """Inline $ref and single-element allOf; the referring node's own keys (description) win."""
    while True:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                return None, seen
            local = {k: v for k, v in node.items() if k != "$ref"}
            node = {**defs[name], **local}
            seen = seen + (name,)
        elif "allOf" in node and len(node["allOf"]) == 1:
            local = {k: v for k, v in node.items() if k != "allOf"}
            node = {**node["allOf"][0], **local}
        else:
            return node, seen


def _describe(out: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    description = node.get("description")
    default = node.get("default")
    # Scalars and empty collections read well in `kubectl explain`; larger defaults would not.
    if "default" in node and default is not None and (not isinstance(default, (dict, list)) or not default):
        shown = json.dumps(default)
        description = f"{description.rstrip('.')}. Default: {shown}." if description else f"Default: {shown}."
    if description:
        out = {"description": description, **out}
    return out


def _convert(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    if node is True or node == {}:
        return _preserve()
    resolved, seen = _deref(node, defs, seen)
    if resolved is None:  # recursion: Kubernetes schemas cannot refer to themselves
        return _describe(_preserve(type="object"), node)
    node = resolved
    for junctor in ("anyOf", "oneOf"):
        if junctor in node:
            variants = node[junctor]
            out = _combine([_convert(v, defs, seen) for v in variants if not _is_null(v)])
            if any(_is_null(v) for v in variants):
                out["nullable"] = True
            return _describe(out, node)
    if "allOf" in node:  # several constraints on one value: merge them
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            part_node, _ = _deref(part, defs, seen)
            merged.update(part_node or {})
        merged.update({k: v for k, v in node.items() if k != "allOf"})
        return _convert(merged, defs, seen)
    type_ = node.get("type")
    if isinstance(type_, list):
        return _convert({**{k: v for k, v in node.items() if k != "type"}, "anyOf": [{"type": t} for t in type_]}, defs, seen)
    enum = [node["const"]] if "const" in node else node.get("enum")
    if type_ is None and enum:
        type_ = _enum_type(enum)
    if type_ is None:
        return _describe(_preserve(), node)
    if type_ == "null":
        return _describe(_preserve(nullable=True), node)
    typed: dict[str, Any] = {"type": type_}
    if enum is not None:
        typed["enum"] = list(enum)
    for key in _CARRIED:
        if key in node:
            typed[key] = node[key]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            typed[flag] = node[bound]
            typed[bound] = True
    if node.get("format") in FORMATS:
        typed["format"] = node["format"]
    if type_ == "array":
        typed["items"] = _convert(node.get("items", {}), defs, seen)
    if type_ == "object":
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        if properties:
            typed["properties"] = {name: _convert(sub, defs, seen) for name, sub in properties.items()}
            required = [r for r in node.get("required", []) if r in properties]
            if required:
                typed["required"] = required
        elif isinstance(extra, dict) and extra:
            typed["additionalProperties"] = _convert(extra, defs, seen)
        else:
            typed[PRESERVE] = True
    return _describe(typed, node)


def _enum_type(values: list[Any]) -> str | None:
    kinds = set()
    for v in values:
        if isinstance(v, bool):
            kinds.add("boolean")
        elif isinstance(v, int):
            kinds.add("integer")
        elif isinstance(v, float):
            kinds.add("number")
        elif isinstance(v, str):
            kinds.add("string")
        else:
            return None
    if kinds == {"integer", "number"}:
        return "number"
    return kinds.pop() if len(kinds) == 1 else None


def _strip_description(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != "description"}


def _combine(variants: list[dict[str, Any]]) -> dict[str, Any]:
    """One structural schema admitting every variant (as tight as Kubernetes can express)."""
    if not variants or any(v.get(PRESERVE) and "type" not in v for v in variants):
        return _preserve()
    if len(variants) == 1:
        return dict(variants[0])
    bare = [_strip_description(v) for v in variants]
    if all(b == bare[0] for b in bare):
        return dict(variants[0])
    types = {v.get("type") for v in variants}
    if None in types:
        return _preserve()
    if len(types) == 1 and all("enum" in v for v in variants):
        values: list[Any] = []
        for v in variants:
            values += [x for x in v["enum"] if x not in values]
        return {"type": types.pop(), "enum": values}
    if types == {"integer", "number"}:
        return {"type": "number"}
    if types == {"integer", "string"} and not any("enum" in v for v in variants):
        return {INT_OR_STRING: True}
    if types == {"array"}:
        return {"type": "array", "items": _combine([v["items"] for v in variants])}
    if types == {"object"}:
        if any("properties" not in v for v in variants):
            return _preserve(type="object")
        names: list[str] = []
        for v in variants:
            names += [n for n in v["properties"] if n not in names]
        properties = {
            n: _combine([v["properties"][n] for v in variants if n in v["properties"]]) for n in names
        }
        required = [n for n in names if all(n in v.get("required", ()) for v in variants)]
        out: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            out["required"] = required
        return out
    return _preserve()
