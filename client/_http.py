"""What every operation of the client shares: the request steps an operation yields, one
request with its retries (``_Client._request``), parsing the answers, and ``_operation``,
which gives each operation its sync or async signature. The operations are in ``_events``,
``_webhooks`` and ``_event_types``; ``Hookline`` and ``AsyncHookline`` in ``_runners``.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from hookline.client.errors import (
    BadRequest,
    HooklineConnectionError,
    HooklineError,
    error_from_response,
)

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


class _Synchronous(Protocol):
    """``Hookline`` as the overloads below see it: naming the class would import ``_runners``,
    which imports this module."""

    def close(self) -> None: ...


class _Asynchronous(Protocol):
    """``AsyncHookline`` as the overloads below see it."""

    async def aclose(self) -> None: ...


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
    def __get__(self, obj: _Synchronous, owner: type | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, obj: _Asynchronous, owner: type | None = None
    ) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        fn = self.fn
        if obj._asynchronous:

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
    # True on AsyncHookline: its operations return awaitables (_Operation.__get__).
    _asynchronous: ClassVar[bool] = False

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
        try:
            request = self._http.build_request(
                method,
                self.base_url + API_PREFIX + path,
                params=query or None,
                json=json,
                headers={**self._auth, **(headers or {})},
            )
        except (TypeError, ValueError) as exc:
            # NaN, Infinity, a datetime or a set in the data: the API would answer 400 (it
            # takes standard JSON only); say so before sending, as the same error.
            raise BadRequest(
                f"the request body cannot be sent as JSON: {exc}",
                code="json_syntax",
                details={"limit": "json_syntax"},
            ) from exc
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
