"""What a refused event (or a refused schema) is told, keyword by keyword: values written as
JSON (`null`, `true`, `"text"`), not as Python prints them; an object or an array named by its
kind, not printed whole; a long value cut short."""

from __future__ import annotations

import ast
import json
from typing import Any

from jsonschema.exceptions import ValidationError

SHOWN_MAX = 80

_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),  # before int: a bool is an int in Python
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def kind(value: Any) -> str:
    """The JSON type of a value of a parsed document."""
    if value is None:
        return "null"
    for cls, name in _KINDS:
        if isinstance(value, cls):
            return name
    return type(value).__name__


def shown(value: Any) -> str:
    """The value as JSON, at most SHOWN_MAX characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 3] + "..."


def _subject(value: Any) -> str:
    """A scalar as JSON; an object or an array by its kind (the pointer says which)."""
    return f"the {kind(value)}" if isinstance(value, dict | list) else shown(value)


def _count(number: Any, noun: str, nouns: str = "") -> str:
    return f"{shown(number)} {noun if number == 1 else nouns or noun + 's'}"


def _schemas(alternatives: Any) -> str:
    return _count(len(alternatives), "schema") if isinstance(alternatives, list) else "schemas"


def message(error: ValidationError) -> str:
    """The error's message for a client. Keywords hookline checks itself (`required`,
    `pattern`, `enum`, ...) already say it in these terms; jsonschema's own are rewritten."""
    limit, value = error.validator_value, error.instance
    subject = _subject(value)
    match error.validator:
        case "type":
            expected = [limit] if isinstance(limit, str) else list(limit)
            return f"expected {' or '.join(map(str, expected))}, got {kind(value)}"
        case "minimum":
            return f"{subject} is less than the minimum of {shown(limit)}"
        case "maximum":
            return f"{subject} is greater than the maximum of {shown(limit)}"
        case "exclusiveMinimum":
            return f"{subject} must be greater than {shown(limit)}"
        case "exclusiveMaximum":
            return f"{subject} must be less than {shown(limit)}"
        case "multipleOf":
            return f"{subject} is not a multiple of {shown(limit)}"
        case "minLength":
            return f"{subject} is shorter than {_count(limit, 'character')}"
        case "maxLength":
            return f"{subject} is longer than {_count(limit, 'character')}"
        case "minItems":
            return f"the array has fewer than {_count(limit, 'item')}"
        case "maxItems":
            return f"the array has more than {_count(limit, 'item')}"
        case "minProperties":
            return f"the object has fewer than {_count(limit, 'property', 'properties')}"
        case "maxProperties":
            return f"the object has more than {_count(limit, 'property', 'properties')}"
        case "anyOf":
            return f"{subject} matches none of the {_schemas(limit)} of anyOf"
        case "oneOf":
            if error.message.endswith("is not valid under any of the given schemas"):
                return f"{subject} matches none of the {_schemas(limit)} of oneOf"
            return f"{subject} matches more than one of the {_schemas(limit)} of oneOf"
        case "not":
            return f"{subject} matches the schema under not"
        case "items" if limit is False:
            fixed = error.schema.get("prefixItems", []) if isinstance(error.schema, dict) else []
            return f"the array has more than {_count(len(fixed), 'item')}"
        case "unevaluatedProperties" | "unevaluatedItems":
            return f"{_unexpected(error.message)} not allowed here ({error.validator} is false)"
        case None:  # a `false` schema: nothing is allowed there
            return "no value is allowed here (the schema is false)"
    return _without_instance(error, subject)


def _unexpected(text: str) -> str:
    """The values jsonschema lists in `(... was unexpected)`, as JSON."""
    listed, _, verb = text.partition("(")[2].rpartition(" unexpected)")[0].rpartition(" ")
    try:
        values = ast.literal_eval(f"[{listed}]")
    except (ValueError, SyntaxError):
        return "values"
    shown_values = ", ".join(shown(value) for value in values[:10])
    return f"{shown_values} {'is' if verb == 'was' else 'are'}"


def _without_instance(error: ValidationError, subject: str) -> str:
    """jsonschema's message, the value it starts with (printed by Python) written as ours."""
    text = error.message
    printed = repr(error.instance)
    return subject + text[len(printed) :] if text.startswith(printed) else text
