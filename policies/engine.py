"""The compiled policy: ``decide()`` as a cached table lookup, plus the catalog."""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from types import MappingProxyType

from policies.aggregate import AggregateDecision, AggregateRequest, decide_aggregate
from policies.decision import AccessRequest, Catalog, CatalogPurpose, Decision, Released
from policies.model import ACTIONS, Agency, Bundle, Deny, FieldDef, Grant
from policies.outcome import Outcome
from policies.pseudonyms import Pseudonymiser
from policies.release import release_record
from policies.rowfilter import RowFilter, parse_row_filter
from policies.treatment import TreatmentSpec, strictest

#: Decisions kept per compiled policy (a few MB). A decision depends only on (agency, purpose,
#: action, fields, legal basis, validity window), so the common request is a dict hit.
CACHE_SIZE = 8_192


@dataclass(frozen=True)
class _Table:
    """The field-independent part of a decision (see ``Policy._table``)."""

    agency: Agency
    usable: list[Grant]
    blocked: list[Grant]
    field_denies: dict[str, set[str]]
    covered: dict[str, TreatmentSpec]
    sources: dict[str, list[Grant]]


def compile_bundle(bundle: Bundle) -> Policy:
    """Compile a validated bundle into an immutable, fast ``Policy``."""
    return Policy(bundle)


class Policy:
    """A compiled bundle. Immutable; ``version`` is the SHA-256 of its canonical content."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.version = hashlib.sha256(bundle.canonical.encode("utf-8")).hexdigest()
        self.agencies: Mapping[str, Agency] = MappingProxyType(dict(bundle.agencies))
        self._fields: dict[str, FieldDef] = bundle.fields
        self._fields_of = {
            ds.id: tuple(f.name for f in ds.fields) for ds in bundle.datasets.values()
        }
        self.all_fields: tuple[str, ...] = tuple(self._fields)
        self._grants: dict[str, tuple[Grant, ...]] = {
            a.id: tuple(g for g in bundle.grants if g.applies_to(a))
            for a in bundle.agencies.values()
        }
        # The grants of each (agency, purpose), so that a decision looks at only those.
        self._grants_for: dict[tuple[str, str], tuple[Grant, ...]] = {
            (a, p): tuple(g for g in grants if p in g.purposes)
            for a, grants in self._grants.items()
            for p in bundle.purposes
        }
        self._denies: dict[str, tuple[Deny, ...]] = {
            a.id: tuple(
                d
                for d in bundle.denies
                if (not d.agencies or a.id in d.agencies)
                and (not d.roles or not d.roles.isdisjoint(a.roles))
            )
            for a in bundle.agencies.values()
        }
        bounds = {t for g in bundle.grants for t in (g.valid_from, g.valid_until) if t is not None}
        self._bounds = sorted(bounds)
        index = {t: i for i, t in enumerate(self._bounds)}
        # A grant is active in window w (bounds[w-1] <= at < bounds[w]) iff it started at
        # or before bounds[w-1] and ends at or after bounds[w].
        self._windows = {
            g.id: (
                -1 if g.valid_from is None else index[g.valid_from],
                len(self._bounds) if g.valid_until is None else index[g.valid_until],
            )
            for g in bundle.grants
        }
        self._filters: dict[str, RowFilter] = {
            g.where: parse_row_filter(g.where, self._fields) for g in bundle.grants if g.where
        }
        self._cached = lru_cache(maxsize=CACHE_SIZE)(self._evaluate)
        self._tables = lru_cache(maxsize=CACHE_SIZE // 8)(self._table)

    def __repr__(self) -> str:
        return f"Policy(name={self.bundle.name!r}, version={self.version[:12]})"

    # -- lookups -----------------------------------------------------------------------
    def dataset_of(self, field: str) -> str:
        return self._fields[field].dataset

    def fields_of(self, dataset: str) -> tuple[str, ...]:
        return self._fields_of[dataset]

    def field(self, name: str) -> FieldDef:
        return self._fields[name]

    def window(self, at: datetime) -> int:
        """The validity window of ``at`` (naive times are taken as UTC)."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return bisect_right(self._bounds, at)

    # -- deciding ----------------------------------------------------------------------
    def decide(self, req: AccessRequest) -> Decision:
        """Decide a request. Pure and cached: equal requests get the same ``Decision``."""
        fields = req.fields
        if fields is not None and type(fields) is not tuple:
            fields = tuple(fields)
        at = req.at if req.at.tzinfo is not None else req.at.replace(tzinfo=UTC)
        return self._cached(
            req.agency,
            req.purpose,
            req.action,
            fields,
            req.legal_basis,
            bisect_right(self._bounds, at),
            False,
            False,
        )

    def decide_aggregate(self, req: AggregateRequest) -> AggregateDecision:
        """Decide a statistics query (``policies.aggregate``)."""
        agency = self.agencies.get(req.agency)
        return decide_aggregate(
            req,
            grants=self._grants.get(req.agency, ()),
            jurisdiction=agency.jurisdiction if agency is not None else None,
            version=self.version,
        )

    def decide_uncached(self, req: AccessRequest) -> Decision:
        """``decide()`` computed afresh, bypassing every cache (for tests and benchmarks)."""
        fields = None if req.fields is None else tuple(req.fields)
        return self._evaluate(
            req.agency,
            req.purpose,
            req.action,
            fields,
            req.legal_basis,
            self.window(req.at),
            False,
            True,
        )

    def _active(self, grant: Grant, window: int) -> bool:
        start, end = self._windows[grant.id]
        return start < window <= end

    def _evaluate(
        self,
        agency_id: str,
        purpose: str,
        action: str,
        fields: tuple[str, ...] | None,
        legal_basis: str | None,
        window: int,
        ignore_legal_basis: bool,
        fresh: bool = False,
    ) -> Decision:
        out = Outcome(self, agency_id, purpose, action)
        agency = self.agencies.get(agency_id)
        if agency is None:
            return out.deny(
                "unknown_agency", ["unknown_agency"], [], "The agency is not defined in the policy."
            )
        if purpose not in self.bundle.purposes:
            return out.deny(
                "purpose_not_permitted",
                ["unknown_purpose"],
                [],
                f"{purpose!r} is not a purpose defined in the policy.",
            )
        if action not in ACTIONS:
            return out.deny(
                "action_not_permitted", ["unknown_action"], [], f"{action!r} is not an action."
            )
        if fields is not None and action != "resolve":
            unknown = [f for f in dict.fromkeys(fields) if f not in self._fields]
            if unknown:
                return out.deny(
                    "unknown_field",
                    [f"unknown_field:{f}" for f in unknown],
                    [],
                    f"Unknown field(s): {', '.join(unknown)}.",
                )
            if not fields:
                return out.deny(
                    "field_not_permitted",
                    ["no_fields_requested"],
                    [],
                    "The request names no fields.",
                )
        tables = self._table if fresh else self._tables
        table = tables(agency_id, purpose, action, legal_basis, window, ignore_legal_basis)
        if isinstance(table, Decision):
            return table
        if action == "resolve":
            return out.allow_resolve(table.agency, table.usable)
        return self._fields_decision(out, table, fields, legal_basis)

    def _table(
        self,
        agency_id: str,
        purpose: str,
        action: str,
        legal_basis: str | None,
        window: int,
        ignore_legal_basis: bool,
    ) -> Decision | _Table:
        """Everything about a request that does not depend on the fields asked for.

        Cached separately from whole decisions, so that a new combination of fields costs
        only the field step. Returns a denial when the request fails before that step.
        """
        out = Outcome(self, agency_id, purpose, action)
        agency = self.agencies[agency_id]
        denies = [d for d in self._denies[agency_id] if d.applies_to(agency, purpose, action)]
        whole = sorted(d.id for d in denies if d.whole_request)
        if whole:
            return out.deny(
                "policy_denied",
                ["explicit_deny"],
                whole,
                f"Deny rule {', '.join(whole)} forbids {agency_id} to {action} for {purpose}.",
            )
        grants = [g for g in self._grants_for[agency_id, purpose] if self._active(g, window)]
        if not grants:
            return out.deny(
                "purpose_not_permitted",
                ["no_grant_for_purpose"],
                [],
                f"No grant valid at this time lets {agency_id} use data for {purpose}.",
            )
        if action == "resolve":
            grants = [g for g in grants if g.reidentify]
            if not grants:
                return out.deny(
                    "reidentification_not_permitted",
                    ["no_reidentify_grant"],
                    [],
                    f"No grant lets {agency_id} re-identify residents for {purpose}.",
                )
        else:
            grants = [g for g in grants if action in g.actions]
            if not grants:
                return out.deny(
                    "action_not_permitted",
                    [f"action_not_granted:{action}"],
                    [],
                    f"No grant lets {agency_id} {action} for {purpose}.",
                )
        usable: list[Grant] = []
        blocked: list[Grant] = []
        for grant in grants:
            rule = grant.legal_basis
            ok = ignore_legal_basis or rule is None or rule.matches(legal_basis)
            (usable if ok else blocked).append(grant)
        if not usable:
            return out.legal_basis(blocked, legal_basis)
        field_denies: dict[str, set[str]] = {}
        for deny in denies:
            for name in deny.fields | {f for ds in deny.datasets for f in self._fields_of[ds]}:
                field_denies.setdefault(name, set()).add(deny.id)
        covered: dict[str, TreatmentSpec] = {}
        sources: dict[str, list[Grant]] = {}
        for grant in usable:
            for name, spec in grant.fields.items():
                covered[name] = strictest(covered[name], spec) if name in covered else spec
                sources.setdefault(name, []).append(grant)
        return _Table(agency, usable, blocked, field_denies, covered, sources)

    def _fields_decision(
        self,
        out: Outcome,
        table: _Table,
        fields: tuple[str, ...] | None,
        legal_basis: str | None,
    ) -> Decision:
        covered, field_denies = table.covered, table.field_denies
        if fields is None:
            chosen = [f for f in covered if f not in field_denies]
            hit = sorted({d for f in covered if f in field_denies for d in field_denies[f]})
            if not chosen:
                return out.deny(
                    "policy_denied",
                    ["all_fields_denied"],
                    hit,
                    f"Deny rule {', '.join(hit)} removes every field {out.agency} "
                    f"could use for {out.purpose}.",
                )
        else:
            chosen = list(dict.fromkeys(fields))
            hit = []
            denied = [f for f in chosen if f in field_denies]
            if denied:
                ids = sorted({d for f in denied for d in field_denies[f]})
                return out.deny(
                    "policy_denied",
                    [f"field_denied:{f}" for f in denied],
                    ids,
                    f"Deny rule {', '.join(ids)} forbids {', '.join(denied)} for {out.purpose}.",
                )
            missing = [f for f in chosen if f not in covered]
            if missing:
                gating = [g for g in table.blocked if not g.fields.keys().isdisjoint(missing)]
                if gating:
                    return out.legal_basis(gating, legal_basis)
                return out.deny(
                    "field_not_permitted",
                    [f"field_not_granted:{f}" for f in missing],
                    [],
                    f"No grant gives {out.agency} {', '.join(missing)} for {out.purpose}.",
                )
        return out.allow(
            table.agency, sorted(chosen), covered, table.sources, table.usable, hit, field_denies
        )

    # -- catalog -----------------------------------------------------------------------
    def catalog(self, agency: str, at: datetime) -> Catalog:
        """What ``agency`` may use at ``at``: purposes, actions, fields and treatments.

        Legal bases are not checked here; the catalog lists the templates they must match.
        """
        window = self.window(at)
        purposes: list[CatalogPurpose] = []
        usable_fields: set[str] = set()
        for code, purpose in self.bundle.purposes.items():
            read = self._cached(agency, code, "read", None, None, window, True)
            actions = tuple(
                a
                for a in ACTIONS
                if self._cached(agency, code, a, None, None, window, True).allowed
            )
            if not actions:
                continue
            grants = [
                g
                for g in self._grants.get(agency, ())
                if code in g.purposes and self._active(g, window)
            ]
            bases = tuple(sorted({g.legal_basis.template for g in grants if g.legal_basis}))
            treatments = read.treatments if read.allowed else {}
            usable_fields.update(treatments)
            purposes.append(
                CatalogPurpose(
                    code, purpose.name, actions, bases, "resolve" in actions, read.cap, treatments
                )
            )
        datasets = {
            ds: tuple(f for f in names if f in usable_fields)
            for ds, names in self._fields_of.items()
            if any(f in usable_fields for f in names)
        }
        sensitivity = {name: f.sensitivity.value for name, f in self._fields.items()}
        return Catalog(agency, self.version, tuple(purposes), datasets, sensitivity)

    # -- releasing ---------------------------------------------------------------------
    def release(
        self,
        decision: Decision,
        record: Mapping[str, object],
        *,
        pseudonymiser: Pseudonymiser,
        today: date,
    ) -> Released:
        """Apply ``decision`` to one record: filter rows, then treat every field.

        Raises ``RowFiltered`` for a record outside the jurisdiction or row filter and
        ``SpecificDataDenied`` for a child's record no grant explicitly allows.
        """
        if not decision.allowed:
            raise ValueError("nothing can be released under a denied decision")
        if decision.policy_version != self.version:
            raise ValueError("the decision was made under another policy version")
        if pseudonymiser.domain != decision.pseudonym_domain:
            raise ValueError("the pseudonymiser belongs to another domain")
        return release_record(decision, record, pseudonymiser, today)
