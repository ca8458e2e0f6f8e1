"""Structured logs (setting ``log_format``; cli.logs): every line a JSON object with the time, level,
logger, message and the call's extra fields; text stays the default."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime

from envwatch.cli.logs import json_formatter

SCRIPT = """
import logging
from envwatch.cli.common import _logging
_logging()
log = logging.getLogger("envwatch.gateway")
log.info("device %s online", "010000A8900016F000169DC0", extra={"mn": "010000A8900016F000169DC0", "port": 8212})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("废气排放口 round failed")
"""


def run(log_format: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVWATCH_")}
    if log_format:
        env["ENVWATCH_LOG_FORMAT"] = log_format
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stderr.strip().splitlines()


def test_json_lines_parse_with_time_level_logger_message_and_extra_fields() -> None:
    lines = run("json")
    first = json.loads(lines[0])
    assert first["level"] == "INFO" and first["logger"] == "envwatch.gateway"
    assert first["message"] == "device 010000A8900016F000169DC0 online"
    assert first["mn"] == "010000A8900016F000169DC0" and first["port"] == 8212
    stamp = datetime.fromisoformat(first["timestamp"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    second = json.loads("\n".join(lines[1:]))  # one object, the traceback inside it
    assert second["level"] == "ERROR" and second["message"] == "废气排放口 round failed"
    assert "ZeroDivisionError" in second["exc_info"]


def test_text_is_the_default() -> None:
    line = run(None)[0]
    assert " INFO envwatch.gateway: device 010000A8900016F000169DC0 online" in line
    assert not line.startswith("{")


def test_the_formatter_keeps_chinese_readable() -> None:
    record = logging.LogRecord("envwatch.x", logging.WARNING, __file__, 1, "污水总排 %d", (3,), None)
    data = json.loads(json_formatter().format(record))
    assert data["message"] == "污水总排 3" and data["level"] == "WARNING"
    assert "污水总排" in json_formatter().format(record)
