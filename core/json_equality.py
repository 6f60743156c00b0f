"""Equality of JSON values as JSON Schema has it (`enum`, `const`, `uniqueItems`), as keys
that hash: numbers by value (1 and 1.0 are one), booleans apart from numbers, objects whatever
their keys' order. Through keys, `uniqueItems` is linear in the array and `enum` one lookup;
compared pair by pair, as validators do, they are quadratic in the array, or the array times
the list."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

_NULL, _BOOLEAN, _NUMBER, _STRING, _ARRAY, _OBJECT = range(6)


def json_key(value: Any, nodes: list[int]) -> Hashable:
    """Equal keys for equal JSON values; `nodes[0]` grows by the values visited (the cost).
    Recursive: the values it takes are bounded in depth (core/jsonlimits.py)."""
    nodes[0] += 1
    kind = type(value)
    if kind is bool:
        return (_BOOLEAN, value)
    if kind is int or kind is float:  # Python's int and float compare and hash by value
        return (_NUMBER, value)
    if kind is str:
        return (_STRING, value)
    if value is None:
        return (_NULL,)
    if kind is list:
        return (_ARRAY, tuple(json_key(item, nodes) for item in value))
    if kind is dict:
        return (_OBJECT, frozenset((name, json_key(item, nodes)) for name, item in value.items()))
    raise TypeError(f"not a JSON value: {kind.__name__}")


def same_json(a: Any, b: Any) -> bool:
    """Whether two JSON values are one value as `json_key` has it. Python's `==` says
    `1 == True == 1.0` and `0 == False`: a change from `1` to `true` is a change here."""
    try:
        return json_key(a, [0]) == json_key(b, [0])
    except TypeError:  # not JSON (a value the store's code put there): Python's own equality
        return bool(a == b)
