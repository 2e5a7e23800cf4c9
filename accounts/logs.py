"""Structured logs: one JSON object per line carrying the request id, the Celery task id and
the acting user of whatever wrote the line (docs/decisions/0025-operability.md).

The context lives in context variables, set by ``accounts.middleware.RequestContextMiddleware``
(request id, staff user), by the API's token authentication (``api:<client>``) and by Celery's
task signals (``config/celery_app.py``); ``ContextFilter`` copies it onto every record, and
``JsonFormatter`` writes the record."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_FIELDS = ("request_id", "task_id", "task", "user")
_CONTEXT: dict[str, ContextVar[str]] = {name: ContextVar(f"tally_log_{name}", default="") for name in _FIELDS}
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", *_FIELDS}


def bind(**values: str) -> None:
    """Set context fields (``request_id``, ``task_id``, ``task``, ``user``) for what follows."""
    for name, value in values.items():
        _CONTEXT[name].set(value)


def current(name: str) -> str:
    return _CONTEXT[name].get()


def clear() -> None:
    for var in _CONTEXT.values():
        var.set("")


class ContextFilter(logging.Filter):
    """Copies the context onto the record (``%(request_id)s`` etc. in a plain format too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT.items():
            if not getattr(record, name, ""):
                setattr(record, name, var.get() or "-")
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, "") or _CONTEXT[name].get()
            if value and value != "-":
                body[name] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)
