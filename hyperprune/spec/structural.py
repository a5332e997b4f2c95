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

The operator reuses this for the HyperpruneTrial CRD and the typed status; ``structural_errors`` is the
test that a schema will be accepted, and ``draft4_schema`` turns one into a JSON Schema (draft 4, whose
boolean exclusive bounds match OpenAPI v3.0) for validating sample custom resources with ``jsonschema``
or ``check-jsonschema``.
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
    out: dict[str, Any] = {"type": type_}
    if enum is not None:
        out["enum"] = list(enum)
    for key in _CARRIED:
        if key in node:
            out[key] = node[key]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            out[flag] = node[bound]
            out[bound] = True
    if node.get("format") in FORMATS:
        out["format"] = node["format"]
    if type_ == "array":
        out["items"] = _convert(node.get("items", {}), defs, seen)
    if type_ == "object":
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        if properties:
            out["properties"] = {name: _convert(sub, defs, seen) for name, sub in properties.items()}
            required = [r for r in node.get("required", []) if r in properties]
            if required:
                out["required"] = required
        elif isinstance(extra, dict) and extra:
            out["additionalProperties"] = _convert(extra, defs, seen)
        else:
            out[PRESERVE] = True
    return _describe(out, node)


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


# ---- the structural rules -----------------------------------------------------------------------

ALLOWED_KEYS = frozenset(
    {"type", "format", "title", "description", "default", "maximum", "exclusiveMaximum", "minimum",
     "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
     "multipleOf", "enum", "maxProperties", "minProperties", "required", "items", "allOf", "oneOf", "anyOf",
     "not", "properties", "additionalProperties", "nullable", "example", "externalDocs", PRESERVE, INT_OR_STRING,
     "x-kubernetes-embedded-resource", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
     "x-kubernetes-map-type", "x-kubernetes-validations"}
)
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
_FORBIDDEN_IN_JUNCTORS = ("type", "description", "default", "additionalProperties", "nullable", "title")


def structural_errors(schema: Any, path: str = "openAPIV3Schema") -> list[str]:
    """Every violation of the Kubernetes rules for a CRD's openAPIV3Schema (empty: structural)."""
    errors: list[str] = []
    if not isinstance(schema, dict):
        return [f"{path}: a schema must be a mapping"]
    if schema.get("type") != "object":
        errors.append(f"{path}: the root must have type object")
    _check_node(schema, path, errors)
    metadata = (schema.get("properties") or {}).get("metadata")
    if isinstance(metadata, dict):
        extra = set(metadata) - {"type", "properties", "description"}
        sub = set((metadata.get("properties") or {})) - {"name", "generateName"}
        if extra or sub:
            errors.append(f"{path}.properties.metadata: only metadata.name and metadata.generateName may be restricted")
    return errors


def _check_node(node: Any, path: str, errors: list[str]) -> None:
    if not isinstance(node, dict):
        errors.append(f"{path}: a schema must be a mapping, got {type(node).__name__}")
        return
    for key in node:
        if key not in ALLOWED_KEYS:
            errors.append(f"{path}: '{key}' is not allowed in a Kubernetes schema")
    type_ = node.get("type")
    preserve, int_or_string = node.get(PRESERVE), node.get(INT_OR_STRING)
    for flag in (PRESERVE, INT_OR_STRING):
        if flag in node and node[flag] is not True:
            errors.append(f"{path}: {flag} must be true when given")
    if int_or_string and type_:
        errors.append(f"{path}: {INT_OR_STRING} must not have a type")
    if not type_ and not preserve and not int_or_string:
        errors.append(f"{path}: must have a type (or {PRESERVE} / {INT_OR_STRING})")
    if type_ is not None and type_ not in TYPES:
        errors.append(f"{path}: type must be one of {', '.join(TYPES)}, got {type_!r}")
    if "nullable" in node and not isinstance(node["nullable"], bool):
        errors.append(f"{path}: nullable must be a boolean")
    if node.get("uniqueItems") is True:
        errors.append(f"{path}: uniqueItems must not be true")
    for bound, base in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if bound in node:
            if not isinstance(node[bound], bool):
                errors.append(f"{path}: {bound} must be a boolean (OpenAPI v3.0) with {base}")
            elif node[bound] and base not in node:
                errors.append(f"{path}: {bound} needs {base}")
    if "format" in node and node["format"] not in FORMATS:
        errors.append(f"{path}: unknown format {node['format']!r}")
    if "enum" in node:
        _check_enum(node, path, errors)
    if type_ == "array" and not isinstance(node.get("items"), dict):
        errors.append(f"{path}: an array must have one items schema")
    if "items" in node:
        if type_ != "array":
            errors.append(f"{path}: items needs type array")
        _check_node(node["items"], f"{path}.items", errors)
    if ("properties" in node or "additionalProperties" in node) and type_ not in ("object", None):
        errors.append(f"{path}: properties need type object")
    if "properties" in node and "additionalProperties" in node:
        errors.append(f"{path}: properties and additionalProperties are mutually exclusive")
    for name, sub in (node.get("properties") or {}).items():
        _check_node(sub, f"{path}.properties.{name}", errors)
    if "additionalProperties" in node:
        extra = node["additionalProperties"]
        if not isinstance(extra, dict):
            errors.append(f"{path}: additionalProperties must be a schema (false is not allowed)")
        else:
            _check_node(extra, f"{path}.additionalProperties", errors)
    required = node.get("required")
    if required is not None:
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            errors.append(f"{path}: required must be a list of field names")
        elif "properties" in node:
            missing = [r for r in required if r not in node["properties"]]
            if missing:
                errors.append(f"{path}: required names unknown properties {missing}")
    for junctor in _JUNCTORS:
        if junctor in node:
            parts = [node[junctor]] if junctor == "not" else node[junctor]
            for i, part in enumerate(parts):
                _check_junctor(part, node, f"{path}.{junctor}[{i}]", errors)


def _check_enum(node: dict[str, Any], path: str, errors: list[str]) -> None:
    python = {"string": str, "integer": int, "number": (int, float), "boolean": bool}.get(node.get("type", ""))
    values = node["enum"]
    if not isinstance(values, list) or not values:
        errors.append(f"{path}: enum must be a non-empty list")
        return
    for value in values:
        if value is None and node.get("nullable"):
            continue
        if python is not None and (not isinstance(value, python) or (python is not bool and isinstance(value, bool))):
            errors.append(f"{path}: enum value {value!r} does not match type {node.get('type')}")


def _check_junctor(part: Any, outer: dict[str, Any], path: str, errors: list[str]) -> None:
    """Inside allOf/anyOf/oneOf/not: only value constraints, and only on fields declared outside."""
    if not isinstance(part, dict):
        errors.append(f"{path}: a schema must be a mapping")
        return
    int_or_string_pattern = outer.get(INT_OR_STRING) and set(part) == {"type"} and part["type"] in ("integer", "string")
    for key in _FORBIDDEN_IN_JUNCTORS:
        if key in part and not (key == "type" and int_or_string_pattern):
            errors.append(f"{path}: '{key}' is not allowed inside allOf/anyOf/oneOf/not")
    for key in part:
        if key.startswith("x-kubernetes-"):
            errors.append(f"{path}: '{key}' is not allowed inside allOf/anyOf/oneOf/not")
    for name, sub in (part.get("properties") or {}).items():
        if name not in (outer.get("properties") or {}):
            errors.append(f"{path}.properties.{name}: must also be declared outside the junctor")
        else:
            _check_junctor(sub, outer["properties"][name], f"{path}.properties.{name}", errors)
    if "items" in part:
        if "items" not in outer:
            errors.append(f"{path}.items: must also be declared outside the junctor")
        else:
            _check_junctor(part["items"], outer["items"], f"{path}.items", errors)
    for junctor in _JUNCTORS:
        if junctor in part:
            nested = [part[junctor]] if junctor == "not" else part[junctor]
            for i, sub in enumerate(nested):
                _check_junctor(sub, outer, f"{path}.{junctor}[{i}]", errors)


# ---- validating custom resources ---------------------------------------------------------------------


def draft4_schema(schema: dict[str, Any], *, forbid_unknown: bool = False) -> dict[str, Any]:
    """A JSON Schema (draft 4) accepting what the API server accepts for this structural schema.
    ``forbid_unknown`` also rejects fields the API server would silently prune."""
    out = _draft4(schema, forbid_unknown)
    out["$schema"] = "http://json-schema.org/draft-04/schema#"
    return out


def _draft4(node: dict[str, Any], forbid_unknown: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "example", "externalDocs"):
            continue
        if key == "properties":
            out[key] = {name: _draft4(sub, forbid_unknown) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _draft4(value, forbid_unknown)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_draft4(sub, forbid_unknown) for sub in value]
        else:
            out[key] = value
    if node.get(INT_OR_STRING):
        out["type"] = ["integer", "string"]
    if node.get("nullable") and "type" in out:
        out["type"] = [*([out["type"]] if isinstance(out["type"], str) else out["type"]), "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    if forbid_unknown and node.get("type") == "object" and "properties" in node and not node.get(PRESERVE):
        out["additionalProperties"] = False
    return out
