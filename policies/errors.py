"""Errors raised by the policy engine.

None of these messages ever carries a NIK, a name, a key or any other personal value:
they name rules, fields, files and lines only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BundleIssue:
    """One problem found in a bundle, located by file and line (1-based)."""

    file: str
    line: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


class PolicyError(Exception):
    """Base class of every error raised by ``policies``."""


class BundleError(PolicyError):
    """A bundle that cannot be loaded or compiled; the message names ``file:line``."""

    def __init__(self, issues: list[BundleIssue] | str) -> None:
        if isinstance(issues, str):
            issues = [BundleIssue("<bundle>", 0, issues)]
        self.issues: tuple[BundleIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class RowFiltered(PolicyError):
    """The record lies outside the decision's jurisdiction or row filter."""


class SpecificDataDenied(PolicyError):
    """Releasing this record would reveal specific data (UU PDP Pasal 4) no grant names.

    Raised, for example, for a child's record when not every grant behind the decision
    explicitly allows children's data.
    """


class PseudonymError(PolicyError):
    """A pseudonym that cannot be resolved. Messages never reveal the underlying value."""


class MalformedPseudonym(PseudonymError):
    """The token does not have the shape of a satugate pseudonym."""


class RetiredKeyVersion(PseudonymError):
    """The token was made with a key version that has been retired."""


class ForeignPseudonym(PseudonymError):
    """The token belongs to another domain or was tampered with.

    Security: both cases raise this same error with the same message, so that a caller
    cannot learn whether a token is genuine for someone else, let alone whose it is.
    """


class LegacyPseudonym(PseudonymError):
    """A token of the first format (``ps1``), which did not say which field it stands
    for: refused, since a family-card token could pass for a NIK token."""
