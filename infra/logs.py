"""Structured JSON logs: one object per line, with the ids an operator searches by."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

# Fields callers pass with `extra=` that belong in the JSON line.
FIELDS = (
    "event_id",
    "delivery_id",
    "webhook_id",
    "tenant_id",
    "event_type",
    "attempt",
    "series",
    "trigger",
    "status_code",
    "outcome",
    "duration_ms",
    "error",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure(level: str = "INFO") -> None:
    """JSON on stderr for the whole process (our loggers, Temporal's, uvicorn's)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
