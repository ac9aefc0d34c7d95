"""Logs: JSON lines for collectors, or readable lines for a person at a terminal.

``NOX_LOG_FORMAT=auto`` (the default) writes human lines when stderr is a terminal and JSON
otherwise, so containers, CI and log collectors always get JSON. Both carry the request id.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from app.observability.context import request_id_var
from app.settings import LogFormat

# color_message: uvicorn's ANSI-coloured copy of the message, noise in either format
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class HumanFormatter(logging.Formatter):
    """``12:03:04.567 INFO  app.sandbox  message  key=value … [request id]``"""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        line = f"{when} {record.levelname:<7} {record.name}  {record.getMessage()}"
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        if extras:
            line += f"  {extras}"
        request_id = request_id_var.get()
        if request_id:
            line += f"  [{request_id[:8]}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def formatter_for(fmt: LogFormat, stream: Any) -> logging.Formatter:
    if fmt is LogFormat.auto:
        fmt = LogFormat.human if getattr(stream, "isatty", lambda: False)() else LogFormat.json
    return HumanFormatter() if fmt is LogFormat.human else JsonFormatter()


def configure_logging(level: str = "INFO", fmt: LogFormat = LogFormat.auto) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(fmt, sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs each request
