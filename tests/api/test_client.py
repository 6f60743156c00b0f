"""hookline.client against the real API app: the async client over ASGI, the sync client over
a uvicorn server on 127.0.0.1 (called from a thread while the test's loop serves), retries
through a scripted front in front of the API, every error class from a real API error, and
the verify helper on real deliveries."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn

from hookline.client import (
    UNSET,
    AsyncHookline,
    BadRequest,
    Conflict,
    EventDetail,
    Forbidden,
    Hookline,
    HooklineConnectionError,
    InvalidSignature,
    NewEvent,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
    Webhook,
    WebhookEndpoint,
)
from hookline.devserver import free_port
from tests.conftest import make_tenant
from tests.support.receiver import Receiver, refused_port

MASK = "•" * 8
ASGI = Callable[..., Any]


@pytest.fixture
def store_kind() -> str:
    return "sqlite"  # the client speaks HTTP: the store underneath is the API's business


def asgi_client(app: ASGI, token: str, **options: Any) -> AsyncHookline:
    return AsyncHookline(
        token, base_url="http://test", transport=httpx.ASGITransport(app=app), **options
    )


@asynccontextmanager
async def served(app: ASGI) -> AsyncIterator[str]:
    """The app (its lifespan already running) on a real port of 127.0.0.1, served from this
    event loop: call the sync client from a thread (`asyncio.to_thread`)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class Front:
    """An ASGI app in front of another: the first requests to ``path`` get the scripted
    answers (``forward=True``: the app behind handles the request, then its answer is lost
    and the scripted one given), the rest go through. Records every request's headers."""

    def __init__(
        self,
        app: ASGI | None,
        script: list[tuple[int, dict[str, str], bool]],
        path: str = "/api/v1/events",
    ) -> None:
        self.app = app
        self.script = list(script)
        self.path = path
        self.seen: list[dict[str, str]] = []

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            if self.app is not None:
                await self.app(scope, receive, send)
            return
        if scope["path"] == self.path:
            self.seen.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        if scope["path"] == self.path and (self.script or self.app is None):
            status, headers, forward = self.script.pop(0) if self.script else (503, {}, False)
            if forward and self.app is not None:

                async def lost(message: dict) -> None:
                    pass

                await self.app(scope, receive, lost)
            body = b'{"error": {"code": "scripted", "message": "scripted", "details": null}}'
            raw = [(b"content-type", b"application/json")]
            raw += [(k.encode(), v.encode()) for k, v in headers.items()]
            await send({"type": "http.response.start", "status": status, "headers": raw})
            await send({"type": "http.response.body", "body": body})
            return
        assert self.app is not None
        await self.app(scope, receive, send)


async def delivered(receiver: Receiver, count: int) -> list[Any]:
    return await receiver.wait_for(count, path="/hook", timeout=20)


async def settled(hl: AsyncHookline, event_id: str) -> EventDetail:
    """The event once each of its deliveries has an attempt recorded."""
    for _ in range(200):
        event = await hl.get_event(event_id)
        if event.deliveries and all(d.attempt_history for d in event.deliveries):
            return event
        await asyncio.sleep(0.05)
    raise AssertionError(f"{event_id} was not delivered: {event}")


# --------------------------------------------------------------------------- publish, live


async def test_publish_replay_read_redeliver_and_verify_async(live, tenant, receiver) -> None:
    async with asgi_client(live.app, tenant.token) as hl:
        hook = await hl.create_webhook(receiver.url("/hook"), ["user.*"], description="crm")
        assert isinstance(hook, WebhookEndpoint) and hook.secret.startswith("whsec_")
        assert (hook.max_in_flight, hook.rate_limit, hook.ordering) == (None, None, "none")
        assert hook.circuit is not None and hook.circuit.state == "closed"

        first = await hl.publish("user.created", {"id": "usr_1"}, id="signup-1")
        again = await hl.publish("user.created", {"id": "usr_1"}, id="signup-1")
        assert first.id.startswith("evt_") and first.idempotency_key == "signup-1"
        assert (first.replayed, again.replayed, again.id) == (False, True, first.id)
        # Without a key, each call is its own event (a UUID per call).
        one = await hl.publish("user.updated", {"id": "usr_1"})
        two = await hl.publish("user.updated", {"id": "usr_1"})
        assert one.id != two.id and one.idempotency_key != two.idempotency_key
        assert not one.replayed and len(one.idempotency_key or "") == 36

        event = await settled(hl, first.id)
        assert event.data == {"id": "usr_1"} and event.tenant == tenant.tenant_id
        [delivery] = event.deliveries
        # The whole delivery in the message: a failed attempt 1 shows its error.
        assert delivery.webhook_id == hook.id and delivery.status == "succeeded", delivery
        assert delivery.attempt_history[0].status_code == 200
        assert [s.stage for s in event.stages]

        requests = await delivered(receiver, 3)
        by_event = {r.json()["id"]: r for r in requests}
        got = by_event[first.id]
        assert Webhook(hook.secret).verify(got.body, got.headers)["id"] == first.id
        with pytest.raises(InvalidSignature):
            Webhook(hook.secret).verify(got.body.replace(b"usr_1", b"usr_2"), got.headers)
        stale = {**got.headers, "webhook-timestamp": str(int(time.time()) - 600)}
        with pytest.raises(InvalidSignature, match="too old"):
            Webhook(hook.secret).verify(got.body, stale)
        wrong = "whsec_" + base64.b64encode(b"w" * 32).decode()
        with pytest.raises(InvalidSignature):
            Webhook(wrong).verify(got.body, got.headers)

        listed = await hl.list_events(type="user.updated", webhook_id=hook.id, limit=10)
        assert {e.id for e in listed.data} <= {one.id, two.id} and listed.meta.limit == 10
        everything = await hl.list_events()
        assert everything.meta.total == 3
        older = await hl.list_events(limit=1, starting_after=everything.data[0].id)
        assert [e.id for e in older.data] == [everything.data[1].id] and older.meta.total == 2

        redone = await hl.redeliver(first.id, webhook_ids=[hook.id])
        assert (redone.scheduled, redone.events) == (1, 1) and redone.message
        await delivered(receiver, 4)
        job = await hl.redeliver_failed(webhook_id=hook.id)  # a job, answered at once
        for _ in range(100):
            if (job := await hl.get_job(job.id)).done:
                break
            await asyncio.sleep(0.1)
        assert (job.status, job.scheduled) == ("completed", 0)  # nothing had failed

        batch = [NewEvent(type="user.deleted", data={"id": "usr_2"}), {"type": "user.created"}]
        published = await hl.publish_batch(batch)
        assert [e.type for e in published] == ["user.deleted", "user.created"]
        assert all(e.idempotency_key for e in published)


async def test_verify_across_a_secret_rotation(live, tenant, receiver) -> None:
    async with asgi_client(live.app, tenant.token) as hl:
        hook = await hl.create_webhook(receiver.url("/hook"), ["user.created"])
        rotated = await hl.rotate_secret(hook.id, grace_period=3600)
        assert rotated.secret != hook.secret and rotated.previous_secret_expires_at
        await hl.publish("user.created", {"id": "usr_1"})
        [got] = await delivered(receiver, 1)
        assert len(got.headers["webhook-signature"].split()) == 2  # both secrets sign
        for secrets in ([rotated.secret], [hook.secret], [rotated.secret, hook.secret]):
            assert Webhook(secrets).verify(got.body, got.headers)["type"] == "user.created"
            assert Webhook(secrets, schemes=["hex"]).verify(got.body, got.headers)


async def test_sync_client_publishes_and_reads_over_http(live, tenant, receiver) -> None:
    def work(url: str) -> tuple[Any, ...]:
        with Hookline(tenant.token, base_url=url + "/api/v1/") as hl:
            hook = hl.create_webhook(receiver.url("/hook"), ["user.created"])
            first = hl.publish("user.created", {"id": "usr_1"}, idempotency_key="k-1")
            again = hl.publish("user.created", {"id": "usr_1"}, idempotency_key="k-1")
            batch = hl.publish_batch([{"type": "user.created", "id": "b-1"}])
            batch_again = hl.publish_batch([{"type": "user.created", "id": "b-1"}])
            return hook, first, again, batch, batch_again, hl.get_event(first.id)

    async with served(live.app) as url:
        hook, first, again, batch, batch_again, event = await asyncio.to_thread(work, url)
    assert (again.id, again.replayed, first.replayed) == (first.id, True, False)
    assert batch[0].id == batch_again[0].id
    assert (batch[0].replayed, batch_again[0].replayed) == (False, True)
    assert event.id == first.id and event.type == "user.created"
    got = await delivered(receiver, 2)
    ids = {r.json()["id"] for r in got}
    assert ids == {first.id, batch[0].id}
    assert all(Webhook(hook.secret).verify(r.body, r.headers) for r in got)


# --------------------------------------------------------------------------- retries


async def test_publish_retries_503_then_429_with_one_key_async(live, tenant) -> None:
    """The first answer is lost after the API recorded the event (a 503 in its place); the
    retry, after the Retry-After, carries the same idempotency key: one event, replayed."""
    front = Front(live.app, [(503, {"Retry-After": "1"}, True), (429, {"Retry-After": "0"}, False)])
    async with asgi_client(front, tenant.token) as hl:
        started = time.monotonic()
        event = await hl.publish("user.created", {"id": "usr_1"})
        elapsed = time.monotonic() - started
        assert elapsed >= 1.0
        assert event.replayed is True
        keys = {seen["idempotency-key"] for seen in front.seen}
        assert len(front.seen) == 3 and len(keys) == 1 and event.idempotency_key in keys
        assert (await hl.list_events()).meta.total == 1


async def test_sync_publish_retries_over_http(live, tenant) -> None:
    front = Front(live.app, [(503, {"Retry-After": "1"}, True)])

    def work(url: str) -> Any:
        with Hookline(tenant.token, base_url=url) as hl:
            started = time.monotonic()
            event = hl.publish("user.created", {"id": "usr_1"})
            return event, time.monotonic() - started

    async with served(front) as url:
        event, elapsed = await asyncio.to_thread(work, url)
    assert event.replayed and elapsed >= 1.0 and len(front.seen) == 2
    assert front.seen[0]["idempotency-key"] == front.seen[1]["idempotency-key"]


async def test_retries_are_bounded_in_attempts_and_time() -> None:
    always = Front(None, [], path="/api/v1/events")
    always.script = [(503, {"Retry-After": "0.2"}, False)] * 10
    async with asgi_client(always, "t", max_attempts=3) as hl:
        with pytest.raises(ServiceUnavailable) as raised:
            await hl.publish("user.created")
    assert len(always.seen) == 3 and raised.value.retry_after == 0.2
    # A Retry-After beyond what is left of max_retry_time: raised at once, for the caller.
    later = Front(None, [(429, {"Retry-After": "30"}, False)])
    async with asgi_client(later, "t", max_retry_time=5) as hl:
        started = time.monotonic()
        with pytest.raises(RateLimited) as limited:
            await hl.publish("user.created")
    assert time.monotonic() - started < 1 and limited.value.retry_after == 30
    assert len(later.seen) == 1


async def test_a_create_is_not_sent_twice_after_a_503_but_is_after_a_429() -> None:
    unavailable = Front(None, [(503, {"Retry-After": "0"}, False)], path="/api/v1/webhooks")
    async with asgi_client(unavailable, "t") as hl:
        with pytest.raises(ServiceUnavailable):
            await hl.create_webhook("https://example.com/hook", ["user.created"])
    assert len(unavailable.seen) == 1
    limited = Front(None, [(429, {"Retry-After": "0"}, False)] * 2, path="/api/v1/webhooks")
    async with asgi_client(limited, "t", max_attempts=2) as hl:
        with pytest.raises(RateLimited):
            await hl.create_webhook("https://example.com/hook", ["user.created"])
    assert len(limited.seen) == 2


@pytest.mark.parametrize(
    "data", [{"score": float("nan")}, {"at": datetime(2026, 1, 1, tzinfo=UTC)}, {"ids": {1, 2}}]
)
async def test_data_that_is_not_json_is_a_bad_request_before_anything_is_sent(data) -> None:
    """The API takes standard JSON only: the client says so as the API's own 400, not as a bare
    ValueError or TypeError from deep inside httpx, and sends nothing."""
    front = Front(None, [], path="/api/v1/events")
    async with asgi_client(front, "t") as hl:
        with pytest.raises(BadRequest) as raised:
            await hl.publish("user.created", data)
        with pytest.raises(BadRequest):
            await hl.publish_batch([{"type": "user.created", "data": data}])
    assert raised.value.code == "json_syntax" and "cannot be sent as JSON" in raised.value.message
    assert front.seen == []


class DropsFirst(httpx.AsyncBaseTransport):
    """The first request is sent, then the connection breaks before any answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = await self.inner.handle_async_request(request)
        if len(self.requests) == 1:
            await response.aread()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


async def test_connection_errors_retry_what_is_safe_to_repeat(client, tenant) -> None:
    flaky = DropsFirst(httpx.ASGITransport(app=client.app))
    async with AsyncHookline(tenant.token, base_url="http://test", transport=flaky) as hl:
        assert (await hl.list_webhooks()).meta.total == 0  # a read: retried
    assert len(flaky.requests) == 2
    flaky = DropsFirst(httpx.ASGITransport(app=client.app))
    async with AsyncHookline(tenant.token, base_url="http://test", transport=flaky) as hl:
        with pytest.raises(HooklineConnectionError) as raised:  # it may exist: not repeated
            await hl.create_webhook("https://example.com/hook", ["user.created"])
        assert isinstance(raised.value.__cause__, httpx.ReadError)
        assert raised.value.status is None and len(flaky.requests) == 1
        assert (await hl.list_webhooks()).meta.total == 1  # it did


async def test_a_refused_connection_is_retried_then_raised() -> None:
    port = await refused_port()

    def work() -> tuple[BaseException, float]:
        with Hookline("t", base_url=f"http://127.0.0.1:{port}", max_attempts=3) as hl:
            started = time.monotonic()
            try:
                hl.create_webhook("https://example.com/hook", ["user.created"])
            except HooklineConnectionError as exc:
                return exc, time.monotonic() - started
            raise AssertionError("no error")

    error, elapsed = await asyncio.to_thread(work)
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert elapsed >= 0.25 + 0.5  # two waits: at least half of 0.5 s, then of 1 s


# --------------------------------------------------------------------------- errors


async def test_every_error_class_from_the_real_api(api, settings, tenant) -> None:
    reader = await make_tenant(settings, "reader", scopes=["events:read"])
    async with api(temporal_address=f"127.0.0.1:{free_port()}") as down:
        async with asgi_client(down.app, tenant.token, max_retry_time=1) as hl:
            with pytest.raises(BadRequest) as bad:
                await hl.publish("user.craeted")
            assert bad.value.code == "unknown_event_type"
            assert bad.value.details["did_you_mean"][0] == "user.created"
            with pytest.raises(BadRequest) as bad_page:
                await hl.list_events(limit=1000)
            assert bad_page.value.message == "invalid parameters"
            with pytest.raises(NotFound) as missing:
                await hl.get_webhook("wh_nope")
            assert (missing.value.status, missing.value.code) == (404, "not_found")
            with pytest.raises(Conflict) as builtin:
                await hl.create_event_type("user.created")
            assert builtin.value.code == "builtin_event_type"
            with pytest.raises(PayloadTooLarge):
                await hl.publish("user.created", {"blob": "x" * (256 * 1024)})
            with pytest.raises(Unprocessable) as refused:
                await hl.create_webhook(
                    "https://example.com/hook", ["user.created"], headers={"Host": "x"}
                )
            assert refused.value.code == "invalid_headers"
            assert refused.value.details["name"] == "Host"
            with pytest.raises(ServiceUnavailable) as unavailable:  # Temporal is away
                await hl.publish("user.created")
            assert unavailable.value.retry_after == 5 and unavailable.value.code
        async with asgi_client(down.app, "hl_not_a_token") as anonymous:
            with pytest.raises(Unauthorized):
                await anonymous.list_webhooks()
        async with asgi_client(down.app, reader.token) as read_only:
            with pytest.raises(Forbidden):
                await read_only.create_webhook("https://example.com/hook", ["user.created"])
    async with api(rate_limit="2/minute") as strict:
        async with asgi_client(strict.app, tenant.token, max_retry_time=5) as hl:
            await hl.list_webhooks()
            await hl.list_webhooks()
            with pytest.raises(RateLimited) as limited:
                await hl.list_webhooks()
            assert 1 <= (limited.value.retry_after or 0) <= 30


async def test_sync_errors_over_http(api, tenant) -> None:
    def work(url: str) -> list[type]:
        raised = []
        with Hookline(tenant.token, base_url=url, max_retry_time=5) as hl:
            for call in (
                lambda: hl.get_event("evt_nope"),
                lambda: hl.create_event_type("order.created", schema={"type": "nope"}),
                lambda: hl.list_webhooks(),
                lambda: hl.list_webhooks(),
            ):
                try:
                    call()
                except Exception as exc:
                    raised.append(type(exc))
        return raised

    async with api(rate_limit="3/minute") as strict, served(strict.app) as url:
        raised = await asyncio.to_thread(work, url)
    assert raised == [NotFound, Unprocessable, RateLimited]


# --------------------------------------------------------------------------- CRUD round trips


async def test_webhooks_crud_round_trip_async(client, tenant, receiver) -> None:
    async with asgi_client(client.app, tenant.token) as hl:
        created = await hl.create_webhook(
            receiver.url("/hook"),
            ["user.created", "user.created"],
            description="CRM sync",
            filter={"data.plan": "pro"},
            retry_policy={"max_attempts": 3},
            headers={"Authorization": "Bearer s3cr3t"},
            metadata={"team": "billing"},
        )
        assert created.events == ["user.created"] and created.status == "active"
        assert created.headers == {"Authorization": MASK}
        assert created.metadata == {"team": "billing"}
        assert created.retry_policy == {"max_attempts": 3}
        read = await hl.get_webhook(created.id)
        assert read.secret != created.secret and read.secret.startswith("whsec_")
        assert read.model_dump(exclude={"secret"}) == created.model_dump(exclude={"secret"})

        page = await hl.list_webhooks(metadata={"team": "billing"})
        assert [w.id for w in page.data] == [created.id] and page.data[0].secret is None
        assert (await hl.list_webhooks(metadata={"team": "ops"})).meta.total == 0

        updated = await hl.update_webhook(
            created.id, description=None, status="inactive", metadata={"team": "ops"}
        )
        assert (updated.description, updated.status, updated.filter) == (
            None,
            "inactive",
            {"data.plan": "pro"},
        )
        assert updated.headers == {"Authorization": MASK}  # not given: kept
        limited = await hl.update_webhook(
            created.id, max_in_flight=2, rate_limit=5, ordering="fifo"
        )
        assert (limited.max_in_flight, limited.rate_limit, limited.ordering) == (2, 5, "fifo")
        cleared = await hl.update_webhook(created.id, max_in_flight=None, rate_limit=None)
        assert (cleared.max_in_flight, cleared.rate_limit, cleared.ordering) == (None, None, "fifo")

        sent = await hl.test_webhook(created.id, "user.created")
        assert sent.success and sent.details.status_code == 200
        [got] = await receiver.wait_for(1, path="/hook")
        assert got.headers["authorization"] == "Bearer s3cr3t"
        assert Webhook(created.secret).verify(got.body, got.headers)["id"] == sent.details.event_id

        match = await hl.filter_test(created.id, "user.created", {"plan": "free"})
        assert match.matched is False and match.reasons

        await hl.delete_webhook(created.id)
        with pytest.raises(NotFound):
            await hl.get_webhook(created.id)


async def test_webhooks_crud_round_trip_sync(client, tenant, receiver) -> None:
    def work(url: str) -> None:
        with Hookline(tenant.token, base_url=url) as hl:
            created = hl.create_webhook(
                receiver.url("/hook"), ["user.*"], headers={"X-Customer": "acme"}
            )
            assert created.secret and created.headers == {"X-Customer": MASK}
            assert hl.get_webhook(created.id).url == receiver.url("/hook")
            updated = hl.update_webhook(created.id, events=["user.created"], headers=None)
            assert updated.events == ["user.created"] and updated.headers == {}
            assert updated.description is None and UNSET is not None
            rotated = hl.rotate_secret(created.id)
            assert rotated.id == created.id and rotated.secret != created.secret
            assert hl.test_webhook(created.id).success
            assert hl.list_webhooks(status="active").meta.total == 1
            hl.delete_webhook(created.id)
            try:
                hl.delete_webhook(created.id)
            except NotFound:
                return
            raise AssertionError("deleted twice")

    async with served(client.app) as url:
        await asyncio.to_thread(work, url)


async def test_event_types_round_trip(client, tenant) -> None:
    schema = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
    async with asgi_client(client.app, tenant.token) as hl:
        created = await hl.create_event_type(
            "order.created", description="An order", schema=schema, example={"id": "ord_1"}
        )
        assert (created.source, created.version, created.json_schema) == ("tenant", 1, schema)
        assert (await hl.get_event_type("order.created")).example == {"id": "ord_1"}
        builtin = await hl.get_event_type("user.created")
        assert builtin.source == "builtin" and builtin.category == "user"
        updated = await hl.update_event_type("order.created", schema=None)
        assert (updated.version, updated.json_schema, updated.description) == (
            2,
            None,
            "An order",
        )
        mine = await hl.list_event_types(category="order")
        assert [t.name for t in mine.data] == ["order.created"]
        await hl.archive_event_type("order.created")
        assert (await hl.list_event_types(category="order")).meta.total == 0
        archived = await hl.list_event_types(category="order", include_archived=True)
        assert archived.data[0].archived is True
        restored = await hl.restore_event_type("order.created")
        assert restored.archived is False
        with pytest.raises(NotFound):
            await hl.get_event_type("order.nope")

    def work(url: str) -> None:
        with Hookline(tenant.token, base_url=url) as hl:
            assert hl.create_event_type("invoice.paid").version == 1
            assert hl.update_event_type("invoice.paid", description="Paid").version == 2
            hl.archive_event_type("invoice.paid")
            assert hl.get_event_type("invoice.paid").archived

    async with served(client.app) as url:
        await asyncio.to_thread(work, url)
