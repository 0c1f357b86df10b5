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


class _Lazy:
    """A logger that takes structlog's configuration when it logs, not when it is made."""

    __slots__ = ("_context",)

    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context

    def bind(self, **kw: Any) -> _Lazy:
        return _Lazy({**self._context, **kw})

    def __getattr__(self, name: str) -> Any:
        return getattr(structlog.get_logger().bind(**self._context), name)


def get(name: str | None = None, **kw: Any) -> Any:
    """A logger; `name` becomes the `logger` field.

    Lazy: one made at module level, before setup() runs, still logs the way
    setup() configured.
    """
    if name:
        kw["logger"] = name
    return _Lazy(kw)
