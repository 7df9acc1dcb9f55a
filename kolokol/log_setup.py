"""Structured logs: one JSON object per line (key=value on a terminal), secrets redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_SECRET_KEY = re.compile(r"secret|password|token|salt|api_key|authorization", re.IGNORECASE)
# AMI actions and URLs may carry a secret inside a longer string.
_SECRET_TEXT = re.compile(r"(?i)((?:secret|password|token|salt)\s*[:=]\s*)([^\s,;&\"']+)")


def redact(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEY.search(key):
        return "**********"
    if isinstance(value, str):
        return _SECRET_TEXT.sub(r"\1**********", value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "event": redact(record.getMessage()),
    }
    for key, value in vars(record).items():
        if key not in _STANDARD:
            fields[key] = redact(
                value if isinstance(value, str | int | float | bool | None) else str(value), key
            )
    if record.exc_info:
        fields["exception"] = redact(logging.Formatter().formatException(record.exc_info))
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        head = f"{fields.pop('ts')} {fields.pop('level'):7} {fields.pop('event')}"
        fields.pop("logger")
        tail = " ".join(f"{k}={v}" for k, v in fields.items() if k != "exception")
        text = f"{head} {tail}".rstrip()
        return text + ("\n" + fields["exception"] if "exception" in fields else "")


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic narrates every plugin and migration step at INFO; only its problems matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # websockets logs every feed connection's opening and closing at INFO: a clinic's consoles
    # reconnecting all day would drown everything else. Its warnings and errors still show; kolokol
    # logs the feed's own events (a client closed for a reason) itself.
    logging.getLogger("websockets").setLevel(logging.WARNING)
