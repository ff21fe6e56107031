"""LOG_FORMAT=json: one object per line, with only the fields known to be safe."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import JsonFormatter


def test_json_lines_carry_the_message_and_safe_fields_only() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("grassroots.test.jsonlog")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning(
            "job %s done: %d", "daily_digest", 3, extra={"job": "daily_digest", "text": "Tên tôi"}
        )
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("đã lỗi")
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "job daily_digest done: 3" and first["job"] == "daily_digest"
    assert first["level"] == "WARNING" and first["logger"] == "grassroots.test.jsonlog"
    assert first["time"].endswith("+00:00")
    assert "text" not in first and "Tên tôi" not in stream.getvalue()  # not a known-safe field
    assert second["message"] == "đã lỗi" and "ValueError: boom" in second["exception"]
