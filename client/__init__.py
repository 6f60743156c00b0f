"""hookline's Python client, for publishers: ``Hookline`` (sync) and ``AsyncHookline``.

    from hookline.client import Hookline, NotFound

    with Hookline("hl_…", base_url="https://hookline.example.com") as hl:
        event = hl.publish("user.created", {"id": "usr_1"})        # retried, idempotent
        hook = hl.create_webhook("https://example.com/hook", ["user.*"])
        hook.secret                                                 # whsec_…, this once

Every operation is written once, here, as a generator that builds its request, yields it (and
any wait between retries) and parses the answer; ``Hookline`` and ``AsyncHookline`` only differ
in how they run those steps (``_run``): ``httpx.Client`` and ``time.sleep``, or
``httpx.AsyncClient`` and ``asyncio.sleep``. ``_operation`` gives each class the operation
with its own signature (``T`` for one, ``Awaitable[T]`` for the other).

Retries: a 429 (refused before anything happened), a connection that could not be made (the
request never left), and, for requests that are safe to send twice (reads, ``PUT``,
``DELETE``, publishing: each publish carries an idempotency key, a UUID unless you give one,
the same on every retry), a 503 or a connection lost mid-request. ``Retry-After`` is honoured;
else the waits are 0.5 s, 1 s, 2 s … (8 s at most, jittered). At most ``max_attempts``
attempts, and none that would start after ``max_retry_time`` seconds: then the last error is
raised (``RateLimited.retry_after`` says what the API asked for).

The client imports no server code (``tests/unit/test_import_rules.py``: client/ imports only
core/). The client lives in this ``__init__`` because its modules may not import one another
through a package whose ``__init__`` imports them (an import circle, which the rules refuse):
``errors``, ``models`` and ``signatures`` import nothing of each other.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from hookline.client.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HooklineConnectionError,
    HooklineError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
    error_from_response,
)
from hookline.client.models import (
    Attempt,
    Delivery,
    Event,
    EventDetail,
    EventType,
    FilterTestResult,
    Job,
    Meta,
    NewEvent,
    Page,
    RedeliverResult,
    RotatedSecret,
    Stage,
    WebhookEndpoint,
    WebhookTestDetails,
    WebhookTestResult,
)
from hookline.client.signatures import InvalidSignature, Webhook, verify

__all__ = [
    "UNSET",
    "AsyncHookline",
    "Attempt",
    "BadRequest",
    "Conflict",
    "Delivery",
    "Event",
    "EventDetail",
    "EventType",
    "FilterTestResult",
    "Forbidden",
    "Hookline",
    "HooklineConnectionError",
    "HooklineError",
    "InvalidSignature",
    "Job",
    "Meta",
    "NewEvent",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "RateLimited",
    "RedeliverResult",
    "RotatedSecret",
    "ServiceUnavailable",
    "Stage",
    "Unauthorized",
    "Unprocessable",
    "Webhook",
    "WebhookEndpoint",
    "WebhookTestDetails",
    "WebhookTestResult",
    "verify",
]

API_PREFIX = "/api/v1"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
USER_AGENT = "hookline-python"
MAX_ATTEMPTS = 4
MAX_RETRY_TIME = 60.0  # seconds: no retry starts later than this after the first attempt
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 8.0

P = ParamSpec("P")
T = TypeVar("T")


class _Unset:
    """The value of an update's field that is not given (``None`` clears a field)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


# --------------------------------------------------------------------------- the steps


@dataclass(frozen=True)
class _Send:
    request: httpx.Request


@dataclass(frozen=True)
class _Sleep:
    seconds: float


# A call: yields what to do, is sent the response (or the transport error) of each _Send and
# None after each _Sleep, returns the parsed result.
_Call = Generator[_Send | _Sleep, httpx.Response | httpx.TransportError | None, T]


def _backoff(attempt: int) -> float:
    """The wait after attempt ``attempt`` (1-based) when the API named none: doubling,
    jittered down to half so that clients that failed together do not return together."""
    return min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _never_sent(exc: httpx.TransportError) -> bool:
    """The connection was never made: the server saw nothing, any request may go again."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _instant(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not UNSET}


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise HooklineError(
            f"the answer to {response.request.method} {response.request.url.path} is not JSON",
            status=response.status_code,
            code="unexpected_response",
        ) from exc


def _parse(response: httpx.Response, adapter: TypeAdapter[T], key: str | None = "data") -> T:
    body = _json(response)
    try:
        return adapter.validate_python(body[key] if key is not None else body)
    except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise HooklineError(
            f"unexpected answer to {response.request.method} {response.request.url.path}: {exc}",
            status=response.status_code,
            code="unexpected_response",
        ) from exc


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


# --------------------------------------------------------------------------- one definition


class _Operation(Generic[P, T]):
    """An operation written once as a generator method of ``_Client``; on ``Hookline`` it
    returns ``T``, on ``AsyncHookline`` an awaitable of ``T`` (type checkers see both)."""

    def __init__(self, fn: Callable[Concatenate[Any, P], _Call[T]]) -> None:
        self.fn = fn
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Operation[P, T]: ...
    @overload
    def __get__(self, obj: Hookline, owner: type | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, obj: AsyncHookline, owner: type | None = None
    ) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        fn = self.fn
        if isinstance(obj, AsyncHookline):

            @functools.wraps(fn)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                return await obj._run(fn(obj, *args, **kwargs))

            return call_async

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            return obj._run(fn(obj, *args, **kwargs))

        return call


_operation = _Operation


class _Client:
    """Request building, retries and parsing, shared by ``Hookline`` and ``AsyncHookline``."""

    _http: httpx.Client | httpx.AsyncClient

    def __init__(
        self,
        token: str,
        *,
        base_url: str,
        max_attempts: int,
        max_retry_time: float,
    ) -> None:
        if not token:
            raise ValueError("an API token is needed (hookline token create TENANT)")
        if max_attempts < 1:
            raise ValueError("max_attempts is at least 1")
        base = str(base_url).rstrip("/")
        self.base_url = base.removesuffix(API_PREFIX)
        self.max_attempts = max_attempts
        self.max_retry_time = float(max_retry_time)
        self._auth = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}

    # ----------------------------------------------------------------------- the one request

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        replayable: bool | None = None,
    ) -> _Call[httpx.Response]:
        """Send, retry what may be retried, and return a 2xx answer or raise its error.
        ``replayable``: safe to send twice (default: every method but POST)."""
        if replayable is None:
            replayable = method != "POST"
        if isinstance(params, Mapping):
            params = [(name, value) for name, value in params.items()]
        query = [(name, value) for name, value in params or [] if value is not None]
        request = self._http.build_request(
            method,
            self.base_url + API_PREFIX + path,
            params=query or None,
            json=json,
            headers={**self._auth, **(headers or {})},
        )
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            outcome = yield _Send(request)
            cause: BaseException | None = None
            if isinstance(outcome, httpx.Response):
                if outcome.status_code < 400:
                    return outcome
                error = error_from_response(
                    outcome.status_code,
                    {name.lower(): value for name, value in outcome.headers.items()},
                    outcome.content,
                )
                retry = outcome.status_code == 429 or (outcome.status_code == 503 and replayable)
                wait = getattr(error, "retry_after", None)
            else:
                assert isinstance(outcome, httpx.TransportError), outcome
                cause = outcome
                error = HooklineConnectionError(
                    f"{method} {request.url.path}: {type(outcome).__name__}: {outcome}",
                    code="connection_error",
                )
                retry = replayable or _never_sent(outcome)
                wait = None
            if wait is None:
                wait = _backoff(attempt)
            out_of_time = time.monotonic() - started + wait > self.max_retry_time
            if not retry or attempt >= self.max_attempts or out_of_time:
                raise error from cause
            yield _Sleep(wait)

    def _get(
        self, path: str, adapter: TypeAdapter[T], key: str | None = "data", **params: Any
    ) -> _Call[T]:
        """A read: the envelope's ``data`` (``key=None``: the whole body, as pages are)."""
        response = yield from self._request("GET", path, params=params)
        return _parse(response, adapter, key=key)

    # ----------------------------------------------------------------------- publish

    @_operation
    def publish(
        self,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        idempotency_key: str | None = None,
    ) -> _Call[Event]:
        """Publish one event. The idempotency key (``id``, else ``idempotency_key``, else a
        UUID made for this call) is sent with every retry, so the event is delivered once;
        ``Event.replayed`` says the API had it already."""
        if id is not None and idempotency_key is not None and id != idempotency_key:
            raise ValueError("give id or idempotency_key, not two different keys")
        key = id or idempotency_key or str(uuid.uuid4())
        body: dict[str, Any] = {"type": type, "data": dict(data or {})}
        if id is not None:
            body["id"] = id
        response = yield from self._request(
            "POST", "/events", json=body, headers={"Idempotency-Key": key}, replayable=True
        )
        event = _parse(response, _adapter(Event))
        event.replayed = response.headers.get("idempotent-replayed", "").lower() == "true"
        return event

    @_operation
    def publish_batch(self, events: Iterable[NewEvent | Mapping[str, Any]]) -> _Call[list[Event]]:
        """Publish up to 100 events at once (validated all or nothing). Each event without an
        ``id`` gets a UUID, the same on every retry of the batch."""
        items = [e if isinstance(e, NewEvent) else NewEvent.model_validate(e) for e in events]
        body = {
            "events": [
                {"type": e.type, "data": e.data, "id": e.id or str(uuid.uuid4())} for e in items
            ]
        }
        response = yield from self._request("POST", "/events/batch", json=body, replayable=True)
        return _parse(response, _adapter(list[Event]))

    # ----------------------------------------------------------------------- events

    @_operation
    def list_events(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        webhook_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> _Call[Page[Event]]:
        """The tenant's live events, newest first (``since`` inclusive, ``until`` not)."""
        return (
            yield from self._get(
                "/events",
                _adapter(Page[Event]),
                None,
                status=status,
                type=type,
                webhook_id=webhook_id,
                since=_instant(since),
                until=_instant(until),
                page=page,
                limit=limit,
            )
        )

    @_operation
    def get_event(self, event_id: str) -> _Call[EventDetail]:
        """An event with its stages, deliveries and every attempt."""
        return (yield from self._get(f"/events/{_segment(event_id)}", _adapter(EventDetail)))

    @_operation
    def redeliver(
        self, event_id: str, *, webhook_ids: list[str] | None = None
    ) -> _Call[RedeliverResult]:
        """Redeliver an event's failed deliveries (or those to ``webhook_ids``)."""
        body = {"webhook_ids": webhook_ids} if webhook_ids is not None else None
        response = yield from self._request(
            "POST", f"/events/{_segment(event_id)}/redeliver", json=body
        )
        return _redelivered(response)

    @_operation
    def redeliver_failed(
        self,
        *,
        webhook_id: str | None = None,
        type: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> _Call[Job]:
        """Redeliver every failed delivery of the tenant's live events matching the filters:
        a job, answered at once (follow it with `get_job`). The client's idempotency key makes
        its own retries one job."""
        body = {
            "webhook_id": webhook_id,
            "type": type,
            "since": _instant(since),
            "until": _instant(until),
        }
        body = {name: value for name, value in body.items() if value is not None}
        response = yield from self._request(
            "POST",
            "/events/redeliver",
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4())},
            replayable=True,  # the key makes a repeated request the same job
        )
        return _parse(response, _adapter(Job))

    @_operation
    def get_job(self, job_id: str) -> _Call[Job]:
        response = yield from self._request("GET", f"/jobs/{_segment(job_id)}")
        return _parse(response, _adapter(Job))

    @_operation
    def cancel_job(self, job_id: str) -> _Call[Job]:
        response = yield from self._request("POST", f"/jobs/{_segment(job_id)}/cancel")
        return _parse(response, _adapter(Job))

    # ----------------------------------------------------------------------- webhooks

    @_operation
    def list_webhooks(
        self,
        *,
        status: str | None = None,
        event: str | None = None,
        metadata: Mapping[str, str] | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> _Call[Page[WebhookEndpoint]]:
        """The tenant's webhooks; ``metadata`` keeps those with every one of these pairs."""
        params: list[tuple[str, Any]] = [
            ("status", status),
            ("event", event),
            ("page", page),
            ("limit", limit),
        ]
        params += [(f"metadata[{key}]", value) for key, value in (metadata or {}).items()]
        response = yield from self._request("GET", "/webhooks", params=params)
        return _parse(response, _adapter(Page[WebhookEndpoint]), key=None)

    @_operation
    def get_webhook(self, webhook_id: str) -> _Call[WebhookEndpoint]:
        path = f"/webhooks/{_segment(webhook_id)}"
        return (yield from self._get(path, _adapter(WebhookEndpoint)))

    @_operation
    def create_webhook(
        self,
        url: str,
        events: list[str],
        *,
        description: str | None = None,
        filter: Mapping[str, Any] | None = None,
        retry_policy: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> _Call[WebhookEndpoint]:
        """A new webhook; its ``secret`` is whole in this answer only. Not retried after the
        request may have reached the API (a retry could create a second webhook)."""
        body = {
            "url": url,
            "events": list(events),
            "description": description,
            "filter": filter,
            "retry_policy": retry_policy,
            "headers": headers,
            "metadata": metadata,
        }
        body = {name: value for name, value in body.items() if value is not None}
        response = yield from self._request("POST", "/webhooks", json=body)
        return _parse(response, _adapter(WebhookEndpoint))

    @_operation
    def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str = UNSET,
        events: list[str] = UNSET,
        status: str = UNSET,
        description: str | None = UNSET,
        filter: Mapping[str, Any] | None = UNSET,
        retry_policy: Mapping[str, Any] | None = UNSET,
        headers: Mapping[str, str] | None = UNSET,
        metadata: Mapping[str, str] | None = UNSET,
    ) -> _Call[WebhookEndpoint]:
        """Change only the fields given; ``None`` clears description, filter, retry_policy,
        headers, metadata. ``headers`` and ``metadata`` replace the whole map (a header value
        given as the mask ``••••••••`` keeps the value it has)."""
        body = _given(
            url=url,
            events=events,
            status=status,
            description=description,
            filter=filter,
            retry_policy=retry_policy,
            headers=headers,
            metadata=metadata,
        )
        response = yield from self._request("PUT", f"/webhooks/{_segment(webhook_id)}", json=body)
        return _parse(response, _adapter(WebhookEndpoint))

    @_operation
    def delete_webhook(self, webhook_id: str) -> _Call[None]:
        yield from self._request("DELETE", f"/webhooks/{_segment(webhook_id)}")

    @_operation
    def rotate_secret(
        self, webhook_id: str, *, grace_period: int | None = None
    ) -> _Call[RotatedSecret]:
        """A new signing secret (whole in this answer only); the old one keeps signing beside
        it for ``grace_period`` seconds (default: the server's, 24 h)."""
        body = {"grace_period": grace_period} if grace_period is not None else None
        response = yield from self._request(
            "POST", f"/webhooks/{_segment(webhook_id)}/rotate-secret", json=body
        )
        return _parse(response, _adapter(RotatedSecret))

    @_operation
    def test_webhook(
        self,
        webhook_id: str,
        event: str = "webhook.test",
        data: Mapping[str, Any] | None = None,
    ) -> _Call[WebhookTestResult]:
        """Sign and send a sample event now; a failed send is ``success=False``."""
        body: dict[str, Any] = {"event": event}
        if data is not None:
            body["data"] = dict(data)
        response = yield from self._request(
            "POST", f"/webhooks/{_segment(webhook_id)}/test", json=body
        )
        return _parse(response, _adapter(WebhookTestResult), key=None)

    @_operation
    def filter_test(
        self,
        webhook_id: str,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
    ) -> _Call[FilterTestResult]:
        """Would this webhook receive such an event (with its filter, or ``filter``)?"""
        body: dict[str, Any] = {"event": {"type": type, "data": dict(data or {})}}
        if filter is not None:
            body["filter"] = dict(filter)
        response = yield from self._request(
            "POST", f"/webhooks/{_segment(webhook_id)}/filter-test", json=body, replayable=True
        )
        return _parse(response, _adapter(FilterTestResult))

    # ----------------------------------------------------------------------- event types

    @_operation
    def list_event_types(
        self,
        *,
        category: str | None = None,
        include_archived: bool = False,
        page: int = 1,
        limit: int = 20,
    ) -> _Call[Page[EventType]]:
        """The built-in catalog and the tenant's own types, sorted by name."""
        return (
            yield from self._get(
                "/event-types",
                _adapter(Page[EventType]),
                None,
                category=category,
                include_archived="true" if include_archived else None,
                page=page,
                limit=limit,
            )
        )

    @_operation
    def get_event_type(self, name: str) -> _Call[EventType]:
        return (yield from self._get(f"/event-types/{_segment(name)}", _adapter(EventType)))

    @_operation
    def create_event_type(
        self,
        name: str,
        *,
        description: str = "",
        schema: Mapping[str, Any] | None = None,
        example: Mapping[str, Any] | None = None,
    ) -> _Call[EventType]:
        """A type of the tenant's own, with an optional JSON Schema (2020-12) of its data."""
        body: dict[str, Any] = {"name": name, "description": description}
        if schema is not None:
            body["schema"] = schema
        if example is not None:
            body["example"] = example
        response = yield from self._request("POST", "/event-types", json=body)
        return _parse(response, _adapter(EventType))

    @_operation
    def update_event_type(
        self,
        name: str,
        *,
        description: str = UNSET,
        schema: Mapping[str, Any] | None = UNSET,
        example: Mapping[str, Any] | None = UNSET,
    ) -> _Call[EventType]:
        """Change the fields given (``None`` clears schema or example); ``version`` + 1."""
        body = _given(description=description, schema=schema, example=example)
        response = yield from self._request("PUT", f"/event-types/{_segment(name)}", json=body)
        return _parse(response, _adapter(EventType))

    @_operation
    def archive_event_type(self, name: str) -> _Call[None]:
        """Archive a type: no new subscription, no publish; its events keep their history."""
        yield from self._request("DELETE", f"/event-types/{_segment(name)}")

    @_operation
    def restore_event_type(self, name: str) -> _Call[EventType]:
        """Bring an archived type back."""
        response = yield from self._request(
            "PUT", f"/event-types/{_segment(name)}", json={"archived": False}
        )
        return _parse(response, _adapter(EventType))


def _redelivered(response: httpx.Response) -> RedeliverResult:
    result = _parse(response, _adapter(RedeliverResult))
    result.message = str(_json(response).get("message", ""))
    return result


# --------------------------------------------------------------------------- the two runners


class Hookline(_Client):
    """The synchronous client. ``token``: an API token (``hookline token create``);
    ``base_url``: the API's address (without ``/api/v1``). Pass ``http_client`` to use your
    own ``httpx.Client`` (it is then yours to close), or ``transport`` for a custom one."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = 30.0,
        max_attempts: int = MAX_ATTEMPTS,
        max_retry_time: float = MAX_RETRY_TIME,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            token, base_url=base_url, max_attempts=max_attempts, max_retry_time=max_retry_time
        )
        self._owned = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, transport=transport)

    def _run(self, call: _Call[T]) -> T:
        http = self._http
        assert isinstance(http, httpx.Client)
        outcome: httpx.Response | httpx.TransportError | None = None
        try:
            step = next(call)
            while True:
                if isinstance(step, _Sleep):
                    time.sleep(step.seconds)
                    outcome = None
                else:
                    try:
                        outcome = http.send(step.request)
                    except httpx.TransportError as exc:
                        outcome = exc
                step = call.send(outcome)
        except StopIteration as done:
            return done.value

    def close(self) -> None:
        if self._owned:
            self._http.close()  # type: ignore[union-attr]

    def __enter__(self) -> Hookline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncHookline(_Client):
    """The asynchronous client: the same operations as ``Hookline``, each awaited."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = 30.0,
        max_attempts: int = MAX_ATTEMPTS,
        max_retry_time: float = MAX_RETRY_TIME,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            token, base_url=base_url, max_attempts=max_attempts, max_retry_time=max_retry_time
        )
        self._owned = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout, transport=transport)

    async def _run(self, call: _Call[T]) -> T:
        http = self._http
        assert isinstance(http, httpx.AsyncClient)
        outcome: httpx.Response | httpx.TransportError | None = None
        try:
            step = next(call)
            while True:
                if isinstance(step, _Sleep):
                    await asyncio.sleep(step.seconds)
                    outcome = None
                else:
                    try:
                        outcome = await http.send(step.request)
                    except httpx.TransportError as exc:
                        outcome = exc
                step = call.send(outcome)
        except StopIteration as done:
            return done.value

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()  # type: ignore[union-attr]

    async def __aenter__(self) -> AsyncHookline:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
