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

Where it is: ``_http`` (the steps, the one request and its retries, parsing, ``_operation``),
``_events``, ``_webhooks`` and ``_event_types`` (the operations, by resource), ``_runners``
(``Hookline`` and ``AsyncHookline``), ``errors``, ``models``, ``signatures``. This module only
re-exports the public names. The client imports no server code
(``tests/unit/test_import_rules.py``: client/ imports only core/).
"""

from __future__ import annotations

# Importable from here before the split though not in __all__: they still are.
from hookline.client._http import API_PREFIX as API_PREFIX
from hookline.client._http import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from hookline.client._http import FIRST_BACKOFF as FIRST_BACKOFF
from hookline.client._http import MAX_ATTEMPTS as MAX_ATTEMPTS
from hookline.client._http import MAX_BACKOFF as MAX_BACKOFF
from hookline.client._http import MAX_RETRY_TIME as MAX_RETRY_TIME
from hookline.client._http import UNSET
from hookline.client._http import USER_AGENT as USER_AGENT
from hookline.client._runners import AsyncHookline, Hookline
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
)
from hookline.client.errors import error_from_response as error_from_response
from hookline.client.models import (
    Attempt,
    Circuit,
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
    "Circuit",
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
