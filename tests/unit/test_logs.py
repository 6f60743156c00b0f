from __future__ import annotations

import json
import logging

from hookline.infra.logs import JsonFormatter


def test_a_log_line_is_json_with_the_ids():
    record = logging.LogRecord(
        "hookline.delivery", logging.INFO, __file__, 1, "attempt %s", ("retry",), None
    )
    record.event_id, record.delivery_id, record.status_code = "evt_1", "dlv_1", 503
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "attempt retry"
    assert line["level"] == "info" and line["logger"] == "hookline.delivery"
    assert (line["event_id"], line["delivery_id"], line["status_code"]) == ("evt_1", "dlv_1", 503)
    assert "webhook_id" not in line  # absent fields are left out, not null


def test_exceptions_stay_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["exception"]
