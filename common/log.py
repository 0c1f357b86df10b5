"""Structured logging: one JSON line per event on stderr (structlog)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def setup(service: str, debug: bool = False) -> None:
    """Configure structlog for a service process."""
    level = logging.DEBUG if debug else logging.INFO
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get(name: str | None = None, **kw: Any) -> Any:
    """A bound logger; `name` becomes the `logger` field."""
    log = structlog.get_logger()
    if name:
        log = log.bind(logger=name)
    return log.bind(**kw) if kw else log
