"""Reading the console's HTML forms into the API's request models, and their errors."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from hookline.api.errors import ApiError


class FormError(ValueError):
    pass


def event_list(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text.strip()) if part]


def json_object(text: str, field: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormError(f"{field} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(value, dict):
        raise FormError(f"{field} must be a JSON object")
    return value


def message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'form'}: {err['msg']}"
            for err in exc.errors()
        )
    if isinstance(exc, ApiError):
        return exc.message
    return str(exc)


def form_of(webhook: Any) -> dict[str, str]:
    return {
        "url": webhook.url,
        "events": ", ".join(webhook.events),
        "description": webhook.description or "",
        "filter": json.dumps(webhook.filter, indent=2) if webhook.filter else "",
    }
