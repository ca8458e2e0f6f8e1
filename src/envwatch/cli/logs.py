"""Structured logs (setting ``log_format=json``): one JSON object per line, from the stdlib logging setup.

python-json-logger formats each record as ``{"timestamp", "level", "logger", "message", …}`` plus every
``extra={...}`` field the call passed (``log.info("...", extra={"mn": mn})``) and the traceback as
``exc_info`` when there is one.
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

FIELDS = "{levelname}{name}{message}"


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        FIELDS,
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,  # "timestamp": the record's time, ISO 8601 in UTC
        json_ensure_ascii=False,  # Chinese names stay readable in the collector
    )


def json_handler() -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter())
    return handler
