"""The audit part's errors."""

from __future__ import annotations


class AuditError(Exception):
    """Base of every error raised by :mod:`audit`."""


class AuditUnavailable(AuditError):
    """The log could not commit an event durably (database down, timeout, writer stopped).

    Security decision: callers must fail closed on this error. The gateway answers 503 and
    releases no personal data when the evidence of the release cannot be written.
    """


class ProofError(AuditError):
    """A Merkle proof, a root, a tree size or a signed checkpoint failed verification."""
