"""The structural rules of apiextensions.k8s.io/v1, as a checker for the schemas Hyperprune generates
(hyperprune.spec.structural), and ``draft4_schema`` to validate sample custom resources with
``jsonschema`` or ``check-jsonschema`` (draft 4, whose boolean exclusive bounds match OpenAPI v3.0).
Test support only: the product generates schemas, the API server enforces them.
"""

from __future__ import annotations

import copy
from typing import Any

from hyperprune.spec.structural import FORMATS, INT_OR_STRING, PRESERVE, TYPES

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
