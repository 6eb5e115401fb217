"""The parts of a policy bundle, as loaded and validated from YAML."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from policies.aggregate import AggregateRule
from policies.treatment import TreatmentSpec

ACTIONS = ("read", "search", "batch", "resolve")
#: Categories of specific data under UU PDP Pasal 4.
SPECIFIC_CATEGORIES = ("health", "biometric", "genetic", "criminal_record", "children", "finance")


class Sensitivity(Enum):
    """How sensitive a field is. Identifiers are never released in clear by a wildcard;
    specific data (UU PDP Pasal 4) is released only when a grant names the field."""

    ORDINARY = "ordinary"
    IDENTIFIER = "identifier"
    SENSITIVE = "sensitive"
    SPECIFIC = "specific"


@dataclass(frozen=True)
class Location:
    """Where something was written: file name and 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class FieldDef:
    """One field of a dataset, with what the engine needs to treat it."""

    name: str
    dataset: str
    kind: str
    sensitivity: Sensitivity
    category: str | None  # specific-data category, when sensitivity is SPECIFIC
    level: str | None  # region level for region_code / region_name fields
    mask: str  # default mask method
    generalise: str | None  # default generalisation method, if the kind has one
    location: Location


@dataclass(frozen=True)
class DatasetDef:
    id: str
    source: str
    key: str
    fields: tuple[FieldDef, ...]
    location: Location


@dataclass(frozen=True)
class Agency:
    """An agency that may ask for data: its roles, jurisdiction and pseudonym domain."""

    id: str
    name: str
    roles: tuple[str, ...]
    jurisdiction: tuple[str, ...]
    pseudonym_domain: str


@dataclass(frozen=True)
class Purpose:
    """A purpose code with its name and description, and optionally their Indonesian
    wording (``name_id``, ``description_id``) for pages in Bahasa Indonesia."""

    code: str
    name: str
    description: str = ""
    name_id: str = ""
    description_id: str = ""


@dataclass(frozen=True)
class LegalBasisRule:
    """A required legal basis, written as a template such as ``PKS-DUKCAPIL/DINSOS/<n>/<yyyy>``.

    Templates (not raw regular expressions) keep bundles readable and rule out
    pathological patterns: ``<n>`` is a number, ``<yyyy>`` a year, ``<mm>`` a month,
    ``<code>`` letters, digits and dashes; everything else must match literally.
    """

    template: str
    regex: re.Pattern[str] = field(compare=False, repr=False)

    def matches(self, legal_basis: str | None) -> bool:
        return legal_basis is not None and self.regex.fullmatch(legal_basis.strip()) is not None


@dataclass(frozen=True)
class Rates:
    """Rate limits such as ``"600/minute"``; ``None`` means the gateway's default."""

    per_client: str | None = None
    per_officer: str | None = None


@dataclass(frozen=True, eq=False)  # identity: two grants are distinct rules by their ids
class Grant:
    """Permission for roles (optionally narrowed to agencies) to use datasets for purposes."""

    id: str
    description: str
    roles: frozenset[str]
    agencies: frozenset[str]
    datasets: tuple[str, ...]
    purposes: frozenset[str]
    actions: frozenset[str]
    fields: Mapping[str, TreatmentSpec]  # named fields, wildcard already expanded
    named: frozenset[str]  # fields the grant names explicitly
    legal_basis: LegalBasisRule | None
    valid_from: datetime | None
    valid_until: datetime | None  # exclusive
    jurisdiction: bool
    where: str | None
    cap: int | None
    rates: Rates
    reidentify: bool
    children: bool
    location: Location
    aggregate: AggregateRule | None = None  # the statistics a grant allows

    def applies_to(self, agency: Agency) -> bool:
        if self.agencies and agency.id not in self.agencies:
            return False
        return not self.roles or not self.roles.isdisjoint(agency.roles)

    def active(self, at: datetime) -> bool:
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.valid_until is None or at < self.valid_until


@dataclass(frozen=True, eq=False)
class Deny:
    """An explicit deny. Empty selectors match anything; a deny without fields or
    datasets refuses the whole request, otherwise it removes the fields it names."""

    id: str
    description: str
    roles: frozenset[str]
    agencies: frozenset[str]
    datasets: frozenset[str]
    fields: frozenset[str]
    purposes: frozenset[str]
    actions: frozenset[str]
    location: Location

    def applies_to(self, agency: Agency, purpose: str, action: str) -> bool:
        if self.agencies and agency.id not in self.agencies:
            return False
        if self.roles and self.roles.isdisjoint(agency.roles):
            return False
        if self.purposes and purpose not in self.purposes:
            return False
        return not self.actions or action in self.actions

    @property
    def whole_request(self) -> bool:
        return not self.fields and not self.datasets


@dataclass(frozen=True)
class Bundle:
    """A validated bundle: everything a policy is compiled from."""

    name: str
    datasets: Mapping[str, DatasetDef]
    agencies: Mapping[str, Agency]
    purposes: Mapping[str, Purpose]
    grants: tuple[Grant, ...]
    denies: tuple[Deny, ...]
    locations: Mapping[str, Location]  # "agency:<id>", "purpose:<code>" -> where defined
    canonical: str  # canonical JSON of the content; its SHA-256 is the policy version

    @property
    def fields(self) -> dict[str, FieldDef]:
        return {f.name: f for d in self.datasets.values() for f in d.fields}
