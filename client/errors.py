"""What the client raises: one class per error status of the API, each carrying the API's
error shape (``{"error": {"code", "message", "details"}}``).

    try:
        hl.get_webhook("wh_nope")
    except NotFound as exc:
        exc.status, exc.code, exc.message, exc.details   # 404, "not_found", "webhook …", None
    except HooklineError:
        ...                                              # every other failure of a call
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "HooklineConnectionError",
    "HooklineError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthorized",
    "Unprocessable",
    "error_from_response",
    "parse_retry_after",
]


class HooklineError(Exception):
    """A call that failed. ``status`` is the HTTP status (``None`` when no answer came back);
    ``code``, ``message`` and ``details`` are the API's error object as it sent them."""

    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "error",
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}  # the answer's headers (lower-case names)

    def __str__(self) -> str:
        where = f"{self.status} " if self.status is not None else ""
        return f"{where}{self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, details={self.details!r})"
        )


class HooklineConnectionError(HooklineError):
    """No answer: the connection failed or timed out (after the client's own retries). The
    httpx exception is the ``__cause__``."""


class BadRequest(HooklineError):
    status = 400


class Unauthorized(HooklineError):
    status = 401


class Forbidden(HooklineError):
    status = 403


class NotFound(HooklineError):
    status = 404


class Conflict(HooklineError):
    status = 409


class PayloadTooLarge(HooklineError):
    status = 413


class Unprocessable(HooklineError):
    status = 422


class _RetryAfter(HooklineError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after  # seconds the API asked to wait (Retry-After), if any


class RateLimited(_RetryAfter):
    """429: the token's rate limit. ``retry_after`` is in seconds."""

    status = 429


class ServiceUnavailable(_RetryAfter):
    """503: e.g. the delivery engine is away. ``retry_after`` is in seconds."""

    status = 503


BY_STATUS: dict[int, type[HooklineError]] = {
    cls.status: cls  # type: ignore[misc]
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        Unprocessable,
        RateLimited,
        ServiceUnavailable,
    )
}


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds from now: delta-seconds or an HTTP date; ``None`` when absent
    or unreadable; never negative."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def error_from_response(status: int, headers: dict[str, str], body: bytes) -> HooklineError:
    """The exception for an error answer: the API's error shape when the body has it, else
    (a proxy's page, say) the status with the start of the body as the message."""
    code, message, details = f"http_{status}", "", None
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or code)
        message = str(error.get("message") or "")
        details = error.get("details")
    else:
        message = body[:200].decode("utf-8", errors="replace").strip()
    message = message or f"HTTP {status}"
    cls = BY_STATUS.get(status, HooklineError)
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "details": details,
        "headers": headers,
    }
    if issubclass(cls, _RetryAfter):
        kwargs["retry_after"] = parse_retry_after(headers.get("retry-after"))
    return cls(message, **kwargs)
