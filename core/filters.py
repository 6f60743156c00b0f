"""Which webhooks an event goes to: event-type patterns plus an optional JSON filter.

Event types match exactly, by segment wildcard (``user.*`` matches ``user.created`` and
``user.mfa.enabled``, not ``user``) or with ``*`` (everything).

A filter is a MongoDB-style query over the event document
``{"type": ..., "data": {...}, "tenant": ...}``, with dotted paths and the operators
``$eq $ne $in $nin $gt $gte $lt $lte $exists $contains $regex $and $or $not``.
It is evaluated by ``mongoquery``; hookline only validates it (``filter_validation``, whose
names this module re-exports) and rewrites the few constructs mongoquery gets wrong (see
``_normalise``). Examples:

Notify on ``user.updated`` only when the email or the password changed
(``data.changed`` lists the names of the changed attributes)::

    events = ["user.updated"]
    filter = {"data.changed": {"$in": ["email", "password"]}}
    # or, equivalently:
    filter = {"$or": [{"data.changed": "email"}, {"data.changed": "password"}]}

Only events of application X::

    filter = {"data.application": "X"}            # when data.application is the id
    filter = {"data.application.id": {"$eq": "X"}}  # when it is an object

Semantics worth knowing: a plain value or ``$eq`` matches a field equal to it or, when the
field is a list, containing it (``$ne`` is the negation); ``$contains`` matches a list holding
the value or a string containing it as a substring; ``$regex`` is an RE2 regular expression
(https://github.com/google/re2/wiki/Syntax: no backreferences or lookaround, so matching is
linear in the text, whatever the pattern) searched anywhere in a string, or in any string of a
list (use ``(?i)`` for case-insensitive), at most ``MAX_REGEX_LENGTH`` characters;
``$gt``/``$lt``... compare numbers with numbers and strings with strings, anything else does
not match. Values compare as JSON types (``JsonValue``): ``true`` equals only ``true``, never
``1``, and a boolean is not a number for ``$gt``/``$lt``..., in every operator and inside lists
and objects. Any error while evaluating (odd data) means "no match".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from mongoquery import Query

# Validation lives in filter_validation; its names stay importable from here.
from hookline.core.filter_validation import (
    ALLOWED_OPERATORS,
    BRANCHING,
    DOCUMENT_FIELDS,
    MAX_DEPTH,
    MAX_NODES,
    MAX_REGEX_LENGTH,
    REGEX_MAX_MEMORY,
    FilterError,
    compile_regex,
    validate_filter,
)

__all__ = [
    "ALLOWED_OPERATORS",
    "DOCUMENT_FIELDS",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_REGEX_LENGTH",
    "REGEX_MAX_MEMORY",
    "FilterError",
    "JsonValue",
    "MatchResult",
    "RegexSearch",
    "compile_regex",
    "explain",
    "matches",
    "type_matches",
    "validate_filter",
]

# --------------------------------------------------------------------------- event types


def type_matches(patterns: list[str], event_type: str) -> bool:
    """True when ``event_type`` matches any pattern (exact, ``prefix.*`` or ``*``)."""
    return _matching_pattern(patterns, event_type) is not None


def _matching_pattern(patterns: list[str], event_type: str) -> str | None:
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return pattern
        # "user.*" needs at least one more segment: it does not match "user" itself.
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return pattern
    return None


# --------------------------------------------------------------------------- evaluation


class RegexSearch:
    """Equal to a string the pattern is found in. mongoquery compares a plain condition with
    ``==`` (and a list with ``in``, element by element), so this value brings RE2 to it, with
    MongoDB's meaning on lists: some element matches."""

    __slots__ = ("regex",)

    def __init__(self, pattern: str) -> None:
        self.regex = compile_regex(pattern)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.regex.search(other) is not None

    __hash__ = None  # type: ignore[assignment]


def _kind(value: object) -> str | None:
    """The JSON type of a value (bool before int: in Python ``True`` is the integer 1)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return None


def _json_equal(a: object, b: object) -> bool:
    kind = _kind(a)
    if kind is None or kind != _kind(b):
        return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(v, b[k]) for k, v in a.items())
    return a == b


def _ordered(a: object, b: object) -> bool:
    return _kind(a) == _kind(b) and _kind(a) in ("number", "string")


class JsonValue:
    """A filter's value, compared as JSON types it (as MongoDB does). mongoquery compares with
    Python's ``==`` and ``<``, where ``True == 1`` and ``False < 1``; this value is equal only
    to a value of its own type (a boolean to a boolean, a number to a number, lists and objects
    item by item) and ordered only against a number (for a number) or a string (for a string).
    The document's values (str, int, list...) do not know this class, so Python asks it on
    either side of a comparison, and in ``x in some_list``, element by element."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return _json_equal(self.value, other)

    def __ne__(self, other: object) -> bool:
        return not _json_equal(self.value, other)

    # `entry > cond` in mongoquery reaches `cond.__lt__(entry)`: each is `value OP other`.
    def __lt__(self, other: object) -> bool:
        return _ordered(self.value, other) and self.value < other

    def __le__(self, other: object) -> bool:
        return _ordered(self.value, other) and self.value <= other

    def __gt__(self, other: object) -> bool:
        return _ordered(self.value, other) and self.value > other

    def __ge__(self, other: object) -> bool:
        return _ordered(self.value, other) and self.value >= other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"JsonValue({self.value!r})"


def _normalise(spec: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a filter into clauses mongoquery evaluates correctly.

    mongoquery has no ``$contains``; it ignores every other operator next to ``$exists`` on a
    dotted path and crashes on ``$exists`` under ``$not``/``$and``/``$or`` inside a field; its
    ``$eq`` ignores list membership while a plain value honours it; it reads ``"/x/i"`` as a
    JS regex literal; and it compares with Python's ``==``/``<`` (``True == 1``). So every field
    condition becomes top-level ``{path: {one operator}}`` clauses, which are the forms it does
    get right, with every value to compare wrapped in ``JsonValue``.
    """
    return _all(_query_clauses(spec))


def _all(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _query_clauses(spec: dict[str, Any]) -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = []
    for key, value in spec.items():
        if key in BRANCHING:
            clauses.append({key: [_normalise(branch) for branch in value]})
        elif key == "$not":
            clauses.append({"$not": _normalise(value)})
        else:
            clauses.extend(_field_clauses(key, value))
    return clauses


def _field_clauses(path: str, cond: Any) -> list[dict[str, Any]]:
    if not isinstance(cond, dict):
        return [{path: JsonValue(cond)}]
    clauses: list[dict[str, Any]] = []
    for key, value in cond.items():
        if not key.startswith("$"):
            clauses.extend(_field_clauses(f"{path}.{key}", value))
        elif key in BRANCHING:
            clauses.append({key: [_all(_field_clauses(path, branch)) for branch in value]})
        elif key == "$not":
            clauses.append({"$not": _all(_field_clauses(path, value))})
        elif key in ("$eq", "$ne"):
            # A plain (non-object) value gets mongoquery's list-membership equality.
            operand = JsonValue(value)
            equal = {path: operand} if not isinstance(value, dict) else {path: {"$eq": operand}}
            clauses.append(equal if key == "$eq" else {"$not": equal})
        elif key == "$contains":
            clauses.append(_contains(path, value))
        elif key == "$regex":
            clauses.append({path: RegexSearch(value)})
        elif key in ("$in", "$nin") and isinstance(value, list):
            clauses.append({path: {key: [JsonValue(item) for item in value]}})
        elif key in ("$gt", "$gte", "$lt", "$lte"):
            clauses.append({path: {key: JsonValue(value)}})
        else:
            clauses.append({path: {key: value}})
    return clauses


def _contains(path: str, value: Any) -> dict[str, Any]:
    # On a list: some element equals the value. On a string: substring. ($elemMatch over a
    # string walks its characters, which can only agree with the substring test.)
    in_list = {path: {"$elemMatch": {"$eq": JsonValue(value)}}}
    if isinstance(value, str):
        # A literal (escaped) pattern: linear-time in Python's engine too, and mongoquery's
        # own $regex looks at strings only, never into a list's elements.
        return {"$or": [in_list, {path: {"$regex": re.compile(re.escape(value))}}]}
    return in_list


def _evaluate(spec: dict[str, Any], document: dict[str, Any]) -> bool:
    try:
        return bool(Query(_normalise(spec)).match(document))
    except Exception:  # odd data or an old, unvalidated filter: no match, never a crash
        return False


def matches(events: list[str], spec: dict[str, Any] | None, document: dict[str, Any]) -> bool:
    """Fast path: does the webhook (``events`` patterns + filter ``spec``) take ``document``?"""
    event_type = document.get("type")
    if not isinstance(event_type, str) or not type_matches(events, event_type):
        return False
    return not spec or _evaluate(spec, document)


# --------------------------------------------------------------------------- explanation


@dataclass
class MatchResult:
    matched: bool
    reasons: list[str] = field(default_factory=list)


def explain(
    events: list[str], spec: dict[str, Any] | None, document: dict[str, Any]
) -> MatchResult:
    """Like ``matches``, with human-readable reasons (for the API's "test a filter")."""
    event_type = document.get("type")
    pattern = _matching_pattern(events, event_type) if isinstance(event_type, str) else None
    if pattern is not None:
        reasons = [f"type {event_type} matches {pattern!r}"]
    else:
        reasons = [f"type {event_type} matches none of {events!r}"]

    if not spec:
        reasons.append("no filter")
        return MatchResult(pattern is not None, reasons)
    try:
        validate_filter(spec)
    except FilterError as exc:
        reasons.append(f"filter is invalid: {exc}")
        return MatchResult(False, reasons)

    # Each top-level clause on its own, so the reasons say which held and which failed.
    held: list[str] = []
    failed: list[str] = []
    for key, value in spec.items():
        if _evaluate({key: value}, document):
            held.append(f"{key} held")
        else:
            failed.append(_why_not(key, value, document))
    if failed:
        reasons.append("filter did not match: " + "; ".join(failed))
    else:
        reasons.append("filter matched")
    reasons.extend(held)
    return MatchResult(pattern is not None and not failed, reasons)


def _why_not(key: str, value: Any, document: dict[str, Any]) -> str:
    if key == "$or":
        return "$or: no branch matched"
    if key == "$and":
        for index, branch in enumerate(value):
            if not _evaluate(branch, document):
                return f"$and: branch {index + 1} of {len(value)} did not match"
        return "$and: did not match"
    if key == "$not":
        return "$not: the negated condition matched"
    return f"{key}: {_short(value)} not met (found {_found(document, key)})"


def _found(document: dict[str, Any], path: str) -> str:
    value: Any = document
    for segment in path.split("."):
        if isinstance(value, dict) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return "nothing"
    return _short(value)


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
