"""Searching events by a payload field: `data.<path>=<value>` as a query parameter, parsed,
and the SQL that compares it on SQLite and on PostgreSQL (their JSON functions differ)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Numeric,
    String,
    case,
    cast,
    func,
    literal,
    not_,
    or_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from hookline.core.jsonlimits import INT_MAX, INT_MIN
from hookline.store.tables import Event

# A payload field: `data.` then up to MAX_PATH_KEYS object keys, each a plain name.
DATA_PREFIX = "data."
MAX_DATA_FILTERS = 3
MAX_PATH_KEYS = 8
MAX_SEARCH_VALUE = 200
_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")


@dataclass(frozen=True)
class DataMatch:
    """`data.<path>=<value>`: the event's `data` has, at that path of object keys, a string or
    a boolean whose text (JSON's, for a boolean: `true`, `false`) is `value`, or a number equal
    to the number `value` writes (`1` finds 1 and 1.0, `100` finds 1e2)."""

    path: tuple[str, ...]
    value: str

    @classmethod
    def parse(cls, name: str, value: str) -> DataMatch:
        """From a query parameter (`data.user.id`, `usr_1`); ValueError saying what is wrong."""
        keys = name.removeprefix(DATA_PREFIX).split(".")
        if not name.startswith(DATA_PREFIX) or len(keys) > MAX_PATH_KEYS:
            raise ValueError(
                f"{name!r} is not a payload field: data. then 1-{MAX_PATH_KEYS} keys, "
                "e.g. data.user.id"
            )
        for key in keys:
            if not _KEY.fullmatch(key):
                raise ValueError(
                    f"{name!r}: each key of a payload field is 1-64 letters, digits, _ or -"
                )
        if not value or len(value) > MAX_SEARCH_VALUE or "\x00" in value:
            raise ValueError(f"{name!r}: the value must be 1-{MAX_SEARCH_VALUE} characters")
        return cls(tuple(keys), value)

    @property
    def name(self) -> str:
        return DATA_PREFIX + ".".join(self.path)

    @property
    def number(self) -> Decimal | None:
        """The number `value` writes in JSON's grammar, within what the API accepts (a 64-bit
        integer, a finite double); None for any other text."""
        if not _NUMBER.fullmatch(self.value):
            return None
        number = Decimal(self.value)
        if number == number.to_integral_value() and not INT_MIN <= number <= INT_MAX:
            return None
        return number if math.isfinite(float(number)) else None


_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class _ByDialect(ColumnElement[Any]):
    """One expression on SQLite, another on PostgreSQL: their JSON functions differ."""

    inherit_cache = True
    _traverse_internals = [
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("postgresql", InternalTraversal.dp_clauseelement),
    ]

    def __init__(
        self, sqlite: ColumnElement[Any], postgresql: ColumnElement[Any], type_: Any = None
    ) -> None:
        self.sqlite = sqlite
        self.postgresql = postgresql
        self.type = type_ if type_ is not None else String()


@compiles(_ByDialect)
def _compile_by_dialect(element: _ByDialect, compiler: SQLCompiler, **kw: object) -> str:
    chosen = element.sqlite if compiler.dialect.name == "sqlite" else element.postgresql
    return compiler.process(chosen, **kw)


def payload_text(path: tuple[str, ...]) -> ColumnElement[str]:
    """The text of the scalar at `path` in an event's `data`: a string as is, a number as its
    digits, a boolean as `true`/`false` (so that `1` never finds `true`, nor `true` a `1`);
    NULL for null, an object, a list or nothing. SQLite's `json_extract` reads a boolean as
    the integer 0 or 1, so its `json_type` tells them apart; PostgreSQL's `#>>` writes
    booleans as JSON does, and `json_typeof` keeps out objects and lists."""
    # The keys are plain names (DataMatch.parse), so quoting them is safe; bound, all the same.
    sqlite_path = "$" + "".join(f'."{key}"' for key in path)
    text = cast(func.json_extract(Event.data, sqlite_path), String)
    on_sqlite = case(
        {"true": "true", "false": "false", "text": text, "integer": text, "real": text},
        value=func.json_type(Event.data, sqlite_path),
    )
    on_postgresql = case(
        (
            _HAS_NO_NUL,
            case(
                (
                    func.json_typeof(Event.data[path]).in_(("string", "number", "boolean")),
                    Event.data[path].as_string(),
                )
            ),
        )
    )
    return _ByDialect(on_sqlite, on_postgresql)


# PostgreSQL fails any JSON operator on a document holding `\u0000` (U+0000, which it cannot
# make text): an event stored before the API refused it (core/jsonlimits.py) is kept out of
# payload searches by its stored text, before any operator reads it (a CASE decides in order;
# an AND might not). The regex runs only on the rare document with the six characters, and
# tells `\u0000` from an escaped backslash followed by `u0000`.
_STORED = cast(Event.data, String)
_HAS_NO_NUL = or_(
    func.strpos(_STORED, literal("\\u0000")) == 0,
    not_(_STORED.regexp_match(literal(r"(^|[^\\])(\\\\)*\\u0000"))),
)


def payload_matches(match: DataMatch) -> ColumnElement[bool]:
    """The condition `match` sets: the text at its path is its value, or, when the value is a
    number, the number there equals it (compared as numbers: JSON writes one number many
    ways, and Python's encoder writes 1e2 as `100.0`)."""
    as_text = payload_text(match.path) == match.value
    number = match.number
    if number is None:
        return as_text
    return or_(as_text, payload_number(match.path, number))


def payload_number(path: tuple[str, ...], number: Decimal) -> ColumnElement[bool]:
    """The number at `path` equals `number`: on SQLite, `json_extract`'s integer or real
    against an integer, or a double when `number` has a fraction (an integer compares
    exactly; SQLite compares an integer with a real by value); on PostgreSQL, as NUMERIC."""
    sqlite_path = "$" + "".join(f'."{key}"' for key in path)
    exact = int(number) if number == number.to_integral_value() else float(number)
    on_sqlite = case(
        (
            func.json_type(Event.data, sqlite_path).in_(("integer", "real")),
            func.json_extract(Event.data, sqlite_path) == literal(exact),
        ),
        else_=False,
    )
    on_postgresql = case(
        (
            _HAS_NO_NUL,
            case(
                (
                    func.json_typeof(Event.data[path]) == "number",
                    cast(Event.data[path].as_string(), Numeric) == literal(number, Numeric),
                ),
                else_=False,
            ),
        ),
        else_=False,
    )
    return _ByDialect(on_sqlite, on_postgresql, Boolean())


def data_matches(params: list[tuple[str, str]]) -> list[DataMatch]:
    """The `data.*` query parameters, parsed (ValueError for a bad one or too many)."""
    found = [DataMatch.parse(n, v) for n, v in params if n.startswith(DATA_PREFIX)]
    if len(found) > MAX_DATA_FILTERS:
        raise ValueError(f"at most {MAX_DATA_FILTERS} payload fields at once")
    return found
