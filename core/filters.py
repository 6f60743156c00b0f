"""Which webhooks an event goes to: event-type patterns plus an optional JSON filter.

Event types match exactly, by segment wildcard (``user.*`` matches ``user.created`` and
``user.mfa.enabled``, not ``user``) or with ``*`` (everything).

A filter is a MongoDB-style query over the event document
``{"type": ..., "data": {...}, "tenant": ...}``, with dotted paths and the operators
``$eq $ne $in $nin $gt $gte $lt $lte $exists $contains $regex $and $or $not``.
It is evaluated by ``mongoquery``; this module only validates it and rewrites the few
constructs mongoquery gets wrong (see ``_normalise``). Examples:

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
not match. Any error while evaluating (odd data) means "no match".
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import re2
from mongoquery import Query

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

_BRANCHING = ("$and", "$or")
_RANGE = ("$gt", "$gte", "$lt", "$lte")


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


# --------------------------------------------------------------------------- validation


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
        if key in _BRANCHING:
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
    for key, value in cond.items():
        here = _join(path, key)
        _check_key(key, here)
        if not key.startswith("$"):
            _check_path(key, here, top_level=False)
            _check_condition(value, here)
        elif key in _BRANCHING:
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


# --------------------------------------------------------------------------- evaluation


def _normalise(spec: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a filter into clauses mongoquery evaluates correctly.

    mongoquery has no ``$contains``; it ignores every other operator next to ``$exists`` on a
    dotted path and crashes on ``$exists`` under ``$not``/``$and``/``$or`` inside a field; its
    ``$eq`` ignores list membership while a plain value honours it; and it reads ``"/x/i"`` as a
    JS regex literal. So every field condition becomes top-level ``{path: {one operator}}``
    clauses, which are the forms it does get right.
    """
    return _all(_query_clauses(spec))


def _all(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _query_clauses(spec: dict[str, Any]) -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = []
    for key, value in spec.items():
        if key in _BRANCHING:
            clauses.append({key: [_normalise(branch) for branch in value]})
        elif key == "$not":
            clauses.append({"$not": _normalise(value)})
        else:
            clauses.extend(_field_clauses(key, value))
    return clauses


def _field_clauses(path: str, cond: Any) -> list[dict[str, Any]]:
    if not isinstance(cond, dict):
        return [{path: cond}]
    clauses: list[dict[str, Any]] = []
    for key, value in cond.items():
        if not key.startswith("$"):
            clauses.extend(_field_clauses(f"{path}.{key}", value))
        elif key in _BRANCHING:
            clauses.append({key: [_all(_field_clauses(path, branch)) for branch in value]})
        elif key == "$not":
            clauses.append({"$not": _all(_field_clauses(path, value))})
        elif key in ("$eq", "$ne"):
            # A plain (non-object) value gets mongoquery's list-membership equality.
            equal = {path: value} if not isinstance(value, dict) else {path: {"$eq": value}}
            clauses.append(equal if key == "$eq" else {"$not": equal})
        elif key == "$contains":
            clauses.append(_contains(path, value))
        elif key == "$regex":
            clauses.append({path: RegexSearch(value)})
        else:
            clauses.append({path: {key: value}})
    return clauses


def _contains(path: str, value: Any) -> dict[str, Any]:
    # On a list: some element equals the value. On a string: substring. ($elemMatch over a
    # string walks its characters, which can only agree with the substring test.)
    in_list = {path: {"$elemMatch": {"$eq": value}}}
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
