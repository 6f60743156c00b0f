"""The JSON hookline accepts: one parser and one set of limits for every body the API reads.

An event accepted with a 202 travels as JSON through Temporal (pydantic's payload converter,
whose parser, jiter, refuses documents nested deeper than ~200 levels), the store and the
delivery (orjson, which refuses integers beyond 64 bits). So the API parses bodies with that
same parser (``pydantic_core.from_json``), then checks the values against limits well inside
what every later step decodes and encodes unchanged:

- nesting: at most ``MAX_DEPTH`` (64) levels of objects and arrays, counting the body itself;
- integers: 64-bit signed (``INT_MIN`` .. ``INT_MAX``);
- numbers: finite only (no ``NaN``/``Infinity`` literals, no ``1e999``, which parses as inf);
- text: valid UTF-8, no lone surrogates (``"\\ud800"``), in keys as in values;
- no U+0000 (NUL) in text: PostgreSQL cannot read it out of a JSON document (every search of
  a payload field would fail on the event that holds one), nor store it in a text column.

Anything else raises ``JsonLimitError`` naming the limit; the API answers it with a 400.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic_core import from_json

MAX_DEPTH = 64
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

DEPTH = "max_depth"
INTEGER = "integer_range"
FINITE = "finite_numbers"
TEXT = "utf8_text"
NUL = "no_nul"
SYNTAX = "json_syntax"

LIMITS = {
    DEPTH: f"objects and arrays nest at most {MAX_DEPTH} levels deep",
    INTEGER: f"integers lie within the 64-bit signed range ({INT_MIN} to {INT_MAX})",
    FINITE: "numbers are finite (no NaN, Infinity or overflowing exponents such as 1e999)",
    TEXT: "text is valid UTF-8, with no lone surrogates in keys or values",
    NUL: "text holds no U+0000 (NUL) character, in keys or values",
    SYNTAX: "the body is well-formed JSON (RFC 8259)",
}


class JsonLimitError(ValueError):
    """A body outside hookline's JSON: ``limit`` is one of LIMITS' keys, ``path`` points at
    the offending value (``""`` is the whole body)."""

    def __init__(self, limit: str, message: str, path: str = "") -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message
        self.path = path


def parse(body: bytes | str) -> Any:
    """Parse a request body and check it (raises ``JsonLimitError``)."""
    try:
        value = from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise _syntax_error(str(exc), body) from None
    check(value)
    return value


_NON_FINITE = re.compile(rb"(?<![\w\"])-?(NaN|Infinity)(?![\w\"])")


def _syntax_error(reason: str, body: bytes | str) -> JsonLimitError:
    lowered = reason.lower()
    if "recursion limit" in lowered:
        return JsonLimitError(DEPTH, f"JSON nested deeper than {MAX_DEPTH} levels")
    if any(word in lowered for word in ("surrogate", "unicode", "utf-8", "hex escape")):
        return JsonLimitError(TEXT, f"malformed JSON body: {reason}; {LIMITS[TEXT]}")
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if ("expected value" in lowered or "invalid number" in lowered) and _NON_FINITE.search(raw):
        return JsonLimitError(FINITE, f"malformed JSON body: {reason}; {LIMITS[FINITE]}")
    return JsonLimitError(SYNTAX, f"malformed JSON body: {reason}")


# A path is built only as links (parent, key): cheap on the way, spelled out on an error.
Path = tuple[Any, str | int] | None


def check(value: Any) -> None:
    """Check a decoded JSON value against the limits, iteratively (no recursion)."""
    stack: list[tuple[Any, int, Path]] = [(value, 1, None)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth, path = pop()
        kind = type(item)
        if kind is dict:
            if depth > MAX_DEPTH:
                raise _error(DEPTH, f"JSON nested deeper than {MAX_DEPTH} levels", path)
            for key, child in item.items():
                if type(key) is not str:
                    raise _error(SYNTAX, "object keys must be strings", path)
                if not key.isascii() or "\x00" in key:
                    _check_text(key, (path, key))
                if child is not None and type(child) is not bool:
                    push((child, depth + 1, (path, key)))
        elif kind is list:
            if depth > MAX_DEPTH:
                raise _error(DEPTH, f"JSON nested deeper than {MAX_DEPTH} levels", path)
            for index, child in enumerate(item):
                if child is not None and type(child) is not bool:
                    push((child, depth + 1, (path, index)))
        elif kind is str:
            if not item.isascii() or "\x00" in item:
                _check_text(item, path)
        elif kind is int:
            if not INT_MIN <= item <= INT_MAX:
                raise _error(INTEGER, f"integer out of range: {LIMITS[INTEGER]}", path)
        elif kind is float:
            if not math.isfinite(item):
                raise _error(FINITE, f"number is not finite: {LIMITS[FINITE]}", path)
        elif item is not None and kind is not bool:
            raise _error(SYNTAX, f"unsupported value of type {kind.__name__}", path)


def _check_text(text: str, path: Path) -> None:
    if "\x00" in text:
        raise _error(NUL, f"text holds U+0000: {LIMITS[NUL]}", path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _error(TEXT, f"invalid text: {LIMITS[TEXT]}", path) from None


MAX_SHOWN_PATH = 120


def _error(limit: str, message: str, path: Path) -> JsonLimitError:
    shown = dotted(path)
    if len(shown) > MAX_SHOWN_PATH:
        shown = "…" + shown[-MAX_SHOWN_PATH:]
    located = f"{message} (at {shown})" if shown and limit != DEPTH else message
    return JsonLimitError(limit, located, shown)


def dotted(path: Path) -> str:
    parts: list[str | int] = []
    while path is not None:
        path, key = path
        parts.append(key)
    out = ""
    for part in reversed(parts):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
