"""Requests and decisions: the values that cross the boundary of ``decide()``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from policies.model import Rates
from policies.rowfilter import RowFilter
from policies.treatment import Treatment

Action = Literal["read", "search", "batch", "resolve"]


@dataclass(frozen=True)
class AccessRequest:
    """What an agency asks: ``fields=None`` means everything its grants allow."""

    agency: str
    purpose: str
    action: Action
    fields: tuple[str, ...] | None
    legal_basis: str | None
    at: datetime


@dataclass(frozen=True)
class Decision:
    """The outcome of ``decide()``: frozen, self-explaining, and stored in the audit log.

    ``treatments`` covers every field the decision releases (withheld ones included, as
    ``withhold``); ``subject`` says how the resident's NIK is shown; ``jurisdiction`` and
    ``row_filter`` restrict which records may be released; ``rule_ids`` are the grants and
    denies that decided.
    """

    allowed: bool
    code: str | None
    treatments: Mapping[str, Treatment]
    subject: Treatment
    jurisdiction: tuple[str, ...]
    row_filter: str | None
    cap: int | None
    reidentify: bool
    rates: Rates
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    explanation: str
    policy_version: str
    specific_data: bool
    agency: str = ""
    purpose: str = ""
    action: str = "read"
    methods: Mapping[str, str] = field(default_factory=dict)  # mask / generalise methods
    fetch_fields: tuple[str, ...] = ()  # fields release() needs (treated + context)
    children_fields: frozenset[str] = frozenset()  # fields releasable from a child's record
    pseudonym_domain: str = ""
    kinds: Mapping[str, str] = field(default_factory=dict)  # field kinds, for generalising
    _filter: RowFilter | None = field(default=None, compare=False, repr=False)

    @cached_property
    def plan(self) -> dict[str, tuple[Treatment, str, str]]:
        """Released fields with (treatment, method, kind): computed once per decision."""
        return {
            name: (treatment, self.methods.get(name, ""), self.kinds.get(name, "text"))
            for name, treatment in self.treatments.items()
            if treatment is not Treatment.WITHHOLD
        }

    @cached_property
    def treatment_names(self) -> dict[str, str]:
        """``treatments`` with their names, as ``Released`` lists them."""
        return {name: treatment.value for name, treatment in self.treatments.items()}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view (what the audit log and the simulate endpoint show)."""
        return {
            "allowed": self.allowed,
            "code": self.code,
            "agency": self.agency,
            "purpose": self.purpose,
            "action": self.action,
            "treatments": {k: v.value for k, v in sorted(self.treatments.items())},
            "methods": dict(sorted(self.methods.items())),
            "subject": self.subject.value,
            "jurisdiction": list(self.jurisdiction),
            "row_filter": self.row_filter,
            "cap": self.cap,
            "reidentify": self.reidentify,
            "rates": {"per_client": self.rates.per_client, "per_officer": self.rates.per_officer},
            "rule_ids": list(self.rule_ids),
            "reasons": list(self.reasons),
            "explanation": self.explanation,
            "policy_version": self.policy_version,
            "specific_data": self.specific_data,
            "children_allowed": bool(self.treatments)
            and all(
                f in self.children_fields
                for f, t in self.treatments.items()
                if t is not Treatment.WITHHOLD
            ),
        }


@dataclass(frozen=True)
class Released:
    """What leaves the gateway for one record.

    ``record`` holds the released values (withheld fields absent); ``treatments`` lists
    every decided field with its treatment, ``"withhold"`` included; ``subject`` is the
    pseudonym (or, where a grant allows, the clear NIK) of the resident.
    """

    record: dict[str, object]
    treatments: dict[str, str]
    subject: str | None = None
    specific_data: bool = False


@dataclass(frozen=True)
class CatalogPurpose:
    code: str
    name: str
    actions: tuple[str, ...]
    legal_basis: tuple[str, ...]  # templates of the legal bases the grants require
    reidentify: bool
    cap: int | None
    treatments: Mapping[str, Treatment]


@dataclass(frozen=True)
class Catalog:
    """What one agency may use at a time: datasets, fields, purposes and treatments."""

    agency: str
    policy_version: str
    purposes: tuple[CatalogPurpose, ...]
    datasets: Mapping[str, tuple[str, ...]]  # dataset -> fields usable for some purpose
    sensitivity: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "policy_version": self.policy_version,
            "purposes": [
                {
                    "code": p.code,
                    "name": p.name,
                    "actions": list(p.actions),
                    "legal_basis_required": list(p.legal_basis),
                    "reidentify": p.reidentify,
                    "cap": p.cap,
                }
                for p in self.purposes
            ],
            "datasets": [
                {
                    "id": dataset,
                    "fields": [
                        {
                            "name": name,
                            "sensitivity": self.sensitivity[name],
                            "treatments": {
                                p.code: p.treatments[name].value
                                for p in self.purposes
                                if name in p.treatments
                            },
                        }
                        for name in fields
                    ],
                }
                for dataset, fields in self.datasets.items()
            ],
        }
