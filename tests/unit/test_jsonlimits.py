"""core/jsonlimits.py: the one parser and the limits of every JSON body the API reads."""

from __future__ import annotations

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from hookline.core import jsonlimits
from hookline.core.jsonlimits import INT_MAX, INT_MIN, MAX_DEPTH, JsonLimitError, parse


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def refused(body: bytes | str) -> JsonLimitError:
    with pytest.raises(JsonLimitError) as caught:
        parse(body)
    return caught.value


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"a": [1, 2.5, -0.0, true, false, null, "x"]}',
        f'{{"big": {INT_MAX}, "small": {INT_MIN}}}'.encode(),
        b'{"f": 1.7976931348623157e308, "tiny": 5e-324}',
        '{"é": "日本語 😀", "esc": "\\ud83d\\ude00"}'.encode(),  # a surrogate *pair* is fine
        nested(MAX_DEPTH).encode(),
        b'{"x": "\\\\u0000"}',  # an escaped backslash, then the text u0000: no U+0000
    ],
)
def test_json_within_the_limits_parses(body: bytes) -> None:
    parse(body)


@pytest.mark.parametrize(
    ("body", "limit", "path"),
    [
        (nested(MAX_DEPTH + 1), jsonlimits.DEPTH, "…" + ("[0]" * MAX_DEPTH)[-120:]),
        (nested(199), jsonlimits.DEPTH, None),
        (nested(5000), jsonlimits.DEPTH, ""),  # the parser's own limit, same message
        (f'{{"a": {{"b": {INT_MAX + 1}}}}}', jsonlimits.INTEGER, "a.b"),
        (f"[{INT_MIN - 1}]", jsonlimits.INTEGER, "[0]"),
        ('{"n": 123456789012345678901234567890}', jsonlimits.INTEGER, "n"),
        ('{"x": 1e999}', jsonlimits.FINITE, "x"),
        ('{"x": [-1e400]}', jsonlimits.FINITE, "x[0]"),
        ('{"x": NaN}', jsonlimits.FINITE, ""),
        ('{"x": Infinity}', jsonlimits.FINITE, ""),
        ('{"x": -Infinity}', jsonlimits.FINITE, ""),
        ('{"x": "\\ud800"}', jsonlimits.TEXT, ""),  # a lone high surrogate
        ('{"\\udc00": 1}', jsonlimits.TEXT, ""),  # a lone low surrogate, in a key
        (b'{"x": "\xe9"}', jsonlimits.TEXT, ""),  # Latin-1, not UTF-8
        (b'{"x": "\xed\xa0\x80"}', jsonlimits.TEXT, ""),  # a surrogate encoded as UTF-8
        ('{"x": {"y": ["a\\u0000"]}}', jsonlimits.NUL, "x.y[0]"),  # PostgreSQL refuses it
        ('{"é\\u0000": 1}', jsonlimits.NUL, "é\x00"),  # in a key, beside non-ASCII
        (b'{"x": 1', jsonlimits.SYNTAX, ""),
        (b'{"x": "NaN" y}', jsonlimits.SYNTAX, ""),
        (b"", jsonlimits.SYNTAX, ""),
    ],
)
def test_json_outside_the_limits_names_the_limit(
    body: bytes | str, limit: str, path: str | None
) -> None:
    error = refused(body)
    assert error.limit == limit, error
    if path is not None:
        assert error.path == path
    assert error.message


def test_messages_say_the_rule() -> None:
    assert f"{MAX_DEPTH} levels" in refused(nested(100)).message
    assert str(INT_MAX) in refused(f"[{INT_MAX + 1}]").message
    assert "finite" in refused("[1e999]").message
    assert "surrogates" in refused('["\\ud800"]').message


def test_values_built_in_python_are_checked_too() -> None:
    """`check` is what a route runs on data it did not parse (e.g. sample data)."""
    jsonlimits.check({"a": [1, "x", None, True, 2.5]})
    for value, limit in (
        ({"a": float("nan")}, jsonlimits.FINITE),
        ({"a": 2**64}, jsonlimits.INTEGER),
        ({"a": "\ud800"}, jsonlimits.TEXT),
        ({"\udfff": 1}, jsonlimits.TEXT),
        ({"a": {1, 2}}, jsonlimits.SYNTAX),
        ({1: "a"}, jsonlimits.SYNTAX),
    ):
        with pytest.raises(JsonLimitError) as caught:
            jsonlimits.check(value)
        assert caught.value.limit == limit


def test_the_limit_is_well_below_what_the_payload_converter_decodes() -> None:
    """What the API accepts, the workflow can decode: the converter's decoder refuses a
    document nested deeper than ~200 levels; the API's limit is 64 for a whole body."""
    converter = pydantic_data_converter.payload_converter

    def round_trips(depth: int) -> bool:
        value: object = 1
        for _ in range(depth):
            value = {"a": value}
        try:
            (decoded,) = converter.from_payloads(converter.to_payloads([value]), [dict])
        except Exception:
            return False
        return decoded == value

    assert round_trips(3 * MAX_DEPTH)
    assert not round_trips(300)
