"""Event type schemas: what is refused at save so that no publish's check can run without end,
and the bound on a check's work whatever was saved."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
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


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, 1.0, 2.5, -0.0])
    | st.sampled_from(["", "a", "b"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(JSON_VALUES, max_size=6), JSON_VALUES)
def test_equality_keywords_agree_with_the_reference_validator(items, value):
    """uniqueItems, enum and const through equality keys decide as jsonschema's pairwise
    comparison does: 1 and 1.0 are equal, true and 1 are not, key order does not matter."""
    for schema, instance in (
        ({"uniqueItems": True}, items),
        ({"enum": items or [None]}, value),
        ({"const": items}, value),
        ({"const": value}, items),
    ):
        ours = event_schemas.Validator(schema, registry=Registry()).is_valid(instance)
        reference = Draft202012Validator(schema).is_valid(instance)
        assert ours == reference, (schema, instance)


def test_unique_items_and_enum_take_linear_work_at_the_sizes_data_reaches():
    """An array of 20,000 objects under uniqueItems (a 400 KB document) and 20,000 values
    against a 10,000-value enum stay within the document's step budget; compared pair by
    pair they took minutes of CPU for a single publish."""
    validator = event_schemas.compile_schema(
        {
            "type": "object",
            "properties": {
                "unique": {"type": "array", "uniqueItems": True},
                "listed": {"type": "array", "items": {"enum": list(range(10_000))}},
            },
        }
    )
    distinct = [{"k": n, "tag": "x"} for n in range(20_000)]
    data = {"unique": distinct, "listed": [9_999] * 20_000}
    assert event_schemas.errors(validator, data, ("data",), 400_000) == ([], False)
    repeated = {"unique": [*distinct, {"tag": "x", "k": 7.0}], "listed": [1, 10_000]}
    found, _ = event_schemas.errors(validator, repeated, ("data",), 400_000)
    assert [(e.pointer, e.keyword) for e in found] == [
        ("/data/listed/1", "enum"),
        ("/data/unique", "uniqueItems"),
    ]
    assert "item 20000 repeats an earlier one" in found[1].message
    assert "not one of the 10000 values allowed" in found[0].message


def test_a_reference_written_percent_encoded_resolves_at_save_as_at_publish():
    schema = {"$ref": "#/$defs/a%20b", "$defs": {"a b": {"type": "object", "required": ["x"]}}}
    validator = event_schemas.compile_schema(schema)
    found, _ = event_schemas.errors(validator, {}, ("data",), 2)
    assert [e.keyword for e in found] == ["required"]
    with pytest.raises(event_schemas.SchemaRefused, match="does not resolve"):
        event_schemas.compile_schema({"$ref": "#/$defs/a%20c", "$defs": {"a b": {}}})


@pytest.mark.parametrize("kinds", ["string", ["array", "null"]])
def test_a_schema_no_event_data_can_match_is_refused_at_save(kinds):
    """An event's data is always an object: a top-level type without "object" would make the
    type impossible to publish."""
    with pytest.raises(event_schemas.SchemaRefused, match="would refuse every event"):
        event_schemas.compile_schema({"type": kinds})
    event_schemas.compile_schema({"type": ["object", "null"]})


def test_an_error_through_a_reference_points_at_its_keyword_in_the_schema():
    """`schema_pointer` names the failing keyword where the tenant wrote it, also when it was
    reached through a `$ref` (the validator's own path would point beside it)."""
    schema = {
        "type": "object",
        "properties": {"x": {"$ref": "#/$defs/count"}, "y": {"type": "string"}},
        "$defs": {"count": {"type": "integer"}},
    }
    validator = event_schemas.compile_schema(schema)
    found, _ = event_schemas.errors(validator, {"x": "one", "y": 2}, ("data",), 20)
    assert [(e.pointer, e.schema_pointer) for e in found] == [
        ("/data/x", "/$defs/count/type"),
        ("/data/y", "/properties/y/type"),
    ]


def test_one_list_as_an_enum_and_as_a_const_is_read_as_each():
    """The keys made of a schema's values are kept per keyword: the same list object named by
    an `enum` and by a `const` is a list of values once and one value once."""
    shared = [None]
    as_enum = event_schemas.Validator({"enum": shared}, registry=Registry())
    as_const = event_schemas.Validator({"const": shared}, registry=Registry())
    assert as_enum.is_valid(None) and not as_enum.is_valid([None])
    assert as_const.is_valid([None]) and not as_const.is_valid(None)


@pytest.mark.parametrize(
    ("step", "good", "bad"),
    [
        (0.01, [19.99, 0.07, 4.35, 1e-2, 100, 0, -3.33], [19.999, 0.005]),
        (0.1, [0.3, 0.7, 1.1, 12345678.9], [0.35]),
        (5, [10, 10.0, -25, 1e20], [7, 7.5]),
        (0.5, [1.5, 3], [1.2]),
    ],
)
def test_multiple_of_is_decimal_as_the_numbers_are_written(step, good, bad) -> None:
    """Prices with a step of 0.01 pass; a float quotient refused 19.99 and 0.07."""
    validator = event_schemas.compile_schema(
        {"type": "object", "properties": {"amount": {"type": "number", "multipleOf": step}}}
    )
    for amount in good:
        assert event_schemas.errors(validator, {"amount": amount})[0] == [], amount
    for amount in bad:
        found, _ = event_schemas.errors(validator, {"amount": amount})
        assert [(e.pointer, e.keyword) for e in found] == [("/amount", "multipleOf")], amount


def test_multiple_of_at_the_ends_of_a_double_answers_exactly() -> None:
    """1.7e308 / 1e-300 overflows a double: answered in exact fractions instead."""
    schema = {
        "type": "object",
        "properties": {"n": {"multipleOf": 1e-300}, "m": {"multipleOf": 3e-300}},
    }
    validator = event_schemas.compile_schema(schema)
    found, _ = event_schemas.errors(validator, {"n": 1.7e308, "m": 1.7e308})
    assert [e.pointer for e in found] == ["/m"]


@pytest.mark.parametrize("index", ["-1", "00", "+1", "01", " 1"])
def test_an_array_index_in_a_reference_is_as_rfc_6901_writes_it(index) -> None:
    """`-1` is Python's last item, `00` its first: other validators refuse both; here too,
    at save, where the schema is written."""
    items = [{"type": "string"}, {"type": "integer"}]
    schema = {"type": "object", "prefixItems": items, "properties": {"a": {}}}
    schema["properties"]["a"] = {"$ref": f"#/prefixItems/{index}"}
    with pytest.raises(event_schemas.SchemaRefused, match="does not resolve"):
        event_schemas.compile_schema(schema)
    schema["properties"]["a"] = {"$ref": "#/prefixItems/1"}
    validator = event_schemas.compile_schema(schema)
    assert [e.pointer for e in event_schemas.errors(validator, {"a": "x"})[0]] == ["/a"]
