"""A refused event's errors speak JSON: `null`, `true`, `"text"`, never Python's `None`, `True`,
`'text'`; an object or an array is named, not printed; and a `false` subschema's error points
at the property it refuses."""

from __future__ import annotations

import pytest

from hookline.core.event_schemas import compile_schema, errors


def messages(schema: dict, data: dict) -> dict[str, str]:
    found, _ = errors(compile_schema({"type": "object", "properties": schema}), data, ("data",), 1)
    return {error.pointer: error.message for error in found}


@pytest.mark.parametrize(
    ("schema", "value", "said"),
    [
        ({"type": "string"}, None, "expected string, got null"),
        ({"type": ["string", "null"]}, 1.5, "expected string or null, got number"),
        ({"type": "integer"}, True, "expected integer, got boolean"),
        ({"minimum": 0}, -1, "-1 is less than the minimum of 0"),
        ({"maximum": 1.5}, 2, "2 is greater than the maximum of 1.5"),
        ({"exclusiveMinimum": 0}, 0, "0 must be greater than 0"),
        ({"exclusiveMaximum": 0}, 0, "0 must be less than 0"),
        ({"multipleOf": 0.5}, 1.2, "1.2 is not a multiple of 0.5"),
        ({"minLength": 3}, "ab", '"ab" is shorter than 3 characters'),
        ({"maxLength": 1}, "ab", '"ab" is longer than 1 character'),
        ({"minItems": 2}, [None], "the array has fewer than 2 items"),
        ({"maxItems": 0}, [None], "the array has more than 0 items"),
        ({"minProperties": 1}, {}, "the object has fewer than 1 property"),
        ({"maxProperties": 1}, {"a": 1, "b": 2}, "the object has more than 1 property"),
        ({"pattern": "^a"}, "b'c", '"b\'c" does not match "^a"'),
        ({"enum": ["a", None]}, False, "false is not one of the 2 values allowed"),
        ({"const": None}, "None", "null was expected"),
        (
            {"uniqueItems": True},
            [{"a": None}, {"a": None}],
            'item 1 repeats an earlier one: {"a": null}',
        ),
        (
            {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            {"k": [1]},
            "the object matches none of the 2 schemas of anyOf",
        ),
        (
            {"oneOf": [{"type": "integer"}, {"minimum": 0}]},
            5,
            "5 matches more than one of the 2 schemas of oneOf",
        ),
        ({"oneOf": [{"type": "string"}]}, None, "null matches none of the 1 schema of oneOf"),
        ({"not": {"type": "string"}}, "t", '"t" matches the schema under not'),
        ({"required": ["id"]}, {"ID": 1}, '"id" is required'),
        ({"dependentRequired": {"a": ["b"]}}, {"a": 1}, '"b" is required when "a" is there'),
        (
            {"additionalProperties": False},
            {"é": 1},
            'additional properties are not allowed ("é" unexpected)',
        ),
        ({"prefixItems": [{}], "items": False}, [1, 2], "the array has more than 1 item"),
        (
            {"unevaluatedProperties": False},
            {"q": None},
            '"q" is not allowed here (unevaluatedProperties is false)',
        ),
        (
            {"contains": {"type": "string"}},
            [1],
            "the array does not contain items matching the given schema",
        ),
        ({"const": "x" * 200}, "y", '"' + "x" * 76 + "... was expected"),
    ],
)
def test_each_keyword_speaks_json(schema, value, said) -> None:
    assert messages({"v": schema}, {"v": value}) == {"/data/v": said}


def test_a_false_subschema_points_at_the_property_it_refuses() -> None:
    found, _ = errors(
        compile_schema({"properties": {"legacy": False}}), {"legacy": 1}, ("data",), 1
    )
    assert [(e.pointer, e.keyword, e.message) for e in found] == [
        ("/data/legacy", "properties", 'the property "legacy" is not allowed')
    ]
    found, _ = errors(
        compile_schema({"patternProperties": {"^x-": False}}), {"x-a": 1}, ("data",), 1
    )
    assert [e.pointer for e in found] == ["/data/x-a"]
    found, _ = errors(compile_schema({"allOf": [False]}), {}, ("data",), 1)
    assert [(e.pointer, e.keyword) for e in found] == [("/data", "false")]


def test_a_schema_refused_at_save_speaks_json_too() -> None:
    from hookline.core.event_schemas import SchemaRefused

    with pytest.raises(SchemaRefused, match='/type: "nope" matches none of the 2 schemas of anyOf'):
        compile_schema({"type": "nope"})
    with pytest.raises(SchemaRefused, match="/required: expected array, got string"):
        compile_schema({"required": "id"})
