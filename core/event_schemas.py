"""Event type schemas: JSON Schema draft 2020-12, checked when a tenant saves a type and applied
to the `data` of every event published as that type.

What a schema may do, beyond the draft's own rules:
- References are local only (`#...`): nothing is ever fetched (the validators get an empty
  `referencing` registry, so not even jsonschema's deprecated remote retrieval can run).
- Regular expressions (`pattern`, `patternProperties`, and `additionalProperties` beside them)
  run on RE2, as filters' `$regex` do: linear time, so no schema can stall a publish. A pattern
  RE2 does not accept (backreferences, lookaround) is refused at save, and so is
  `unevaluatedProperties` in a schema with `patternProperties` (its matching would not run on
  RE2).
- `format` is an annotation, as the draft has it by default: not asserted.
- `$schema`, when given, is draft 2020-12's.

Compiled validators are kept per (tenant, type, version): `ValidatorCache`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry
from referencing.exceptions import Unresolvable

from hookline.core.filter_validation import compile_regex
from hookline.core.schema_keywords import (
    SCHEMA_PATHS,
    LruCache,
    TooMuchWork,
    Validator,
    steps_left,
)
from hookline.core.schema_messages import message
from hookline.core.schema_references import (
    MAX_IN_PLACE_DEPTH,
    MAX_UNFOLDED,
    SchemaRefused,
    check_references,
    pointer,
    subschemas,
)

__all__ = [
    "MAX_IN_PLACE_DEPTH",
    "MAX_UNFOLDED",
    "DataError",
    "SchemaRefused",
    "ValidatorCache",
    "compile_schema",
    "errors",
    "pointer",
]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_ERRORS = 50  # listed in one answer; `truncated` says when there were more
MAX_PATTERN_LENGTH = 512
# Keyword checks for one document of N bytes: at most BASE_STEPS + STEPS_PER_BYTE * N, the
# bound on a publish's validation whatever the schema (applicators that reach the same value
# twice multiply at each level of the data, which no check at save sees). Real schemas take
# well under one step per byte of data.
BASE_STEPS = 10_000
STEPS_PER_BYTE = 2


@dataclass(frozen=True)
class DataError:
    pointer: str  # JSON pointer into the validated document
    message: str
    keyword: str  # the schema keyword that failed, e.g. "required"
    schema_pointer: str  # where that keyword is in the schema

    def as_dict(self) -> dict[str, str]:
        return {
            "pointer": self.pointer,
            "message": self.message,
            "keyword": self.keyword,
            "schema_pointer": self.schema_pointer,
        }


# --------------------------------------------------------------------------- checks at save


# The metaschema's formats, but for `regex`: patterns run on RE2, not Python's `re`, and
# `_check_regex` checks them (a pattern such as `\p{L}` is RE2's, not `re`'s).
_METASCHEMA_FORMATS = FormatChecker(
    [name for name in Draft202012Validator.FORMAT_CHECKER.checkers if name != "regex"]
)


def _check_regex(patrn: Any, where: tuple) -> None:
    if not isinstance(patrn, str):
        return  # the metaschema says what it must be
    if len(patrn) > MAX_PATTERN_LENGTH:
        raise SchemaRefused(pointer(where), f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    try:
        compile_regex(patrn)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise SchemaRefused(
            pointer(where), f"{patrn!r} is not a valid RE2 pattern ({reason})"
        ) from None


def compile_schema(schema: dict[str, Any]) -> Any:
    """A validator for `schema`, or SchemaRefused saying where and why it cannot be one."""
    if not isinstance(schema, dict):
        raise SchemaRefused("", "a schema must be a JSON object")
    dialect = schema.get("$schema")
    if dialect is not None and str(dialect).rstrip("#") != DIALECT:
        raise SchemaRefused("/$schema", f"only draft 2020-12 is supported ({DIALECT})")
    try:
        Validator.check_schema(schema, format_checker=_METASCHEMA_FORMATS)
    except SchemaError as exc:
        raise SchemaRefused(pointer(exc.path), message(exc)) from None
    has_pattern_properties = has_unevaluated = False
    refs: list[tuple[tuple, str]] = []
    for path, node in subschemas(schema):
        if isinstance(node.get("pattern"), str):
            _check_regex(node["pattern"], (*path, "pattern"))
        if isinstance(node.get("patternProperties"), dict):
            has_pattern_properties = True
            for patrn in node["patternProperties"]:
                _check_regex(patrn, (*path, "patternProperties", patrn))
        if "unevaluatedProperties" in node:
            has_unevaluated = True
        for keyword in ("$ref", "$dynamicRef"):
            if isinstance(node.get(keyword), str):
                refs.append(((*path, keyword), node[keyword]))
    kinds = schema.get("type")
    if kinds is not None and "object" not in ([kinds] if isinstance(kinds, str) else kinds):
        raise SchemaRefused(
            "/type", "an event's data is a JSON object: this schema would refuse every event"
        )
    if has_pattern_properties and has_unevaluated:
        raise SchemaRefused("", "unevaluatedProperties beside patternProperties is not supported")
    validator = Validator(schema, registry=Registry())
    check_references(schema, refs)
    return validator


# --------------------------------------------------------------------------- checks at publish


_LOOPS = (
    "the schema nests too deeply for this data (references that loop, or too long a chain of "
    "them): fix the schema"
)


def errors(
    validator: Any, document: Any, prefix: tuple = (), size: int = 0
) -> tuple[list[DataError], bool]:
    """Every way `document` (`size` bytes of JSON) breaks the schema (at most MAX_ERRORS, in
    document order), and whether there were more. Pointers are prefixed by `prefix` (e.g.
    ("data",)). A schema that takes more steps than the document's size allows is an error."""
    found: list[DataError] = []
    truncated = False
    steps = BASE_STEPS + STEPS_PER_BYTE * size
    budget = steps_left.set([steps])
    try:
        for error in validator.iter_errors(document):
            if len(found) == MAX_ERRORS:
                truncated = True
                break
            found.append(
                DataError(
                    pointer=pointer((*prefix, *error.absolute_path)),
                    message=message(error)[:500],
                    keyword="false" if error.validator is None else str(error.validator),
                    schema_pointer=_schema_pointer(validator.schema, error),
                )
            )
    except Unresolvable as exc:  # checked at save; kept from a 500 all the same
        found.append(DataError(pointer(prefix), f"the schema does not resolve: {exc}", "$ref", ""))
    except TooMuchWork:
        too_much = (
            f"checking this data took more than {steps:,} steps of the schema, too many for "
            f"{size:,} bytes: simplify the schema (applicators nested over references)"
        )
        found.append(DataError(pointer(prefix), too_much, "$schema", ""))
    except RecursionError:  # a schema saved before loops were refused at save
        found.append(DataError(pointer(prefix), _LOOPS, "$ref", ""))
    finally:
        steps_left.reset(budget)
    found.sort(key=lambda e: e.pointer)
    return found, truncated


def _paths(schema: Any) -> dict[int, tuple]:
    """Where each subschema object sits in the schema, by identity."""
    return {id(node): path for path, node in subschemas(schema)} if isinstance(schema, dict) else {}


def _schema_pointer(schema: Any, error: ValidationError) -> str:
    """Where the failing keyword is in the tenant's schema. The validator's own path follows
    references without saying so (a keyword reached through `$ref` shows where the `$ref`
    is, not where the keyword is), so the keyword's subschema is looked up by identity."""
    where = SCHEMA_PATHS.of(schema, _paths).get(id(error.schema))
    if where is None:
        return pointer(error.absolute_schema_path)
    return pointer((*where, error.validator))


class ValidatorCache(LruCache):
    """Compiled validators by (tenant, type, version): a type's version changes with its
    schema, so an entry is never stale."""
