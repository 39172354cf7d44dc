"""structlog set-up: JSON lines in production, a readable console in development.

Log lines carry request ids, routes, hosts, statuses, durations and token counts; never a
credential, prompt or completion text.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, Literal

import msgspec
import structlog

__all__ = ["configure_logging", "get_logger", "redacted_body"]

_SECRET_KEY = re.compile(r"(api[-_]?key|token|secret|password|authorization|signature)", re.I)
_MAX_TEXT = 120


def configure_logging(
    fmt: Literal["json", "console"] = "json", level: str = "info", stream: Any = None
) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stdout),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str = "llmproxy") -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger


def _redact(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, key) for v in value]
    if isinstance(value, str):
        if _SECRET_KEY.search(key):
            return "[redacted]"
        if value.startswith("data:") or key in ("data", "encrypted_content", "file_data"):
            return f"[{len(value)} chars]"
        if len(value) > _MAX_TEXT:
            return value[:_MAX_TEXT] + f"... [{len(value)} chars]"
    return value


def redacted_body(body: bytes) -> Any:
    """A request body for a debug log line: secrets replaced, long text cut, media elided.

    Only logged when the operator asks for bodies (``log_bodies``); prompts are user data.
    """
    try:
        return _redact(msgspec.json.decode(body))
    except msgspec.DecodeError:
        return f"[{len(body)} bytes, not JSON]"
