"""The keywords hookline checks itself, on top of jsonschema's draft 2020-12 validator: regular
expressions on RE2, equality on JSON values (a `1` is not `true`), messages in JSON terms, and
a budget of steps for one document, so no schema's work outgrows its data."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextvars import ContextVar
from decimal import Decimal
from fractions import Fraction
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from hookline.core.filter_validation import compile_regex
from hookline.core.json_equality import json_key
from hookline.core.schema_messages import shown

# --------------------------------------------------------------------------- RE2 keywords


def _search(pattern: str, text: str) -> bool:
    return compile_regex(pattern).search(text) is not None


def _pattern(validator: Any, patrn: str, instance: Any, schema: dict) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(patrn, instance):
        yield ValidationError(f"{shown(instance)} does not match {shown(patrn)}")


def _pattern_properties(
    validator: Any, patterns: dict, instance: Any, schema: dict
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in patterns.items():
        for key, value in instance.items():
            if _search(patrn, key):
                yield from _descend(validator, key, value, subschema, patrn)


def _properties(
    validator: Any, properties: dict, instance: Any, schema: dict
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "object"):
        for name, subschema in properties.items():
            if name in instance:
                yield from _descend(validator, name, instance[name], subschema, name)


def _descend(
    validator: Any, name: str, value: Any, subschema: Any, schema_path: str
) -> Iterator[ValidationError]:
    """A property's value checked against its subschema. jsonschema's own descent into a
    `false` subschema loses the property's path, so that one is refused here."""
    if subschema is False:
        yield ValidationError(
            f"the property {shown(name)} is not allowed", path=[name], schema_path=[schema_path]
        )
    else:
        yield from validator.descend(value, subschema, path=name, schema_path=schema_path)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: dict
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    named = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [
        key
        for key in instance
        if key not in named and not any(_search(patrn, key) for patrn in patterns)
    ]
    if validator.is_type(additional, "object"):
        for key in extras:
            yield from validator.descend(instance[key], additional, path=key)
    elif additional is False and extras:
        listed = ", ".join(shown(key) for key in sorted(extras)[:10])
        yield ValidationError(f"additional properties are not allowed ({listed} unexpected)")


class TooMuchWork(Exception):
    """The document's check went past MAX_STEPS keyword checks."""


steps_left: ContextVar[list[int] | None] = ContextVar("schemasteps_left", default=None)


def _charge(steps: int) -> None:
    """Counts `steps` against the document's budget (when one is set)."""
    left = steps_left.get()
    if left is not None:
        left[0] -= steps
        if left[0] < 0:
            raise TooMuchWork


def _metered(check: Callable[..., Any]) -> Callable[..., Any]:
    """The keyword's check, one step of the document's budget (`_keyed` counts the work of
    those that compare whole values)."""

    def run(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        _charge(1)
        return check(validator, value, instance, schema)

    return run


# --------------------------------------------------------------------------- equality keywords


def _keyed(value: Any) -> Hashable:
    """The value's equality key, each value in it one step."""
    nodes = [0]
    key = json_key(value, nodes)
    _charge(nodes[0])
    return key


def _unique_items(
    validator: Any, unique: Any, instance: Any, schema: dict
) -> Iterator[ValidationError]:
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Hashable] = set()
    for index, item in enumerate(instance):
        key = _keyed(item)
        if key in seen:
            yield ValidationError(f"item {index} repeats an earlier one: {shown(item)}")
            return
        seen.add(key)


class LruCache:
    """At most `size` entries by key, the least recently used going first; safe to share
    between threads (validations may run in them)."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class SchemaKeys:
    """What is derived from a part of a compiled schema (the equality keys of an `enum` list
    or a `const` value, a schema's paths), made once per part and kept by its identity: the
    compiled validators keep their schemas, so these parts, alive; the least recently used go
    first past `size`. One instance per kind of derivation."""

    def __init__(self, size: int = 4096) -> None:
        self._made = LruCache(size)

    def of(self, value: Any, make: Callable[[Any], Any]) -> Any:
        if type(value) not in (list, dict):
            return make(value)
        found = self._made.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        made = make(value)
        self._made.put(id(value), (value, made))
        return made


_ENUM_KEYS = SchemaKeys()
_CONST_KEYS = SchemaKeys()
SCHEMA_PATHS = SchemaKeys(size=1024)  # a compiled schema's subschemas, by identity


def _key_set(values: list) -> frozenset:
    return frozenset(json_key(value, [0]) for value in values)


def _key(value: Any) -> Hashable:
    return json_key(value, [0])


def _enum(validator: Any, enums: Any, instance: Any, schema: dict) -> Iterator[ValidationError]:
    if _keyed(instance) not in _ENUM_KEYS.of(enums, _key_set):
        yield ValidationError(f"{shown(instance)} is not one of the {len(enums)} values allowed")


def _const(validator: Any, const: Any, instance: Any, schema: dict) -> Iterator[ValidationError]:
    if _keyed(instance) != _CONST_KEYS.of(const, _key):
        yield ValidationError(f"{shown(const)} was expected")


def _required(validator: Any, names: Any, instance: Any, schema: dict) -> Iterator[ValidationError]:
    if validator.is_type(instance, "object"):
        for name in names:
            if name not in instance:
                yield ValidationError(f"{shown(name)} is required")


def _dependent_required(
    validator: Any, dependent: Any, instance: Any, schema: dict
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for name, needed in dependent.items():
        if name in instance:
            for other in needed:
                if other not in instance:
                    yield ValidationError(f"{shown(other)} is required when {shown(name)} is there")


def _as_written(number: int | float) -> Fraction:
    """A JSON number as its text says, exactly: 19.99 is 1999/100, not the binary double
    nearest it (a float's repr is the shortest text that reads back as it)."""
    return Fraction(number) if isinstance(number, int) else Fraction(Decimal(repr(number)))


def _multiple_of(
    validator: Any, step: Any, instance: Any, schema: dict
) -> Iterator[ValidationError]:
    """In decimal, as the numbers are written: a float quotient (the reference validator's)
    refuses 19.99 as a multiple of 0.01 (19.99 / 0.01 is 1998.9999999999998)."""
    if not validator.is_type(instance, "number"):
        return
    if (_as_written(instance) / _as_written(step)).denominator != 1:
        yield ValidationError(f"{shown(instance)} is not a multiple of {shown(step)}")


Validator = validators.extend(
    Draft202012Validator,
    {
        keyword: _metered(check)
        for keyword, check in {
            **Draft202012Validator.VALIDATORS,
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "properties": _properties,
            "additionalProperties": _additional_properties,
            "uniqueItems": _unique_items,
            "enum": _enum,
            "const": _const,
            "required": _required,
            "dependentRequired": _dependent_required,
            "multipleOf": _multiple_of,
        }.items()
    },
)
