"""The compiled policy: ``decide()`` as a cached table lookup, plus the catalog."""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from types import MappingProxyType

from policies.decision import AccessRequest, Catalog, CatalogPurpose, Decision, Released
from policies.model import ACTIONS, Agency, Bundle, Deny, FieldDef, Grant, Rates, Sensitivity
from policies.pseudonyms import Pseudonymiser
from policies.rates import tightest
from policies.release import release_record
from policies.rowfilter import RowFilter, all_of, parse_row_filter
from policies.treatment import Treatment, TreatmentSpec, strictest

#: Decisions kept per compiled policy. A decision depends only on (agency, purpose,
#: action, fields, legal basis, validity window), so the common request is a dict hit.
CACHE_SIZE = 65_536
_REGION_CONTEXT = ("kelurahan_name", "kecamatan_name", "city_name", "province_name")


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
    ) -> Decision:
        out = _Outcome(self, agency_id, purpose, action)
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
        if action == "resolve":
            return out.allow_resolve(agency, usable)
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
        if fields is None:
            chosen = [f for f in covered if f not in field_denies]
            hit = sorted({d for f in covered if f in field_denies for d in field_denies[f]})
            if not chosen:
                return out.deny(
                    "policy_denied",
                    ["all_fields_denied"],
                    hit,
                    f"Deny rule {', '.join(hit)} removes every field {agency_id} "
                    f"could use for {purpose}.",
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
                    f"Deny rule {', '.join(ids)} forbids {', '.join(denied)} for {purpose}.",
                )
            missing = [f for f in chosen if f not in covered]
            if missing:
                gated = {f for g in blocked for f in g.fields}
                if any(f in gated for f in missing):
                    return out.legal_basis(
                        [g for g in blocked if not gated.isdisjoint(missing)], legal_basis
                    )
                return out.deny(
                    "field_not_permitted",
                    [f"field_not_granted:{f}" for f in missing],
                    [],
                    f"No grant gives {agency_id} {', '.join(missing)} for {purpose}.",
                )
        return out.allow(agency, sorted(chosen), covered, sources, usable, hit, field_denies)

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
        return release_record(decision, record, self._fields, pseudonymiser, today)


class _Outcome:
    """Builds the decisions of one evaluation (keeps ``_evaluate`` readable)."""

    def __init__(self, policy: Policy, agency: str, purpose: str, action: str) -> None:
        self.policy = policy
        self.agency = agency
        self.purpose = purpose
        self.action = action

    def deny(self, code: str, reasons: list[str], rule_ids: Iterable[str], why: str) -> Decision:
        return Decision(
            allowed=False,
            code=code,
            treatments=MappingProxyType({}),
            subject=Treatment.PSEUDONYMISE,
            jurisdiction=(),
            row_filter=None,
            cap=None,
            reidentify=False,
            rates=Rates(),
            rule_ids=tuple(sorted(set(rule_ids))),
            reasons=tuple(reasons),
            explanation=f"Denied ({code}): {why}",
            policy_version=self.policy.version,
            specific_data=False,
            agency=self.agency,
            purpose=self.purpose,
            action=self.action,
        )

    def legal_basis(self, blocked: list[Grant], given: str | None) -> Decision:
        templates = sorted({g.legal_basis.template for g in blocked if g.legal_basis})
        reason = "legal_basis_missing" if given is None else "legal_basis_mismatch"
        said = "none was given" if given is None else "the one given does not match"
        return self.deny(
            "legal_basis_required",
            [reason],
            [g.id for g in blocked],
            f"a legal basis matching {' or '.join(templates)} is required and {said}.",
        )

    def _common(self, agency: Agency, grants: list[Grant]) -> dict[str, object]:
        rates = Rates()
        for g in grants:
            rates = Rates(
                tightest(rates.per_client, g.rates.per_client),
                tightest(rates.per_officer, g.rates.per_officer),
            )
        caps = [g.cap for g in grants if g.cap is not None]
        return {
            "jurisdiction": agency.jurisdiction if any(g.jurisdiction for g in grants) else (),
            "cap": min(caps) if caps else None,
            "rates": rates,
            "pseudonym_domain": agency.pseudonym_domain,
            "policy_version": self.policy.version,
            "agency": self.agency,
            "purpose": self.purpose,
            "action": self.action,
        }

    def allow_resolve(self, agency: Agency, grants: list[Grant]) -> Decision:
        ids = tuple(sorted(g.id for g in grants))
        return Decision(
            allowed=True,
            code=None,
            treatments=MappingProxyType({}),
            subject=Treatment.PSEUDONYMISE,
            row_filter=None,
            reidentify=True,
            rule_ids=ids,
            reasons=("reidentification_granted",),
            specific_data=False,
            explanation=f"Allowed: {self.agency} may re-identify residents for {self.purpose} "
            f"under {', '.join(ids)}.",
            **self._common(agency, grants),  # type: ignore[arg-type]
        )

    def allow(
        self,
        agency: Agency,
        chosen: list[str],
        covered: dict[str, TreatmentSpec],
        sources: dict[str, list[Grant]],
        usable: list[Grant],
        denied_hit: list[str],
        field_denies: dict[str, set[str]],
    ) -> Decision:
        fields = self.policy._fields
        contributing = sorted(
            {g.id: g for f in chosen for g in sources[f]}.values(), key=lambda g: g.id
        )
        treatments = {f: covered[f].treatment for f in chosen}
        methods = {f: covered[f].method for f in chosen if covered[f].method}
        released = [f for f in chosen if treatments[f] is not Treatment.WITHHOLD]
        nik = covered.get("nik")
        subject = (
            Treatment.CLEAR
            if nik is not None and nik.treatment is Treatment.CLEAR and "nik" not in field_denies
            else Treatment.PSEUDONYMISE
        )
        row_filter = all_of(self.policy._filters[g.where] for g in contributing if g.where)
        common = self._common(agency, contributing)
        context = {"nik", "birth_date"}
        if common["jurisdiction"]:
            context.add("kelurahan_code")
        if row_filter is not None:
            context |= row_filter.fields
        if any(
            fields[f].kind in ("region_name", "address") and treatments[f] is Treatment.GENERALISE
            for f in released
        ):
            context.update(_REGION_CONTEXT)
        fetch = tuple(sorted(set(released) | {f for f in context if f in fields}))
        specific = any(fields[f].sensitivity is Sensitivity.SPECIFIC for f in released)
        ids = tuple(sorted({g.id for g in contributing} | set(denied_hit)))
        datasets = sorted({fields[f].dataset for f in chosen})
        reasons = ["granted"] + [f"field_denied:{f}" for f in sorted(field_denies) if f in covered]
        parts = [
            f"Allowed: {self.agency} may {self.action} {len(released)} field(s) of "
            f"{', '.join(datasets)} for {self.purpose} under "
            f"{', '.join(g.id for g in contributing)}",
            f"subject {'in clear' if subject is Treatment.CLEAR else 'pseudonymised'}",
        ]
        withheld = [f for f in chosen if treatments[f] is Treatment.WITHHOLD]
        if withheld:
            parts.append(f"withheld: {', '.join(withheld)}")
        if denied_hit:
            parts.append(f"removed by {', '.join(denied_hit)}")
        if common["jurisdiction"]:
            parts.append(f"only residents of {', '.join(agency.jurisdiction)}")
        if row_filter is not None:
            parts.append(f"rows where {row_filter.text}")
        return Decision(
            allowed=True,
            code=None,
            treatments=MappingProxyType(treatments),
            subject=subject,
            row_filter=row_filter.text if row_filter else None,
            reidentify=any(g.reidentify for g in usable),
            rule_ids=ids,
            reasons=tuple(reasons),
            explanation="; ".join(parts) + ".",
            specific_data=specific,
            methods=MappingProxyType(methods),
            fetch_fields=fetch,
            children_fields=frozenset(f for f in released if all(g.children for g in sources[f])),
            _filter=row_filter,
            **common,  # type: ignore[arg-type]
        )
