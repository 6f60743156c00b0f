"""The API's HTTP connections: uvicorn's h11 protocol with a bound on the wait for a request's
head (README, "Connections").

uvicorn times out an idle kept-alive connection but not one that sends nothing, or dribbles its
request line and headers a byte at a time (uvicorn#157): a few such sockets would hold every
connection slot. h11 still parses every byte; this only adds a timer, armed whenever the
connection waits for a head (opened, or a response finished) and cleared once h11 has one.
A connection whose head is still incomplete when the timer fires is closed, as nginx's
`client_header_timeout` does, with no answer: the client has not said what it asked.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from hookline.infra.config import get_settings


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection that has not sent a whole request head
    within `HOOKLINE_REQUEST_HEAD_TIMEOUT` of the server starting to wait for one.

    A class of this module, its bound read from the environment's settings as each process's
    app is (`app_from_env`): with `--processes N`, uvicorn hands the class to processes it
    spawns, by name."""

    _head_timer: asyncio.TimerHandle | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = get_settings().request_head_timeout.total_seconds()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._clear_head_timer()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        return self.conn.their_state is h11.IDLE and not self.transport.is_closing()

    def _watch_head(self) -> None:
        if not self._waiting_for_head():
            self._clear_head_timer()
        elif self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _clear_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._waiting_for_head():
            self.transport.close()
