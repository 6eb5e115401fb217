"""Building decisions: denials with their reasons, and allowed decisions with everything
``release()`` and the audit log need."""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from typing import TYPE_CHECKING, TypedDict

from policies.decision import Decision
from policies.model import Agency, Grant, Rates, Sensitivity
from policies.rates import tightest
from policies.rowfilter import all_of
from policies.treatment import Treatment, TreatmentSpec

if TYPE_CHECKING:
    from policies.engine import Policy

_REGION_CONTEXT = ("kelurahan_name", "kecamatan_name", "city_name", "province_name")


class _Common(TypedDict):
    """What every allowed decision takes from the grants behind it."""

    jurisdiction: tuple[str, ...]
    cap: int | None
    rates: Rates
    pseudonym_domain: str
    policy_version: str
    agency: str
    purpose: str
    action: str


class Outcome:
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

    def _common(self, agency: Agency, grants: list[Grant]) -> _Common:
        per_client: str | None = None
        per_officer: str | None = None
        for g in grants:
            if g.rates.per_client is not None:
                per_client = tightest(per_client, g.rates.per_client)
            if g.rates.per_officer is not None:
                per_officer = tightest(per_officer, g.rates.per_officer)
        caps = [g.cap for g in grants if g.cap is not None]
        return _Common(
            jurisdiction=agency.jurisdiction if any(g.jurisdiction for g in grants) else (),
            cap=min(caps) if caps else None,
            rates=Rates(per_client, per_officer),
            pseudonym_domain=agency.pseudonym_domain,
            policy_version=self.policy.version,
            agency=self.agency,
            purpose=self.purpose,
            action=self.action,
        )

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
            **self._common(agency, grants),
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
        unique: dict[str, Grant] = {}
        for name in chosen:
            for g in sources[name]:
                unique[g.id] = g
        contributing = [unique[i] for i in sorted(unique)]
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
        removed = sorted(f for f in covered if f in field_denies) if denied_hit else []
        reasons = ["granted", *(f"field_denied:{f}" for f in removed)]
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
            kinds=MappingProxyType({f: fields[f].kind for f in released}),
            children_fields=frozenset(f for f in released if all(g.children for g in sources[f])),
            _filter=row_filter,
            **common,
        )
