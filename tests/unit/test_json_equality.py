"""JSON equality: numbers by value, booleans apart from numbers, objects in any key order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.core.json_equality import same_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, True),
        (0, False),
        ({"v": 1}, {"v": True}),
        ([0], [False]),
        ({"a": {"b": [1, 0]}}, {"a": {"b": [True, False]}}),
        (None, {}),
        (None, 0),
        ("1", 1),
    ],
)
def test_two_json_values_even_where_python_calls_them_equal(a, b) -> None:
    assert not same_json(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [(1, 1.0), ({"a": 1, "b": 2}, {"b": 2, "a": 1}), ([{"x": None}], [{"x": None}])],
)
def test_one_json_value_written_two_ways(a, b) -> None:
    assert same_json(a, b)


@given(JSON, JSON)
def test_same_json_agrees_with_python_wherever_no_boolean_is_involved(a, b) -> None:
    def has_bool(value) -> bool:
        if isinstance(value, bool):
            return True
        if isinstance(value, list):
            return any(map(has_bool, value))
        if isinstance(value, dict):
            return any(map(has_bool, value.values()))
        return False

    if not (has_bool(a) or has_bool(b)):
        assert same_json(a, b) == (a == b)
    assert same_json(a, a)
