"""Reading the console's HTML forms into the API's request models, and their errors."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from hookline.api.errors import ApiError
from hookline.core import jsonlimits


class FormError(ValueError):
    pass


def event_list(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text.strip()) if part]


def json_object(text: str, field: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:  # the API's one parser and its limits (core/jsonlimits.py), as for a JSON body
        value = jsonlimits.parse(text)
    except jsonlimits.JsonLimitError as exc:
        problem = "is not valid JSON" if exc.limit == jsonlimits.SYNTAX else "is not accepted"
        raise FormError(f"{field} {problem}: {exc.message}") from None
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
