"""Webhook matching: type patterns, the filter dialect on mongoquery, validation, explanations."""

from __future__ import annotations

from typing import Any

import pytest
from mongoquery import Query

from hookline.core.filters import (
    ALLOWED_OPERATORS,
    MAX_NODES,
    FilterError,
    MatchResult,
    explain,
    matches,
    type_matches,
    validate_filter,
)


def event(type_: str = "user.updated", tenant: str = "ten_1", **data: Any) -> dict[str, Any]:
    return {"type": type_, "data": data, "tenant": tenant}


def f(spec: dict[str, Any], document: dict[str, Any]) -> bool:
    """Filter only (the type always matches), after checking the spec validates."""
    validate_filter(spec)
    return matches(["*"], spec, document)


# --------------------------------------------------------------------------- type patterns


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["user.created"], "user.created", True),
        (["user.created"], "user.updated", False),
        (["user.*"], "user.created", True),
        (["user.*"], "user.mfa.enabled", True),
        (["user.*"], "user", False),
        (["user.*"], "users.created", False),
        (["user.*"], "data.user.created", False),
        (["user.mfa.*"], "user.mfa.enabled", True),
        (["user.mfa.*"], "user.created", False),
        (["*"], "anything.at.all", True),
        (["*"], "x", True),
        ([], "user.created", False),
        (["data.created", "user.*"], "user.deleted", True),
        (["user.created"], "user.created.extra", False),
    ],
)
def test_type_matches(patterns: list[str], event_type: str, expected: bool) -> None:
    assert type_matches(patterns, event_type) is expected


# --------------------------------------------------------------------------- seed examples


@pytest.mark.parametrize(
    "spec",
    [
        {"data.changed": {"$in": ["email", "password"]}},
        {"$or": [{"data.changed": "email"}, {"data.changed": "password"}]},
        {"$or": [{"data.changed": {"$contains": "email"}}, {"data.changed": {"$eq": "password"}}]},
    ],
)
def test_seed_user_updated_only_when_email_or_password_changed(spec: dict[str, Any]) -> None:
    events = ["user.updated"]
    validate_filter(spec)
    assert matches(events, spec, event(changed=["email"]))
    assert matches(events, spec, event(changed=["name", "password"]))
    assert not matches(events, spec, event(changed=["name", "avatar"]))
    assert not matches(events, spec, event(changed=[]))
    assert not matches(events, spec, event())  # no data.changed at all
    # Right data, wrong type: the type patterns gate first.
    assert not matches(events, spec, event("user.created", changed=["email"]))


def test_seed_only_events_of_application_x() -> None:
    by_id = {"data.application": "X"}
    by_object = {"data.application.id": {"$eq": "X"}}
    validate_filter(by_id)
    validate_filter(by_object)
    assert matches(["*"], by_id, event(application="X"))
    assert not matches(["*"], by_id, event(application="Y"))
    assert not matches(["*"], by_id, event())
    assert matches(["*"], by_object, event(application={"id": "X", "name": "App"}))
    assert not matches(["*"], by_object, event(application={"id": "Y"}))
    assert not matches(["*"], by_object, event(application="X"))


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"data.n": 3}, True),
        ({"data.n": {"$eq": 3}}, True),
        ({"data.n": {"$eq": 4}}, False),
        ({"data.n": {"$ne": 4}}, True),
        ({"data.n": {"$ne": 3}}, False),
        ({"data.n": {"$gt": 2}}, True),
        ({"data.n": {"$gt": 3}}, False),
        ({"data.n": {"$gte": 3}}, True),
        ({"data.n": {"$lt": 3}}, False),
        ({"data.n": {"$lte": 3}}, True),
        ({"data.n": {"$gt": 1, "$lt": 5}}, True),
        ({"data.n": {"$gt": 1, "$lt": 3}}, False),
        ({"data.n": {"$gt": "a"}}, False),  # number vs string: no match, no crash
        ({"data.s": {"$gt": "hallo"}}, True),
        ({"data.n": {"$in": [1, 2, 3]}}, True),
        ({"data.n": {"$in": [1, 2]}}, False),
        ({"data.n": {"$nin": [1, 2]}}, True),
        ({"data.n": {"$nin": [3]}}, False),
        ({"data.n": {"$exists": True}}, True),
        ({"data.n": {"$exists": False}}, False),
        ({"data.missing": {"$exists": False}}, True),
        ({"data.missing": {"$exists": True}}, False),
        ({"data.nested.deep.x": {"$exists": True}}, True),
        ({"data.nested.deep.y": {"$exists": True}}, False),
        ({"data.nested.deep.x": 1}, True),
        ({"data": {"nested": {"deep": {"x": 1}}}}, True),  # nested objects are sub-paths
        ({"data.items.1.sku": "b"}, True),  # numeric segment indexes a list
        ({"data.items.sku": "b"}, True),  # non-numeric segment maps over a list
        ({"data.items.sku": "z"}, False),
        ({"data.s": {"$regex": "^hel"}}, True),
        ({"data.s": {"$regex": "^ell"}}, False),
        ({"data.s": {"$regex": "ell"}}, True),  # searched, not anchored
        ({"data.s": {"$regex": "(?i)HELLO"}}, True),
        ({"data.s": {"$regex": "/HELLO/i"}}, False),  # a Python regex, not a JS literal
        ({"data.n": {"$regex": "3"}}, False),  # not a string
        ({"data.n": {"$not": {"$gt": 5}}}, True),
        ({"data.n": {"$not": {"$lt": 5}}}, False),
        ({"$not": {"data.n": 3}}, False),
        ({"$not": {"data.n": 4}}, True),
        ({"$and": [{"data.n": 3}, {"data.s": "hello"}]}, True),
        ({"$and": [{"data.n": 3}, {"data.s": "bye"}]}, False),
        ({"$or": [{"data.n": 4}, {"data.s": "hello"}]}, True),
        ({"$or": [{"data.n": 4}, {"data.s": "bye"}]}, False),
        ({"data.n": {"$or": [{"$lt": 0}, {"$gt": 2}]}}, True),
        ({"data.n": {"$and": [{"$gt": 0}, {"$lt": 2}]}}, False),
        ({"type": "user.updated", "tenant": "ten_1"}, True),
        ({"type": {"$regex": "^user\\."}, "tenant": {"$ne": "ten_1"}}, False),
        ({"data.flag": None}, True),
        ({"data.flag": {"$exists": True}}, True),
    ],
)
def test_operators(spec: dict[str, Any], expected: bool) -> None:
    document = event(
        n=3,
        s="hello",
        flag=None,
        nested={"deep": {"x": 1}},
        items=[{"sku": "a"}, {"sku": "b"}],
    )
    assert f(spec, document) is expected


def test_mongoquery_has_no_contains_so_we_translate_it() -> None:
    # Documents why the translation exists: plain mongoquery refuses the operator.
    with pytest.raises(Exception, match="contains"):
        Query({"data.tags": {"$contains": "a"}}).match(event(tags=["a"]))


@pytest.mark.parametrize(
    ("value", "operand", "expected"),
    [
        (["red", "green"], "red", True),  # list: element equality
        (["red", "green"], "re", False),  # ...not substring of an element
        (["red", "green"], "blue", False),
        ([1, 2, 3], 2, True),
        ([1, 2, 3], 4, False),
        ([{"k": 1}], {"k": 1}, True),
        ("hello world", "lo w", True),  # string: substring
        ("hello world", "l", True),
        ("hello world", "xyz", False),
        ("hello", "hello!", False),
        ("a.c", ".", True),  # regex metacharacters are literal
        ("abc", ".", False),
        ("abc", "a.c", False),
        (12345, 234, False),  # neither a list nor a string
        (12345, "234", False),
        ({"red": 1}, "red", False),  # not for objects
        (None, "x", False),
    ],
)
def test_contains(value: object, operand: object, expected: bool) -> None:
    assert f({"data.v": {"$contains": operand}}, event(v=value)) is expected


def test_contains_missing_field_and_negation() -> None:
    assert not f({"data.v": {"$contains": "a"}}, event())
    assert f({"data.v": {"$not": {"$contains": "a"}}}, event(v=["b"]))
    assert not f({"data.v": {"$not": {"$contains": "a"}}}, event(v="cat"))


def test_eq_and_ne_on_lists_follow_membership_like_mongodb() -> None:
    document = event(changed=["email", "name"])
    assert f({"data.changed": {"$eq": "email"}}, document)
    assert f({"data.changed": "email"}, document)
    assert not f({"data.changed": {"$ne": "email"}}, document)
    assert f({"data.changed": {"$ne": "password"}}, document)
    assert f({"data.changed": ["email", "name"]}, document)  # whole-list equality
    assert f({"data.changed": {"$eq": ["email", "name"]}}, document)


def test_eq_with_object_operand_is_literal_equality() -> None:
    document = event(app={"id": "X", "v": 2})
    assert f({"data.app": {"$eq": {"id": "X", "v": 2}}}, document)
    assert not f({"data.app": {"$eq": {"id": "X"}}}, document)
    assert f({"data.app": {"$ne": {"id": "X"}}}, document)


def test_exists_combined_with_other_operators_on_a_dotted_path() -> None:
    # Plain mongoquery ignores $gt next to $exists on a dotted path; ours does not.
    assert Query({"data.n": {"$exists": True, "$gt": 5}}).match(event(n=1))
    assert not f({"data.n": {"$exists": True, "$gt": 5}}, event(n=1))
    assert f({"data.n": {"$exists": True, "$gt": 0}}, event(n=1))


def test_exists_under_not_and_or() -> None:
    assert f({"data.x": {"$not": {"$exists": True}}}, event())
    assert not f({"data.x": {"$not": {"$exists": True}}}, event(x=1))
    assert f({"data.x": {"$or": [{"$exists": False}, {"$eq": 1}]}}, event())
    assert f({"data.x": {"$or": [{"$exists": False}, {"$eq": 1}]}}, event(x=1))
    assert not f({"data.x": {"$or": [{"$exists": False}, {"$eq": 1}]}}, event(x=2))
    assert not f({"data.a.b": {"$exists": False, "$eq": 1}}, event())


@pytest.mark.parametrize(
    "document",
    [
        event(changed="email"),  # a string where a list was expected
        event(changed=None),
        event(changed={"email": True}),
        event(changed=[["email"]]),
        event(changed=42),
        {"type": "user.updated"},  # no data at all
        {"type": "user.updated", "data": None},
        {"type": "user.updated", "data": ["x"]},
        {"type": "user.updated", "data": "text"},
    ],
)
def test_odd_data_never_crashes(document: dict[str, Any]) -> None:
    specs: list[dict[str, Any]] = [
        {"data.changed": {"$in": ["email", "password"]}},
        {"data.changed": {"$contains": "email"}},
        {"data.changed.0": {"$regex": "^e"}},
        {"data.changed": {"$gt": 1}},
        {"data.changed.x.y": {"$exists": True}},
        {"data": {"changed": {"$exists": False}}},
        {"data.changed": {"$not": {"$exists": True}}},
    ]
    for spec in specs:
        assert isinstance(matches(["*"], spec, document), bool)
        assert isinstance(explain(["*"], spec, document).matched, bool)


def test_evaluation_errors_mean_no_match() -> None:
    # An unvalidated filter (e.g. stored before a rule existed) must not crash matching.
    assert matches(["*"], {"data.x": {"$where": "1"}}, event(x=1)) is False
    assert matches(["*"], {"data.x": {"$in": "not a list"}}, event(x=1)) is False
    assert matches(["*"], {"data.x": {"$regex": "("}}, event(x="(")) is False
    assert matches(["*"], {"$and": "nope"}, event(x=1)) is False


def test_no_filter_matches_on_type_alone() -> None:
    assert matches(["user.*"], None, event(x=1))
    assert matches(["user.*"], {}, event(x=1))
    assert not matches(["data.*"], None, event(x=1))
    assert not matches(["*"], None, {"data": {}})  # no type


# --------------------------------------------------------------------------- validation


def error_of(spec: object) -> FilterError:
    with pytest.raises(FilterError) as info:
        validate_filter(spec)
    return info.value


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"type": "user.created"},
        {"data.changed": {"$in": ["email", "password"]}},
        {"$or": [{"data.changed": "email"}, {"data.changed": "password"}]},
        {"data.application.id": {"$eq": "X"}},
        {"data.email": {"$regex": "@example\\.com$"}},
        {"data.n": {"$gte": 1.5, "$lt": 10}},
        {"data.x": {"$exists": False}},
        {"data.x": {"$eq": None}},
        {"data.x": {"$eq": {"$literal": "keys inside values are data"}}},
        {"$not": {"data.x": 1}},
        {"data.x": {"$not": {"$in": [1, 2]}}},
        {"data": {"nested": {"x": {"$gt": 1}}}},
        {"$and": [{"$or": [{"data.a": 1}, {"data.b": 2}]}, {"tenant": "ten_1"}]},
        {"data.tags": {"$contains": "vip"}},
        # Sub-fields beside operators that can hold with them (a list holds both).
        {"data.a": {"$exists": True, "b": 2}},
        {"data.a": {"$ne": 1, "b": 2}},
        {"data.a": {"$gt": 1}, "data.a.b": 2},
        {"data.a": {"$regex": "^x", "b": 2}},  # ["xyz", {"b": 2}] holds both
    ],
)
def test_valid_filters(spec: dict[str, Any]) -> None:
    validate_filter(spec)


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ([], "", "JSON object"),
        ("data.x", "", "JSON object"),
        (None, "", "JSON object"),
        ({"data.x": {"$foo": 1}}, "data.x.$foo", "unknown operator $foo"),
        ({"$where": "1"}, "$where", "unknown operator $where"),
        ({"data.x": {"$elemMatch": {}}}, "data.x.$elemMatch", "unknown operator"),
        ({"data.x": {"$in": "email"}}, "data.x.$in", "$in needs a list"),
        ({"data.x": {"$nin": {"a": 1}}}, "data.x.$nin", "$nin needs a list"),
        ({"$and": []}, "$and", "non-empty list"),
        ({"$or": {"data.x": 1}}, "$or", "non-empty list"),
        ({"$or": [{"data.x": 1}, "data.y"]}, "$or[1]", "non-empty JSON object"),
        ({"$or": [{"data.x": 1}, {}]}, "$or[1]", "non-empty JSON object"),
        ({"$not": [{"data.x": 1}]}, "$not", "JSON object"),
        ({"data.x": {"$not": 1}}, "data.x.$not", "JSON object"),
        ({"data.x": {"$exists": 1}}, "data.x.$exists", "true or false"),
        ({"data.x": {"$exists": "yes"}}, "data.x.$exists", "true or false"),
        ({"data.email": {"$regex": 5}}, "data.email.$regex", "needs a string"),
        ({"data.email": {"$regex": "(unclosed"}}, "data.email.$regex", "not a valid RE2 pattern"),
        ({"data.email": {"$regex": "a" * 513}}, "data.email.$regex", "512"),
        ({"data.n": {"$gt": [1]}}, "data.n.$gt", "number or a string"),
        ({"data.n": {"$lte": True}}, "data.n.$lte", "number or a string"),
        ({"$gt": 1}, "$gt", "applies to a field"),
        ({"$and": [{"$in": [1]}]}, "$and[0].$in", "applies to a field"),
        ({"application": "X"}, "application", "unknown field 'application'"),
        ({"$or": [{"data.a": 1}, {"app.id": 1}]}, "$or[1].app.id", "unknown field 'app'"),
        ({"data..x": 1}, "data..x", "invalid field path"),
        ({"": 1}, "", "invalid field path"),
        ({"data.x": {}}, "data.x", "empty condition"),
        ({"data.x": {"$eq": {1, 2}}}, "data.x.$eq", "unsupported value"),
        # A value compared as a number or a string cannot also have a sub-field.
        ({"data.a": {"$gt": 1, "b": 2}}, "data.a.b", "can never match: $gt"),
        ({"data": {"a": {"$lte": 3, "b": {"$exists": True}}}}, "data.a.b", "can never match"),
        (
            {"$or": [{"data.a": 1}, {"data.b": {"$and": [{"$gt": 1}, {"$regex": "["}]}}]},
            "$or[1].data.b.$and[1].$regex",
            "not a valid RE2 pattern",
        ),
    ],
)
def test_invalid_filters(spec: object, path: str, message: str) -> None:
    error = error_of(spec)
    assert error.path == path
    assert message in error.message
    assert isinstance(error, ValueError)


def test_unknown_operator_message_lists_allowed_ones() -> None:
    error = error_of({"data.x": {"$size": 1}})
    for op in ALLOWED_OPERATORS:
        assert op in error.message
    assert str(error) == f"data.x.$size: {error.message}"


def test_depth_limit() -> None:
    # Each $not adds one object level; the field condition adds one more.
    def nested(levels: int) -> dict[str, Any]:
        spec: dict[str, Any] = {"data.x": 1}
        for _ in range(levels):
            spec = {"$not": spec}
        return spec

    validate_filter(nested(9))  # 10 objects deep
    error = error_of(nested(10))
    assert "deeper than 10" in error.message
    assert error.path == ".".join(["$not"] * 10)


def test_depth_limit_is_checked_before_recursing() -> None:
    spec: dict[str, Any] = {"data.x": 1}
    for _ in range(5000):
        spec = {"$not": spec}
    assert "deeper" in error_of(spec).message


def test_node_limit() -> None:
    validate_filter({"data.x": {"$in": list(range(MAX_NODES - 2))}})  # 2 + 98 nodes
    error = error_of({"data.x": {"$in": list(range(MAX_NODES))}})
    assert f"more than {MAX_NODES} nodes" in error.message
    wide = {f"data.f{i}": i for i in range(MAX_NODES + 1)}
    assert "nodes" in error_of(wide).message


def test_filter_error_is_value_error_with_fields() -> None:
    error = FilterError("data.email.$regex", "bad")
    assert isinstance(error, ValueError)
    assert (error.path, error.message, str(error)) == ("data.email.$regex", "bad", error.args[0])


# --------------------------------------------------------------------------- explain


def test_explain_type_reasons() -> None:
    result = explain(["user.*"], None, event("user.updated"))
    assert result == MatchResult(True, ["type user.updated matches 'user.*'", "no filter"])
    result = explain(["user.*"], None, event("data.created"))
    assert result.matched is False
    assert result.reasons[0] == "type data.created matches none of ['user.*']"


def test_explain_filter_matched_lists_held_clauses() -> None:
    spec = {"data.application": "X", "data.changed": {"$in": ["email"]}}
    result = explain(["user.updated"], spec, event(application="X", changed=["email"]))
    assert result.matched is True
    assert result.reasons == [
        "type user.updated matches 'user.updated'",
        "filter matched",
        "data.application held",
        "data.changed held",
    ]


def test_explain_says_which_clauses_failed_and_which_held() -> None:
    spec = {
        "$or": [{"data.changed": "email"}, {"data.changed": "password"}],
        "data.application.id": {"$eq": "X"},
        "data.n": {"$gt": 4},
    }
    result = explain(["user.*"], spec, event(changed=["name"], application={"id": "X"}, n=3))
    assert result.matched is False
    assert result.reasons == [
        "type user.updated matches 'user.*'",
        'filter did not match: $or: no branch matched; data.n: {"$gt": 4} not met (found 3)',
        "data.application.id held",
    ]


def test_explain_and_not_and_missing_values() -> None:
    spec = {
        "$and": [{"data.a": 1}, {"data.b": 2}],
        "$not": {"data.a": 1},
        "data.gone": "x",
    }
    result = explain(["*"], spec, event(a=1, b=3))
    assert result.matched is False
    assert result.reasons[1] == (
        "filter did not match: $and: branch 2 of 2 did not match; "
        "$not: the negated condition matched; "
        'data.gone: "x" not met (found nothing)'
    )


def test_explain_type_mismatch_with_matching_filter_is_no_match() -> None:
    result = explain(["data.*"], {"data.a": 1}, event(a=1))
    assert result.matched is False
    assert result.reasons == [
        "type user.updated matches none of ['data.*']",
        "filter matched",
        "data.a held",
    ]


def test_explain_invalid_filter() -> None:
    result = explain(["*"], {"data.x": {"$in": 1}}, event(x=1))
    assert result.matched is False
    assert result.reasons[1].startswith("filter is invalid: data.x.$in: $in needs a list")


def test_explain_truncates_long_found_values() -> None:
    result = explain(["*"], {"data.s": "short"}, event(s="y" * 500))
    assert len(result.reasons[1]) < 200
    assert result.reasons[1].endswith("…)")


@pytest.mark.parametrize(
    "spec",
    [
        {"data.changed": {"$in": ["email", "password"]}},
        {"$or": [{"data.changed": "email"}, {"data.n": {"$gt": 1}}], "tenant": "ten_1"},
        {"data.n": {"$not": {"$gt": 1}}},
    ],
)
@pytest.mark.parametrize(
    "document",
    [event(changed=["email"], n=0), event(changed=["x"], n=2), event("x.y", changed=[], n=1)],
)
def test_explain_agrees_with_matches(spec: dict[str, Any], document: dict[str, Any]) -> None:
    assert explain(["user.*"], spec, document).matched == matches(["user.*"], spec, document)


# --------------------------------------------------------------------------- JSON types

# mongoquery compares with Python's == and <, where True == 1 and False == 0; a filter compares
# as JSON (and MongoDB) do: a boolean equals only a boolean, a number only a number, and a
# boolean is never in a numeric range.


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ({"data.n": 1}, True, False),
        ({"data.n": 0}, False, False),
        ({"data.n": 1.0}, True, False),
        ({"data.n": True}, 1, False),
        ({"data.n": False}, 0, False),
        ({"data.n": True}, True, True),
        ({"data.n": False}, False, True),
        ({"data.n": 1}, 1, True),
        ({"data.n": 1}, 1.0, True),  # numbers are numbers, int or float
        ({"data.n": 0}, 0, True),
        ({"data.n": {"$eq": 1}}, True, False),
        ({"data.n": {"$eq": True}}, True, True),
        ({"data.n": {"$ne": 1}}, True, True),
        ({"data.n": {"$ne": 0}}, False, True),
        ({"data.n": {"$ne": True}}, True, False),
        ({"data.n": {"$ne": True}}, 1, True),
        ({"data.n": {"$gt": 0}}, True, False),
        ({"data.n": {"$gte": 1}}, True, False),
        ({"data.n": {"$lt": 1}}, False, False),
        ({"data.n": {"$lte": 0}}, False, False),
        ({"data.n": {"$gt": 0}}, 1, True),
        ({"data.n": {"$lt": 1}}, 0, True),
        ({"data.n": {"$gt": 0.5, "$lt": 1.5}}, 1, True),
        ({"data.n": {"$not": {"$gt": 0}}}, True, True),
        ({"data.n": {"$in": [1]}}, True, False),
        ({"data.n": {"$in": [0]}}, False, False),
        ({"data.n": {"$in": [True]}}, 1, False),
        ({"data.n": {"$in": [1, True]}}, True, True),
        ({"data.n": {"$in": [2, 1]}}, 1, True),
        ({"data.n": {"$nin": [1]}}, True, True),
        ({"data.n": {"$nin": [0]}}, False, True),
        ({"data.n": {"$nin": [True]}}, True, False),
        ({"data.n": {"$contains": 1}}, [True], False),
        ({"data.n": {"$contains": True}}, [1, 0], False),
        ({"data.n": {"$contains": True}}, [0, True], True),
        ({"data.n": 1}, [True, False], False),  # list membership, strict too
        ({"data.n": 0}, [False], False),
        ({"data.n": True}, [1], False),
        ({"data.n": True}, [0, True], True),
        ({"data.n": {"$ne": 1}}, [True], True),
        ({"data.n": {"$in": [1]}}, [True, False], False),
        ({"data.n": {"$in": [1]}}, [True, 1], True),
        ({"data.n": {"$nin": [1]}}, [True], True),
        ({"data.n": [1, True]}, [1, True], True),  # whole-list equality, item by item
        ({"data.n": [1, True]}, [True, True], False),
        ({"data.n": [1, True]}, [1, 1], False),
        ({"data.n": [1, True]}, [True, 1], False),
        ({"data.n": {"$eq": [0]}}, [False], False),
        ({"data.n": [[1]]}, [[True]], False),  # a list inside the list
        ({"data.n": [[1]]}, [[1]], True),
        ({"data.n": {"$eq": {"a": 1}}}, {"a": True}, False),  # inside objects
        ({"data.n": {"$eq": {"a": [1]}}}, {"a": [True]}, False),
        ({"data.n": {"$eq": {"a": 1}}}, {"a": 1}, True),
        ({"data.n": {"$ne": {"a": 1}}}, {"a": True}, True),
        ({"data.n": {"$contains": {"a": 1}}}, [{"a": True}], False),
        ({"data.n": {"$contains": {"a": 1}}}, [{"a": 1}], True),
        ({"data.n": {"$in": [[1]]}}, [[True]], False),
        ({"data.n": 1}, "1", False),  # nor is a string a number
        ({"data.n": "1"}, 1, False),
        ({"data.n": {"$gt": "0"}}, 1, False),
        ({"data.n": {"$gt": 0}}, "1", False),
        ({"data.n": None}, False, False),
        ({"data.n": False}, None, False),
        ({"data.n": 0}, None, False),
        ({"data.n": {"$lt": 1}}, None, False),
    ],
)
def test_booleans_are_not_numbers(spec: dict[str, Any], value: object, expected: bool) -> None:
    assert f(spec, event(n=value)) is expected
    assert explain(["*"], spec, event(n=value)).matched is expected


def test_boolean_on_a_mapped_list_path() -> None:
    document = event(items=[{"on": True}, {"on": 0}])
    assert f({"data.items.on": True}, document)
    assert f({"data.items.on": 0}, document)
    assert not f({"data.items.on": 1}, event(items=[{"on": True}]))
    assert not f({"data.items.on": False}, event(items=[{"on": 0}]))


def test_explain_says_a_boolean_is_not_the_number() -> None:
    result = explain(["*"], {"data.count": 1}, event(count=True))
    assert result.matched is False
    assert result.reasons[1] == "filter did not match: data.count: 1 not met (found true)"
