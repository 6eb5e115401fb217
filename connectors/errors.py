"""Errors raised by connectors and the federation.

Security decision: no error carries personal data. Messages name sources, fields and
reasons only, never a NIK, a name or a database message (drivers echo query parameters,
which are NIKs); the original driver exception is therefore not chained.
"""

from __future__ import annotations

__all__ = [
    "ConnectorError",
    "QueryNotSpecific",
    "SearchNotSupported",
    "SourceConfigError",
    "SourceUnavailable",
    "UnknownFields",
]


class ConnectorError(Exception):
    """Base class of the errors of this package."""


class SourceUnavailable(ConnectorError):
    """A source could not answer (down, timed out, circuit open, bad answer)."""

    def __init__(self, source: str, reason: str = "unavailable") -> None:
        super().__init__(f"source {source!r} {reason}")
        self.source = source
        self.reason = reason


class QueryNotSpecific(ConnectorError):
    """A search too unspecific to run: it would enumerate residents.

    Raised when the name carries nothing that singles a person out (only titles,
    Balinese birth-order or caste markers, very common parts), when no address element
    narrows the search to a region, or when too many residents of the block match.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SearchNotSupported(ConnectorError):
    """The source (or the whole federation) offers no search by name and address."""


class UnknownFields(ConnectorError):
    """Fields asked for that no configured source holds."""

    def __init__(self, fields: frozenset[str]) -> None:
        super().__init__("unknown fields: " + ", ".join(sorted(fields)))
        self.fields = fields


class SourceConfigError(ConnectorError):
    """The sources file is malformed or points at something unusable."""
