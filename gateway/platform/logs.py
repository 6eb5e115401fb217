"""Structured JSON logs (structlog): request id, client, route, status, latency.

Logs never carry personal data: the access log records the route *template*
(``/v1/residents/{nik}``), never the path with the NIK in it, and no bodies or headers.
"""

from __future__ import annotations

import logging
import sys

import structlog

QUIET_LIBRARIES = ("httpx", "httpcore", "aiosqlite", "asyncpg", "sqlalchemy", "aiomysql", "urllib3")


def configure_logging(level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=numeric)
    # uvicorn's own access log prints the raw path, which can hold a NIK: ours replaces it.
    logging.getLogger("uvicorn.access").disabled = True
    # Libraries that log query parameters or URLs (NIKs) at DEBUG or INFO: httpx logs
    # every upstream request URL (``?nik=...``) at INFO, the database drivers their
    # parameters at DEBUG. They speak only of warnings and errors, whatever the level.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_StdoutLoggerFactory(),
        cache_logger_on_first_use=True,
    )


class _StdoutLogger:
    """Writes each rendered line to whatever ``sys.stdout`` is at that moment (a logger
    bound to the stream seen at start-up would write past a replaced stdout)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stdout, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class _StdoutLoggerFactory:
    def __call__(self, *args: object) -> _StdoutLogger:
        return _StdoutLogger()


def get_logger() -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger("satugate")
    return logger
