"""Checking a webhook filter before it is saved: the dialect ``filters`` evaluates (its
operators, the fields a path starts from) and its limits (size, depth, RE2 patterns).

Kept apart from ``filters`` (matching and evaluation) so that each file reads on its own;
``filters`` re-exports these names, and its docstring describes the dialect.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

ALLOWED_OPERATORS = (
    "$and",
    "$contains",
    "$eq",
    "$exists",
    "$gt",
    "$gte",
    "$in",
    "$lt",
    "$lte",
    "$ne",
    "$nin",
    "$not",
    "$or",
    "$regex",
)
# The top-level keys of the document filters run against.
DOCUMENT_FIELDS = ("type", "data", "tenant")
MAX_DEPTH = 10
MAX_NODES = 100
MAX_REGEX_LENGTH = 512
# RE2 compiles within this much memory or refuses the pattern (e.g. a{1000}{1000}).
REGEX_MAX_MEMORY = 1 << 20

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the client's 422, not a server log
_RE2_OPTIONS.max_mem = REGEX_MAX_MEMORY

# The operators that take a list of queries (evaluation rewrites their branches too).
BRANCHING = ("$and", "$or")
_RANGE = ("$gt", "$gte", "$lt", "$lte")


class FilterError(ValueError):
    """An invalid filter; ``path`` points at the bad part (``""`` is the whole filter)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def _join(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else key


def validate_filter(spec: object) -> None:
    """Raise ``FilterError`` unless ``spec`` is a filter this module can evaluate."""
    if not isinstance(spec, dict):
        raise FilterError("", "filter must be a JSON object")
    # Size first, iteratively: the recursive checks below then never go deep.
    _check_size(spec)
    _check_query(spec, "")


def _check_size(spec: dict[str, Any]) -> None:
    nodes = 0
    stack: list[tuple[object, str, int]] = [(spec, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise FilterError(path, f"filter is nested deeper than {MAX_DEPTH} levels")
            children = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in children:
                nodes += 1
                if nodes > MAX_NODES:
                    raise FilterError(path, f"filter has more than {MAX_NODES} nodes")
                stack.append((child, _join(path, key), depth + 1))


def _check_query(spec: object, path: str) -> None:
    """A query: field paths and ``$and``/``$or``/``$not`` of queries."""
    if not isinstance(spec, dict):
        raise FilterError(path, "must be a JSON object")
    for key, value in spec.items():
        here = _join(path, key)
        _check_key(key, here)
        if key in BRANCHING:
            _check_branches(value, here, _check_query)
        elif key == "$not":
            _check_non_empty_object(value, here)
            _check_query(value, here)
        elif key.startswith("$"):
            if key in ALLOWED_OPERATORS:
                raise FilterError(
                    here, f'{key} applies to a field, e.g. {{"data.count": {{"{key}": ...}}}}'
                )
            raise _unknown_operator(key, here)
        else:
            _check_path(key, here, top_level=True)
            _check_condition(value, here)


def _check_condition(cond: object, path: str) -> None:
    """A condition on one field: a plain value, or an object of operators and sub-fields."""
    if not isinstance(cond, dict):
        _check_json(cond, path)
        return
    if not cond:
        raise FilterError(path, "empty condition; use a value or an operator such as $eq")
    _check_satisfiable(cond, path)
    for key, value in cond.items():
        here = _join(path, key)
        _check_key(key, here)
        if not key.startswith("$"):
            _check_path(key, here, top_level=False)
            _check_condition(value, here)
        elif key in BRANCHING:
            _check_branches(value, here, _check_condition)
        elif key == "$not":
            _check_non_empty_object(value, here)
            _check_condition(value, here)
        elif key in ("$in", "$nin"):
            if not isinstance(value, list):
                raise FilterError(here, f"{key} needs a list of values")
            _check_json(value, here)
        elif key == "$exists":
            if not isinstance(value, bool):
                raise FilterError(here, "$exists needs true or false")
        elif key == "$regex":
            _check_regex(value, here)
        elif key in _RANGE:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise FilterError(here, f"{key} needs a number or a string")
        elif key in ("$eq", "$ne", "$contains"):
            _check_json(value, here)
        else:
            raise _unknown_operator(key, here)


def _check_satisfiable(cond: dict[str, Any], path: str) -> None:
    """Sub-fields need an object (or a list holding one) and $gt, $gte, $lt and $lte a number
    or a string, never looked for inside a list: beside each other, nothing matches. ($regex
    looks at a list's items, so a list can hold both.)"""
    scalar = next((key for key in cond if key in _RANGE), None)
    field = next((key for key in cond if isinstance(key, str) and not key.startswith("$")), None)
    if scalar is not None and field is not None:
        raise FilterError(
            _join(path, field),
            f"this condition can never match: {scalar} needs a number or a string, and a "
            f"sub-field ({field!r}) an object; filter the sub-field as a path of its own",
        )


def _check_key(key: object, path: str) -> None:
    if not isinstance(key, str):
        raise FilterError(path, "keys must be strings")


def _check_path(key: str, path: str, *, top_level: bool) -> None:
    segments = key.split(".")
    if any(not segment for segment in segments):
        raise FilterError(path, f"invalid field path {key!r}")
    # Catch the common slip of forgetting "data." (such a filter would silently never match).
    if top_level and segments[0] not in DOCUMENT_FIELDS:
        raise FilterError(
            path,
            f"unknown field {segments[0]!r}: paths start with "
            f'{", ".join(DOCUMENT_FIELDS)} (e.g. "data.{key}")',
        )


def _check_branches(value: object, path: str, check: Any) -> None:
    op = path.rsplit(".", 1)[-1]
    if not isinstance(value, list) or not value:
        raise FilterError(path, f"{op} needs a non-empty list of objects")
    for index, branch in enumerate(value):
        here = _join(path, index)
        _check_non_empty_object(branch, here)
        check(branch, here)


def _check_non_empty_object(value: object, path: str) -> None:
    if not isinstance(value, dict) or not value:
        raise FilterError(path, "must be a non-empty JSON object")


def _check_regex(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise FilterError(path, "$regex needs a string")
    if len(value) > MAX_REGEX_LENGTH:
        raise FilterError(path, f"$regex is longer than {MAX_REGEX_LENGTH} characters")
    try:
        compile_regex(value)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise FilterError(
            path, f"$regex is not a valid RE2 pattern ({reason}); see the RE2 syntax"
        ) from None


@functools.lru_cache(maxsize=1024)  # filters are evaluated for every event: compile once
def compile_regex(pattern: str) -> Any:
    """RE2: linear-time matching, so no pattern can stall an evaluation."""
    return re2.compile(pattern, options=_RE2_OPTIONS)


def _check_json(value: object, path: str) -> None:
    if value is None or isinstance(value, str | int | float | bool):
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, _join(path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_key(key, _join(path, str(key)))
            _check_json(item, _join(path, key))
    else:
        raise FilterError(path, f"unsupported value of type {type(value).__name__}")


def _unknown_operator(key: str, path: str) -> FilterError:
    return FilterError(path, f"unknown operator {key}; allowed: {', '.join(ALLOWED_OPERATORS)}")
