"""Values the audit log hands out: receipts, proofs, queries, pages, alerts."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from audit.merkle import verify_consistency, verify_inclusion


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where an appended event sits: its id and its leaf index in the tree."""

    event_id: str
    leaf_index: int

    def to_dict(self) -> dict[str, object]:
        return {"event_id": self.event_id, "leaf_index": self.leaf_index}


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 inclusion proof of one leaf in a tree of ``tree_size`` leaves."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    audit_path: tuple[bytes, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": b64(self.leaf_hash),
            "audit_path": [b64(h) for h in self.audit_path],
        }

    def verify(self, root: bytes) -> None:
        """Raise :class:`~audit.errors.ProofError` unless the proof leads to ``root``."""
        verify_inclusion(self.leaf_hash, self.leaf_index, self.tree_size, self.audit_path, root)


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 9162 consistency proof: the tree of ``second`` leaves extends that of ``first``."""

    first: int
    second: int
    proof: tuple[bytes, ...]

    def to_dict(self) -> dict[str, object]:
        return {"first": self.first, "second": self.second, "proof": [b64(h) for h in self.proof]}

    def verify(self, first_root: bytes, second_root: bytes) -> None:
        """Raise :class:`~audit.errors.ProofError` unless the proof links the two roots."""
        verify_consistency(self.first, self.second, self.proof, first_root, second_root)


@dataclass(frozen=True, slots=True)
class EventQuery:
    """An auditor's search. Filters combine with AND; results run newest first.

    ``subject_nik`` is a clear NIK: the log turns it into the blind index and never stores
    or logs it. ``time_from`` is inclusive, ``time_to`` exclusive. ``cursor`` is the
    ``next_cursor`` of the previous page.
    """

    agency: str | None = None
    officer: str | None = None
    subject_nik: str | None = field(default=None, repr=False)
    purpose: str | None = None
    decision: str | None = None
    action: str | None = None
    time_from: datetime | str | None = None
    time_to: datetime | str | None = None
    cursor: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events (each the stored event plus its ``leaf_index``)."""

    events: list[dict[str, Any]]
    next_cursor: str | None

    def to_dict(self) -> dict[str, object]:
        return {"events": self.events, "next_cursor": self.next_cursor}


@dataclass(frozen=True, slots=True)
class Alert:
    """A snooping flag: a pattern in one officer's lookups that an auditor should review.

    ``kind`` is one of ``volume`` (far above the officer's peers in the same agency),
    ``off_hours`` (lookups outside office hours), ``flagged_subject`` (repeated lookups of a
    resident flagged as sensitive) and ``family_card`` (lookups of residents on the
    officer's own family card). ``leaf_indexes`` are the evidence, checkable with proofs.
    """

    kind: str
    agency: str
    officer: str
    count: int
    first_time: str
    last_time: str
    detail: str
    leaf_indexes: tuple[int, ...]
    # The figures behind ``detail`` (e.g. ``count`` and ``median``), so that a reader can
    # word the alert in its own language.
    facts: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "agency": self.agency,
            "officer": self.officer,
            "count": self.count,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "detail": self.detail,
            "leaf_indexes": list(self.leaf_indexes),
            "facts": dict(self.facts),
        }
