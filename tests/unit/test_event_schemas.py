"""Event type schemas: what is refused at save so that no publish's check can run without end,
and the bound on a check's work whatever was saved."""

from __future__ import annotations

import pytest
from referencing import Registry

from hookline.core import event_schemas

TREE = {
    "$defs": {
        "node": {
            "type": "object",
            "required": ["v"],
            "properties": {
                "v": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            },
        }
    },
    "$ref": "#/$defs/node",
}


def test_a_recursive_schema_that_goes_into_the_data_is_kept() -> None:
    validator = event_schemas.compile_schema(TREE)
    deep: dict = {"v": 0}
    inner = deep
    for depth in range(1, 50):
        inner["children"] = [{"v": depth}]
        inner = inner["children"][0]
    assert event_schemas.errors(validator, deep, ("data",), 2_000) == ([], False)
    inner["children"] = [{}]
    found, _ = event_schemas.errors(validator, deep, ("data",), 2_000)
    assert [(e.keyword, e.pointer.count("/children/0")) for e in found] == [("required", 50)]


def test_data_values_that_look_like_schemas_are_not_walked() -> None:
    event_schemas.compile_schema(
        {
            "const": {"$ref": "#", "pattern": "(?=a)"},
            "enum": [{"anyOf": [{"$ref": "#"}]}],
            "default": {"patternProperties": {"(a)\\1": {}}},
        }
    )


def test_patterns_are_re2_from_the_check_at_save_on() -> None:
    """`\\p{L}` (a Unicode letter) is RE2's and not Python's `re`'s: the metaschema's `regex`
    format must not refuse what the patterns run on."""
    validator = event_schemas.compile_schema(
        {
            "properties": {"name": {"pattern": "^\\p{L}+$"}},
            "patternProperties": {"^\\p{Lu}": {"type": "integer"}},
        }
    )
    assert event_schemas.errors(validator, {"name": "Élodie", "Ä": 1}, (), 100) == ([], False)
    found, _ = event_schemas.errors(validator, {"name": "R2D2", "Ä": "x"}, (), 100)
    assert sorted((e.pointer, e.keyword) for e in found) == [("/name", "pattern"), ("/Ä", "type")]
    with pytest.raises(event_schemas.SchemaRefused, match="not a valid RE2 pattern"):
        event_schemas.compile_schema({"pattern": "(?=a)"})


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"allOf": [{"if": {"$ref": "#/allOf/0"}}]},
        {"$defs": {"a": {"dependentSchemas": {"k": {"$ref": "#/$defs/a"}}}}},
    ],
)
def test_references_that_loop_in_place_are_refused(schema) -> None:
    with pytest.raises(event_schemas.SchemaRefused, match="loop back"):
        event_schemas.compile_schema(schema)


def chain(length: int) -> dict:
    links = {f"d{n}": {"$ref": f"#/$defs/d{n + 1}"} for n in range(length)}
    return {"$defs": {**links, f"d{length}": {"type": "string"}}, "$ref": "#/$defs/d0"}


def test_a_long_chain_of_references_is_refused_without_recursion() -> None:
    """The validator would recurse a few frames per link (a RecursionError at publish); the
    check at save walks it without recursing, however long."""
    event_schemas.compile_schema(chain(event_schemas.MAX_IN_PLACE_DEPTH - 2))
    for length in (event_schemas.MAX_IN_PLACE_DEPTH, 5_000):
        with pytest.raises(event_schemas.SchemaRefused, match="a chain of more than"):
            event_schemas.compile_schema(chain(length))


def test_a_loop_saved_before_it_was_refused_is_an_error_not_a_crash() -> None:
    validator = event_schemas.Validator({"$ref": "#"}, registry=Registry())
    found, truncated = event_schemas.errors(validator, {"a": 1}, ("data",), 10)
    assert [(e.pointer, e.keyword) for e in found] == [("/data", "$ref")]
    assert "loop" in found[0].message and not truncated


def test_the_steps_grow_with_the_data() -> None:
    """The same schema and document: refused under a small document's budget, checked under
    a large one's (the budget is the document's size, as the caller measured it)."""
    twice = {"properties": {"x": {"$ref": "#"}}, "patternProperties": {"^x$": {"$ref": "#"}}}
    validator = event_schemas.compile_schema(twice)
    data: dict = {}
    inner = data
    for _ in range(12):  # 2**12 paths to the innermost value
        inner["x"] = {}
        inner = inner["x"]
    found, _ = event_schemas.errors(validator, data, ("data",), 10)
    assert [e.keyword for e in found] == ["$schema"]
    assert event_schemas.errors(validator, data, ("data",), 100_000) == ([], False)
