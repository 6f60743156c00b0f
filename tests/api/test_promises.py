"""The promises, one test per finding: a 202 is a promise, no input is a 5xx,
no tenant stalls another, idempotency is exact, an accepted event can be read at once.

The tests that deliver run the API as deployed (its embedded worker, eager start) against the
real Temporal dev server and a real receiver on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from hookline.api.publish import event_workflow_input, record_accepted
from hookline.core import jsonlimits
from tests.api.conftest import assert_error, running
from tests.support.receiver import Receiver, refused_port
from tests.support.temporal import isolated_settings

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def store_kind() -> str:
    """SQLite, but for the idempotency tests (BOTH_STORES: PostgreSQL's concurrency too)."""
    return "sqlite"


def nested(depth: int, leaf: str = "1") -> str:
    """`data` whose innermost value sits `depth` objects deep."""
    return '{"a": ' * (depth - 1) + '{"a": ' + leaf + "}" + "}" * (depth - 1)


def event_body(data: str) -> bytes:
    return ('{"type": "user.created", "data": ' + data + "}").encode()


async def delivered(receiver: Receiver, event_id: str, timeout: float = 30) -> list:
    """The requests that delivered `event_id` (at least one), waiting for the first."""
    deadline = time.monotonic() + timeout
    while True:
        got = [r for r in receiver.requests if r.headers.get("webhook-id") == event_id]
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"{event_id} was not delivered within {timeout}s")
        await asyncio.sleep(0.02)


async def settled(client: httpx.AsyncClient, headers: dict, event_id: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        response = await client.get(f"/api/v1/events/{event_id}", headers=headers)
        assert response.status_code == 200, response.text
        event = response.json()["data"]
        if event["status"] in ("succeeded", "failed"):
            return event
        assert time.monotonic() < deadline, event
        await asyncio.sleep(0.05)


def published_count() -> float:
    value = REGISTRY.get_sample_value("hookline_events_published_total", {"type": "user.created"})
    return value or 0.0


# --------------------------------------------------------------------------- 1. decoding


@pytest.mark.parametrize("depth", [65, 199, 253, 254, 5000])
async def test_nesting_beyond_the_limit_is_400_naming_it(live, tenant, depth) -> None:
    """199-253 levels used to be accepted and then lost (the worker could not decode them);
    from 254 on, a plain-text 500."""
    response = await live.post(
        "/api/v1/events", content=event_body(nested(depth)), headers={**tenant.headers, **JSON}
    )
    error = assert_error(response, 400, "bad_request")
    assert error["details"]["limit"] == "max_depth"
    assert f"{jsonlimits.MAX_DEPTH} levels" in error["message"]


async def test_nesting_at_the_limit_is_delivered_unchanged(
    live, tenant, create_webhook, receiver
) -> None:
    await create_webhook(client=live, url=receiver.url("/hook"))
    data = nested(jsonlimits.MAX_DEPTH - 1)  # the body is one level more: 64 in all
    response = await live.post(
        "/api/v1/events", content=event_body(data), headers={**tenant.headers, **JSON}
    )
    assert response.status_code == 202, response.text
    (request,) = await delivered(receiver, response.json()["data"]["id"])
    assert request.json()["data"] == orjson.loads(data)


@pytest.mark.parametrize(
    ("data", "limit"),
    [
        ('{"x": NaN}', "finite_numbers"),
        ('{"x": Infinity}', "finite_numbers"),
        ('{"x": -Infinity}', "finite_numbers"),
        ('{"x": 1e999}', "finite_numbers"),
        ('{"x": -1e999}', "finite_numbers"),
    ],
)
async def test_non_finite_numbers_are_400_not_delivered_as_null(live, tenant, data, limit) -> None:
    response = await live.post(
        "/api/v1/events", content=event_body(data), headers={**tenant.headers, **JSON}
    )
    error = assert_error(response, 400, "bad_request")
    assert error["details"]["limit"] == limit
    assert "finite" in error["message"]


# --------------------------------------------------------------------------- 2. no 5xx

BAD_DATA = [
    ('{"x": "\\ud800"}', "utf8_text"),  # a lone surrogate, as a value
    ('{"\\udc00": 1}', "utf8_text"),  # ... and as a key
    ('{"x": 18446744073709551616}', "integer_range"),  # 2**64
    ('{"x": -9223372036854775809}', "integer_range"),  # -2**63 - 1
    ('{"x": 123456789012345678901234567890}', "integer_range"),
    (nested(300), "max_depth"),
]


def _bodies(data: str) -> dict[str, str]:
    """The same `data` in each body that carries event data."""
    event = '{"type": "user.created", "data": ' + data + "}"
    return {
        "/api/v1/events": event,
        "/api/v1/events/batch": '{"events": [' + event + "]}",
        "/api/v1/webhooks/{id}/test": '{"event": "user.created", "data": ' + data + "}",
        "/api/v1/webhooks/{id}/filter-test": '{"event": ' + event + "}",
        "/api/v1/webhooks": '{"url": "https://example.com/h", "events": ["user.created"], '
        '"filter": {"data.x": {"$eq": ' + data + "}}}",
    }


@pytest.mark.parametrize(("data", "limit"), BAD_DATA)
async def test_data_outside_the_limits_is_400_on_every_route(
    client, tenant, create_webhook, receiver, data, limit
) -> None:
    """These were plain-text 500s (and a closed keep-alive connection)."""
    webhook = await create_webhook(url=receiver.url("/hook"))
    for path, body in _bodies(data).items():
        response = await client.post(
            path.format(id=webhook["id"]), content=body.encode(), headers={**tenant.headers, **JSON}
        )
        error = assert_error(response, 400, "bad_request")
        assert error["details"]["limit"] == limit, (path, error)
        assert error["details"]["rule"] == jsonlimits.LIMITS[limit]
    assert receiver.requests == []  # the test endpoint sent nothing either


async def test_a_huge_stats_window_counts_as_the_retention(client, tenant, create_webhook) -> None:
    webhook = await create_webhook()
    response = await client.get(
        f"/api/v1/webhooks/{webhook['id']}/stats",
        params={"window": "99999999999999999999d"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["window_seconds"] == 7 * 24 * 3600


async def test_an_unexpected_error_is_a_500_in_the_error_shape(settings, caplog) -> None:
    """The last resort: a bug still answers JSON (logged with its traceback), never text."""
    async with running(settings) as client:
        app = client.app  # type: ignore[attr-defined]

        async def broken() -> None:
            raise RuntimeError("a bug")

        app.add_api_route("/broken", broken)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as raw:
            with caplog.at_level(logging.ERROR, logger="hookline.api"):
                response = await raw.get("/broken")
    error = assert_error(response, 500, "internal_error")
    assert "a bug" not in error["message"]  # nothing internal leaks to the client
    (record,) = [r for r in caplog.records if r.name == "hookline.api"]
    assert record.exc_info is not None and "GET /broken" in record.getMessage()


# --------------------------------------------------------------------------- 3. filters

TRAP = "a" * (255 * 1024) + "!"  # with (a+)+$, backtracking engines never finish


async def test_a_pathological_filter_stalls_no_one(
    live, tenant, other_tenant, create_webhook, receiver
) -> None:
    """Tenant A's `(a+)+$` filter and a 256 KB trap string; meanwhile tenant B's events are
    delivered and /healthz answers (the bounds detect a stall; they are not a benchmark)."""
    trap_hook = await create_webhook(
        client=live,
        url=receiver.url("/a"),
        events=["user.created"],
        filter={"data.x": {"$regex": "(a+)+$"}},
    )
    await create_webhook(
        client=live, url=receiver.url("/b"), events=["user.created"], headers=other_tenant.headers
    )
    trap = orjson.dumps({"type": "user.created", "data": {"x": TRAP}})
    health: list[float] = []
    done = asyncio.Event()

    async def probe_health() -> None:
        while not done.is_set():
            started = time.perf_counter()
            answer = await live.get("/healthz")
            health.append(time.perf_counter() - started)
            assert answer.status_code == 200
            await asyncio.sleep(0.01)

    async def publish_traps() -> None:
        for _ in range(3):
            answer = await live.post(
                "/api/v1/events", content=trap, headers={**tenant.headers, **JSON}
            )
            assert answer.status_code == 202, answer.text
            test = await live.post(
                f"/api/v1/webhooks/{trap_hook['id']}/filter-test",
                content=orjson.dumps({"event": orjson.loads(trap)}),
                headers={**tenant.headers, **JSON},
            )
            assert test.status_code == 200 and test.json()["data"]["matched"] is False

    async def publish_b() -> float:
        await asyncio.sleep(0.05)  # while A's traps are in flight
        started = time.perf_counter()
        answer = await live.post(
            "/api/v1/events",
            json={"type": "user.created", "data": {"x": "b"}},
            headers=other_tenant.headers,
        )
        assert answer.status_code == 202, answer.text
        await delivered(receiver, answer.json()["data"]["id"], timeout=10)
        return time.perf_counter() - started

    prober = asyncio.create_task(probe_health())
    try:
        _, b_latency = await asyncio.wait_for(asyncio.gather(publish_traps(), publish_b()), 60)
    finally:
        done.set()
        await prober
    print(
        f"\nB publish-to-receipt {b_latency * 1000:.0f} ms; /healthz max {max(health) * 1000:.0f} "
        f"ms over {len(health)} probes"
    )
    assert b_latency < 1.0
    assert max(health) < 0.2
    assert receiver.for_path("/a") == []  # the trap never matched


async def test_costly_filters_on_a_large_event_run_off_the_event_loop(
    live, tenant, other_tenant, create_webhook, receiver, monkeypatch
) -> None:
    """Linear is not free: 30 patterns over a list of 3,000 strings, five webhooks. Evaluated
    in a thread, they leave the loop (the API, other tenants' deliveries) to everyone else:
    every large event's filters ran off the loop's thread, and another tenant's small event
    was delivered meanwhile."""
    from hookline.activities import events as event_activities

    threads: list[int] = []
    evaluate = event_activities.filter_verdicts

    def recording(rows, document):
        threads.append(threading.get_ident())
        return evaluate(rows, document)

    monkeypatch.setattr(event_activities, "filter_verdicts", recording)
    loop_thread = threading.get_ident()
    costly = {"$or": [{"data.items": {"$regex": f"x{n}$"}} for n in range(30)]}
    for _ in range(5):
        await create_webhook(client=live, url=receiver.url("/a"), filter=costly)
    await create_webhook(client=live, url=receiver.url("/b"), headers=other_tenant.headers)
    items = [f"item-{n:05}" for n in range(3_000)]  # 42 KB: cheap to carry, costly to filter
    large = orjson.dumps({"type": "user.created", "data": {"items": items}})
    published = [
        await live.post("/api/v1/events", content=large, headers={**tenant.headers, **JSON})
        for _ in range(3)
    ]
    answer = await live.post(
        "/api/v1/events", json={"type": "user.created", "data": {}}, headers=other_tenant.headers
    )
    await delivered(receiver, answer.json()["data"]["id"], timeout=10)
    for event in published:
        assert event.status_code == 202, event.text
        event_id = event.json()["data"]["id"]
        assert (await settled(live, tenant.headers, event_id))["status"] == "succeeded"
    assert len(threads) == 3 and loop_thread not in threads
    assert receiver.for_path("/a") == []  # no pattern matched


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(?=a)b", "not a valid RE2 pattern"),  # lookahead: not RE2
        (r"(a)\1", "not a valid RE2 pattern"),  # backreference: not RE2
        ("(unclosed", "not a valid RE2 pattern"),
        ("a" * 513, "longer than 512"),
    ],
)
async def test_non_re2_patterns_are_422_at_create_update_and_filter_test(
    client, tenant, create_webhook, pattern, reason
) -> None:
    spec = {"data.x": {"$regex": pattern}}
    body = {"url": "https://example.com/h", "events": ["user.created"], "filter": spec}
    created = await client.post("/api/v1/webhooks", json=body, headers=tenant.headers)
    assert reason in assert_error(created, 422, "invalid_filter")["message"]
    webhook = await create_webhook()
    updated = await client.put(
        f"/api/v1/webhooks/{webhook['id']}", json={"filter": spec}, headers=tenant.headers
    )
    assert reason in assert_error(updated, 422, "invalid_filter")["message"]
    tested = await client.post(
        f"/api/v1/webhooks/{webhook['id']}/filter-test",
        json={"event": {"type": "user.created", "data": {"x": "ab"}}, "filter": spec},
        headers=tenant.headers,
    )
    assert reason in assert_error(tested, 422, "invalid_filter")["message"]


# --------------------------------------------------------------------------- 4. idempotency


BOTH_STORES = pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])


@BOTH_STORES
async def test_distinct_ids_at_once_are_never_replayed(
    live, tenant, create_webhook, receiver
) -> None:
    await create_webhook(client=live, url=receiver.url("/hook"))
    before = published_count()
    answers = await asyncio.gather(
        *(
            live.post(
                "/api/v1/events",
                json={"type": "user.created", "id": f"order-{n}", "data": {"n": n}},
                headers=tenant.headers,
            )
            for n in range(200)
        )
    )
    assert [a.status_code for a in answers] == [202] * 200
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None] * 200
    assert published_count() - before == 200
    await receiver.wait_for(200, path="/hook", timeout=60)


@BOTH_STORES
async def test_one_id_fifty_times_at_once_delivers_once(
    live, tenant, create_webhook, receiver
) -> None:
    await create_webhook(client=live, url=receiver.url("/hook"))
    before = published_count()
    answers = await asyncio.gather(
        *(
            live.post(
                "/api/v1/events",
                json={"type": "user.created", "id": "order-42", "data": {"attempt": n}},
                headers=tenant.headers,
            )
            for n in range(50)
        )
    )
    assert [a.status_code for a in answers] == [202] * 50
    replayed = [a.headers.get("Idempotent-Replayed") for a in answers]
    assert replayed.count("true") == 49 and replayed.count(None) == 1
    # The same event every time (its status is read as it is: the worker may have moved it).
    events = {orjson.dumps({**a.json()["data"], "status": None}) for a in answers}
    assert len(events) == 1
    statuses = {a.json()["data"]["status"] for a in answers}
    assert statuses <= {"awaiting-executing", "executing", "succeeded"}, statuses
    event_id = answers[0].json()["data"]["id"]
    first = answers[replayed.index(None)]
    await settled(live, tenant.headers, event_id)
    assert len(receiver.requests) == 1
    # The data delivered is the one of the publish that was not a replay.
    assert receiver.requests[0].json()["data"] == orjson.loads(first.request.content)["data"]
    assert published_count() - before == 1


# --------------------------------------------------------------------------- 5. read-your-writes


async def test_an_accepted_event_is_readable_at_once(settings, tenant, temporal_env) -> None:
    """No worker polls this queue: the workflow has not run, and GET still finds the event."""
    idle = isolated_settings(settings, embedded_worker=False)
    async with running(idle, temporal=temporal_env.client) as client:
        for n in range(20):
            data = {"n": n, "text": "héllo"}
            answer = await client.post(
                "/api/v1/events",
                json={"type": "user.created", "data": data},
                headers=tenant.headers,
            )
            assert answer.status_code == 202, answer.text
            got = await client.get(
                f"/api/v1/events/{answer.json()['data']['id']}", headers=tenant.headers
            )
            assert got.status_code == 200, got.text
            event = got.json()["data"]
            assert event["status"] == "awaiting-executing" and event["data"] == data
            assert [s["stage"] for s in event["stages"]] == ["awaiting-executing"]


async def test_the_worker_moves_the_recorded_event_on(
    live, tenant, create_webhook, receiver
) -> None:
    await create_webhook(client=live, url=receiver.url("/hook"))
    answer = await live.post(
        "/api/v1/events", json={"type": "user.created", "data": {"a": 1}}, headers=tenant.headers
    )
    event_id = answer.json()["data"]["id"]
    assert (await live.get(f"/api/v1/events/{event_id}", headers=tenant.headers)).status_code == 200
    event = await settled(live, tenant.headers, event_id)
    assert event["status"] == "succeeded"
    stages = [s["stage"] for s in event["stages"]]
    assert stages[:2] == ["awaiting-executing", "executing"], stages
    assert event["stages"][0]["at"].replace("+00:00", "Z")[:19] == event["created"][:19]
    assert len(await delivered(receiver, event_id)) == 1


async def test_a_failed_start_leaves_nothing_that_blocks_the_retry(
    api, settings, tenant, create_webhook, receiver, temporal_env
) -> None:
    """Temporal down: 503 and no row left behind; the producer's retry is a new publish."""
    body = {"type": "user.created", "id": "invoice-7", "data": {"total": 12}}
    async with api(temporal_address=f"127.0.0.1:{await refused_port()}") as down:
        assert_error(await down.post("/api/v1/events", json=body, headers=tenant.headers), 503)
        event_id = event_workflow_input(settings, tenant.tenant_id, "x", {}, "invoice-7").event_id
        assert_error(await down.get(f"/api/v1/events/{event_id}", headers=tenant.headers), 404)
    live_settings = isolated_settings(settings, embedded_worker=True)
    async with running(live_settings, temporal=temporal_env.client) as live:
        await create_webhook(client=live, url=receiver.url("/hook"))
        retry = await live.post("/api/v1/events", json=body, headers=tenant.headers)
        assert retry.status_code == 202 and "Idempotent-Replayed" not in retry.headers
        assert len(await delivered(receiver, retry.json()["data"]["id"])) == 1


async def test_a_row_recorded_before_a_crash_is_started_by_the_retry(
    live, tenant, create_webhook, receiver, live_settings
) -> None:
    """The API died between recording the row and starting the workflow: the retry (same id)
    answers as a replay and starts the workflow from the stored event."""
    await create_webhook(client=live, url=receiver.url("/hook"))
    first = event_workflow_input(
        live_settings, tenant.tenant_id, "user.created", {"v": "first"}, "crash-1"
    )
    store = live.app.state.deps.store  # type: ignore[attr-defined]
    assert await store.transaction(record_accepted, first) is None
    retry = await live.post(
        "/api/v1/events",
        json={"type": "user.created", "id": "crash-1", "data": {"v": "second"}},
        headers=tenant.headers,
    )
    assert retry.status_code == 202 and retry.headers["Idempotent-Replayed"] == "true"
    (request,) = await delivered(receiver, first.event_id)
    assert request.json()["data"] == {"v": "first"}
