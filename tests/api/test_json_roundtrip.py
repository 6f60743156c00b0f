"""Property: every published body is either refused (4xx, the error shape) or read back by GET
and delivered, its `data` byte for byte, to a real receiver.

Bodies are nested, unicode (lone surrogates too, escaped or raw), numeric (beyond 64 bits,
NaN, infinities, 1e999) and large (around the 256 KiB limit). The API runs as deployed, with
its embedded worker, on the real Temporal dev server. Hypothesis runs in a thread; each body
is published on the test's event loop, where the app and the receiver live.
"""

from __future__ import annotations

import asyncio
import json
import math

import hypothesis
import orjson
import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st

from hookline.core import jsonlimits
from tests.api.conftest import assert_error
from tests.api.test_promises import delivered

MAX_EXAMPLES = 200


@pytest.fixture
def store_kind() -> str:
    return "sqlite"


def _text() -> st.SearchStrategy[str]:
    # Every code point, surrogates included (they cannot be encoded: the body then escapes
    # them as \\udXXX, or carries them as invalid UTF-8).
    return st.text(st.characters(codec=None, exclude_categories=()), max_size=12)


_integers = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.integers(min_value=jsonlimits.INT_MAX - 3, max_value=jsonlimits.INT_MAX + 3),
    st.integers(min_value=jsonlimits.INT_MIN - 3, max_value=jsonlimits.INT_MIN + 3),
    st.integers(min_value=2**64 - 2, max_value=2**70),
)
_scalars = st.one_of(
    st.none(), st.booleans(), _integers, st.floats(allow_nan=True, allow_infinity=True), _text()
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_text(), inner, max_size=4)
    ),
    max_leaves=20,
)


def _deep(value: object, depth: int) -> object:
    for index in range(depth):
        value = [value] if index % 2 else {"k": value}
    return value


_data = st.one_of(
    st.dictionaries(_text(), _values, max_size=6),
    # Around the depth limit (64 for the body) and the worker's (~200).
    st.tuples(_values, st.integers(55, 260)).map(lambda v: {"deep": _deep(*v)}),
    # Around the size limit (256 KiB of data).
    st.integers(250_000, 270_000).map(lambda n: {"big": "é" * (n // 2)}),
)


def _encode(data: dict, ascii_only: bool) -> tuple[bytes, bytes | None]:
    """The body and, when the data is JSON orjson writes unchanged, the bytes of `data` in it
    (what the delivery must carry). Else Python's json writes it (NaN, huge integers, lone
    surrogates, deep nesting), and the API must refuse it."""
    try:
        exact = orjson.dumps(data)
    except (TypeError, orjson.JSONEncodeError):
        exact = None
    if exact is not None and not _has_non_finite(data):
        return b'{"type":"user.created","data":' + exact + b"}", exact
    text = json.dumps({"type": "user.created", "data": data}, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass"), None


def _has_non_finite(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _data_bytes(delivery: bytes) -> bytes:
    """The `data` member of a delivered body {"id","type","created","data","tenant"}."""
    start = delivery.index(b',"data":') + len(b',"data":')
    return delivery[start : delivery.rindex(b',"tenant":')]


async def test_published_bodies_are_refused_or_delivered_unchanged(
    live, tenant, create_webhook, receiver
) -> None:
    await create_webhook(client=live, url=receiver.url("/hook"), events=["user.created"])
    loop = asyncio.get_running_loop()
    headers = {**tenant.headers, "Content-Type": "application/json"}
    outcomes = {"refused": 0, "delivered": 0}

    async def check(data: dict, ascii_only: bool) -> None:
        body, exact = _encode(data, ascii_only)
        response = await live.post("/api/v1/events", content=body, headers=headers)
        if response.status_code != 202:
            assert 400 <= response.status_code < 500, response.text
            assert_error(response, response.status_code)
            outcomes["refused"] += 1
            return
        # Accepted: then it is JSON the whole pipeline keeps unchanged.
        assert exact is not None, f"accepted a body outside the limits: {body[:200]!r}"
        event_id = response.json()["data"]["id"]
        got = await live.get(f"/api/v1/events/{event_id}", headers=tenant.headers)
        assert got.status_code == 200, got.text
        assert orjson.dumps(got.json()["data"]["data"]) == exact
        (request,) = await delivered(receiver, event_id)
        assert _data_bytes(request.body) == exact
        outcomes["delivered"] += 1

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(data=_data, ascii_only=st.booleans())
    def published(data: dict, ascii_only: bool) -> None:
        asyncio.run_coroutine_threadsafe(check(data, ascii_only), loop).result(timeout=60)

    await asyncio.to_thread(published)
    print(f"\n{outcomes}")
    assert outcomes["refused"] > 0 and outcomes["delivered"] > 0, outcomes
