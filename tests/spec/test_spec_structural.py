"""The pydantic -> structural schema converter, and the checker of the Kubernetes structural rules."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import jsonschema
import pytest
from pydantic import Field

from hyperprune.contract.document import Model
from hyperprune.spec.structural import INT_OR_STRING, PRESERVE, structural_schema
from structural_rules import draft4_schema, structural_errors


class Leaf(Model):
    """A leaf."""

    size: int = Field(3, ge=1, le=9, description="how big")
    ratio: float = Field(0.5, gt=0.0, lt=1.0)
    name: str = Field("x", min_length=1, pattern=r"^[a-z]+$")


class Cat(Model):
    kind: Literal["cat"]
    lives: int = 9


class Dog(Model):
    kind: Literal["dog"]
    good: bool = True


class Node(Model):
    leaf: Leaf = Field(default_factory=Leaf, description="the leaf here")
    maybe: Leaf | None = None
    mode: Literal["a", "b"] = "a"
    optional_mode: Literal["a", "b"] | None = None
    port: int | str = 80
    number: int | float = 1
    anything: Any = None
    free: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    items: list[Leaf] = Field(default_factory=list, min_length=1)
    pet: Annotated[Union[Cat, Dog], Field(discriminator="kind")] = Cat(kind="cat")
    mixed: Union[int, list[int], Leaf] = 1
    children: list["Node"] = Field(default_factory=list)


def test_conversion_rules():
    s = structural_schema(Node)
    assert structural_errors(s) == []
    p = s["properties"]
    assert p["leaf"]["description"] == "the leaf here" and p["leaf"]["type"] == "object"
    leaf = p["leaf"]["properties"]
    assert leaf["size"] == {"description": "how big. Default: 3.", "type": "integer", "minimum": 1, "maximum": 9}
    assert leaf["ratio"] == {"description": "Default: 0.5.", "type": "number", "minimum": 0.0, "exclusiveMinimum": True,
                             "maximum": 1.0, "exclusiveMaximum": True}
    assert leaf["name"]["pattern"] == "^[a-z]+$" and leaf["name"]["minLength"] == 1
    assert p["maybe"]["nullable"] is True and p["maybe"]["type"] == "object"
    assert p["mode"]["enum"] == ["a", "b"] and p["mode"]["type"] == "string"
    assert p["optionalMode"]["nullable"] is True and p["optionalMode"]["enum"] == ["a", "b"]
    assert p["port"][INT_OR_STRING] is True and "type" not in p["port"]
    assert p["number"]["type"] == "number"
    assert p["anything"] == {PRESERVE: True}
    assert p["free"] == {"type": "object", PRESERVE: True}
    assert p["labels"]["additionalProperties"] == {"type": "string"}
    assert p["items"]["minItems"] == 1 and p["items"]["items"]["properties"]["size"]["type"] == "integer"
    pet = p["pet"]
    assert pet["type"] == "object" and pet["properties"]["kind"]["enum"] == ["cat", "dog"]
    assert set(pet["properties"]) == {"kind", "lives", "good"} and pet["required"] == ["kind"]
    assert p["mixed"].get(PRESERVE) is True and "type" not in p["mixed"]
    # Kubernetes schemas cannot recurse: the recursion becomes a free-form object.
    assert p["children"]["items"] == {"type": "object", PRESERVE: True}
    assert "$defs" not in str(s) and "$ref" not in str(s) and "anyOf" not in str(s) and "title" not in str(s)


def test_required_fields_carry_over():
    class Req(Model):
        must: int
        may: int = 0

    assert structural_schema(Req)["required"] == ["must"]


@pytest.mark.parametrize(
    "schema, error",
    [
        ({"type": "object", "properties": {"a": {"description": "no type"}}}, "properties.a: must have a type"),
        ({"type": "object", "properties": {"a": {"$ref": "#/x"}}}, "'$ref' is not allowed"),
        ({"type": "object", "additionalProperties": False}, "additionalProperties must be a schema"),
        ({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}},
         "properties and additionalProperties are mutually exclusive"),
        ({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}},
         "'type' is not allowed inside allOf/anyOf/oneOf/not"),
        ({"type": "object", "properties": {"a": {"type": "object", "anyOf": [{"properties": {"b": {}}}]}}},
         "properties.b: must also be declared outside the junctor"),
        ({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}},
         "uniqueItems must not be true"),
        ({"type": "object", "properties": {"a": {"type": "number", "exclusiveMinimum": 0}}},
         "exclusiveMinimum must be a boolean"),
        ({"type": "object", "properties": {"a": {"type": "array"}}}, "an array must have one items schema"),
        ({"type": "object", "properties": {"a": {"type": "null"}}}, "type must be one of"),
        ({"type": "object", "properties": {"a": {"type": "string", "const": "x"}}}, "'const' is not allowed"),
        ({"type": "object", "properties": {"a": {"type": "string", "enum": [1]}}}, "enum value 1 does not match type string"),
        ({"type": "object", "properties": {"a": {"type": "integer", INT_OR_STRING: True}}}, "must not have a type"),
        ({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}},
         "only metadata.name and metadata.generateName may be restricted"),
        ({"type": "string"}, "the root must have type object"),
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}, "required names unknown properties"),
    ],
)
def test_the_checker_finds_non_structural_schemas(schema, error):
    errors = structural_errors(schema)
    assert any(error in e for e in errors), errors


def test_the_checker_accepts_kubernetes_idioms():
    schema = {
        "type": "object",
        "properties": {
            "port": {INT_OR_STRING: True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "free": {"type": "object", PRESERVE: True},
            "anything": {PRESERVE: True},
            "a": {"type": "object", "properties": {"b": {"type": "integer"}}, "oneOf": [{"required": ["b"]}]},
        },
    }
    assert structural_errors(schema) == []


def test_draft4_schema_validates_like_the_api_server():
    validator = jsonschema.Draft4Validator(draft4_schema(structural_schema(Node), forbid_unknown=True))
    good = {"leaf": {"size": 9, "ratio": 0.5}, "maybe": None, "optionalMode": None, "port": "http", "pet": {"kind": "dog"},
            "mixed": [1, 2], "free": {"x": {"y": 1}}, "items": [{"size": 1}]}
    assert list(validator.iter_errors(good)) == []
    bad = {"leaf": {"size": 10, "ratio": 1.0}, "mode": "c", "port": 1.5, "items": [], "unknown": 1}
    messages = sorted(e.message for e in validator.iter_errors(bad))
    assert len(messages) == 6, messages
    assert any("'c' is not one of ['a', 'b']" in m for m in messages)
    assert any("Additional properties are not allowed ('unknown' was unexpected)" in m for m in messages)
