"""``Hookline`` and ``AsyncHookline``: every operation, each run by its own runner (``_run``):
``httpx.Client`` and ``time.sleep``, or ``httpx.AsyncClient`` and ``asyncio.sleep``."""

from __future__ import annotations

import asyncio
import time

import httpx

from hookline.client._event_types import _EventTypeOperations
from hookline.client._events import _EventOperations
from hookline.client._http import (
    DEFAULT_BASE_URL,
    MAX_ATTEMPTS,
    MAX_RETRY_TIME,
    T,
    _Call,
    _Sleep,
)
from hookline.client._webhooks import _WebhookOperations


class _Operations(_EventOperations, _WebhookOperations, _EventTypeOperations):
    """Every operation, written once (``_events``, ``_webhooks``, ``_event_types``)."""


class Hookline(_Operations):
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


class AsyncHookline(_Operations):
    """The asynchronous client: the same operations as ``Hookline``, each awaited."""

    _asynchronous = True

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
