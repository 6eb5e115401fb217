"""Grants and denies: the rules of a bundle, parsed and validated."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from policies.aggregate import parse_aggregate
from policies.bundlecheck import Checker
from policies.legalbasis import compile_template
from policies.methods import parse_generalisation, parse_mask
from policies.model import Deny, FieldDef, Grant, LegalBasisRule, Rates, Sensitivity
from policies.rates import parse_rate
from policies.rowfilter import parse_row_filter
from policies.treatment import Treatment, TreatmentSpec, strictest
from policies.yamlmarks import YList, YMap

GRANT_ACTIONS = ("read", "search", "batch")
GRANT_KEYS = (
    "id",
    "description",
    "roles",
    "agencies",
    "datasets",
    "purposes",
    "actions",
    "fields",
    "legal_basis",
    "valid_from",
    "valid_until",
    "jurisdiction",
    "where",
    "cap",
    "rates",
    "reidentify",
    "children",
    "aggregate",
)
DENY_KEYS = ("id", "description", "roles", "agencies", "datasets", "fields", "purposes", "actions")


class RuleSections(Checker):
    """The ``grants:`` and ``denies:`` sections."""

    def _rules(self, doc: YMap, key: str, value: Any) -> list[YMap]:
        if not isinstance(value, YList):
            self.error(doc, key, f"{key!r} must be a list")
            return []
        out = []
        for index, item in enumerate(value):
            if isinstance(item, YMap):
                out.append(item)
            else:
                self.error(value, index, f"each of {key!r} must be a mapping")
        return out

    def _grants(self, doc: YMap, key: str, value: Any) -> None:
        for spec in self._rules(doc, key, value):
            self._grant(spec)

    def _grant(self, spec: YMap) -> None:
        errors_before = len(self.issues)
        grant_id = self.new_rule_id(spec, "grant")
        self.unknown_keys(spec, GRANT_KEYS, "grant")
        roles = self.names(spec, "roles", None, "role")
        agencies = self.names(spec, "agencies", self.agencies, "agency")
        if not roles and not agencies:
            self.error(spec, None, "a grant needs 'roles' or 'agencies'")
        datasets = self.names(spec, "datasets", self.datasets, "dataset")
        if not datasets and "datasets" not in spec:
            self.error(spec, None, "missing required key 'datasets'")
        purposes = self.names(spec, "purposes", self.purposes, "purpose")
        if not purposes and "purposes" not in spec:
            self.error(spec, None, "missing required key 'purposes'")
        actions = self.names(spec, "actions", None, "action") or list(GRANT_ACTIONS)
        for index, action in enumerate(actions):
            if action not in GRANT_ACTIONS and not (action == "aggregate" and "aggregate" in spec):
                where = spec["actions"]
                hint = (
                    " (re-identification is granted with 'reidentify: true')"
                    if action == "resolve"
                    else ""
                )
                self.error(
                    where,
                    index if isinstance(where, YList) else None,
                    f"unknown action {action!r}{hint}",
                )
        fields, named, raw_fields = (
            self._grant_fields(spec, datasets)
            if "fields" in spec or "aggregate" not in spec
            else ({}, [], {})  # a grant of statistics only releases no field
        )
        legal_basis = self._legal_basis(spec)
        valid_from = self._time(spec, "valid_from", end=False)
        valid_until = self._time(spec, "valid_until", end=True)
        if valid_from and valid_until and valid_from >= valid_until:
            self.error(spec, "valid_until", "valid_until is not after valid_from")
        where = None
        if "where" in spec:
            text = self.text(spec, "where")
            try:
                where = parse_row_filter(text, self.fields).text if text else None
            except ValueError as exc:
                self.error(spec, "where", str(exc))
        cap = spec.get("cap")
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
            self.error(spec, "cap", "'cap' must be a positive whole number")
            cap = None
        rates = self._rates(spec)
        aggregate = None
        if "aggregate" in spec:
            aggregate, problems = parse_aggregate(spec["aggregate"])
            for problem in problems:
                self.error(spec, "aggregate", problem)
        if len(self.issues) > errors_before or grant_id is None:
            return
        grant = Grant(
            id=grant_id,
            description=self.text(spec, "description"),
            roles=frozenset(roles),
            agencies=frozenset(agencies),
            datasets=tuple(datasets),
            purposes=frozenset(purposes),
            actions=frozenset(actions),
            fields=fields,
            named=frozenset(named),
            legal_basis=legal_basis,
            valid_from=valid_from,
            valid_until=valid_until,
            jurisdiction=self.flag(spec, "jurisdiction", True),
            where=where,
            cap=cap,
            rates=rates,
            reidentify=self.flag(spec, "reidentify", False),
            children=self.flag(spec, "children", False),
            location=self.loc(spec),
            aggregate=aggregate,
        )
        self.grants.append(grant)
        self.canonical["grants"][grant_id] = {
            "roles": sorted(roles),
            "agencies": sorted(agencies),
            "datasets": sorted(datasets),
            "purposes": sorted(purposes),
            "actions": sorted(actions),
            "fields": raw_fields,
            "legal_basis": legal_basis.template if legal_basis else None,
            "valid_from": valid_from.isoformat() if valid_from else None,
            "valid_until": valid_until.isoformat() if valid_until else None,
            "jurisdiction": grant.jurisdiction,
            "where": where,
            "cap": cap,
            "rates": [rates.per_client, rates.per_officer],
            "reidentify": grant.reidentify,
            "children": grant.children,
            **({"aggregate": aggregate.canonical()} if aggregate else {}),
        }

    def _grant_fields(
        self, spec: YMap, datasets: list[str]
    ) -> tuple[dict[str, TreatmentSpec], list[str], dict[str, str]]:
        raw = (
            self.mapping(spec, "fields", spec.get("fields"), "'fields'")
            if "fields" in spec
            else None
        )
        if raw is None:
            if "fields" not in spec:
                self.error(spec, None, "missing required key 'fields'")
            return {}, [], {}
        own = {
            f.name: f for ds in datasets if ds in self.datasets for f in self.datasets[ds].fields
        }
        explicit: dict[str, TreatmentSpec] = {}
        wildcard: TreatmentSpec | None = None
        texts: dict[str, str] = {}
        for name, text in raw.items():
            if not isinstance(text, str):
                self.error(
                    raw, name, f"treatment of {name!r} must be a text such as 'clear' or 'mask'"
                )
                continue
            texts[str(name)] = text
            if name == "*":
                try:
                    wildcard = TreatmentSpec(Treatment(text))
                except ValueError:
                    self.error(
                        raw, name, f"unknown treatment {text!r} (a wildcard takes no method)"
                    )
                continue
            if name not in own:
                where = f"datasets {', '.join(datasets)}" if datasets else "the grant's datasets"
                self.error(raw, name, f"unknown field {name!r}: not in {where}")
                continue
            try:
                explicit[name] = parse_treatment(text, own[name])
            except ValueError as exc:
                self.error(raw, name, str(exc))
        if not texts:
            self.error(spec, "fields", "a grant must name at least one field or '*'")
        fields = dict(explicit)
        if wildcard is not None:
            for field in own.values():
                if field.name in explicit or field.sensitivity is Sensitivity.SPECIFIC:
                    continue  # security: specific data is never reached by a wildcard
                fields[field.name] = wildcard_treatment(wildcard, field)
        return fields, sorted(explicit), texts

    def _legal_basis(self, spec: YMap) -> LegalBasisRule | None:
        if "legal_basis" not in spec or spec["legal_basis"] is None:
            return None
        value = spec["legal_basis"]
        if isinstance(value, YMap):
            self.unknown_keys(value, ("required", "pattern"), "legal_basis")
            if value.get("required", True) is False:
                return None
            template = value.get("pattern")
        else:
            template = value
        if not isinstance(template, str):
            self.error(spec, "legal_basis", "legal_basis needs a pattern such as 'PKS/<n>/<yyyy>'")
            return None
        try:
            return compile_template(template)
        except ValueError as exc:
            self.error(spec, "legal_basis", str(exc))
            return None

    def _time(self, spec: YMap, key: str, *, end: bool) -> datetime | None:
        """A date (the whole day counts, in UTC) or an ISO date-time with an offset."""
        value = spec.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = (
                    datetime.fromisoformat(value)
                    if "T" in value or " " in value
                    else date.fromisoformat(value)
                )
            except ValueError:
                self.error(spec, key, f"invalid date {value!r} (expected YYYY-MM-DD)")
                return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, date):
            start = datetime.combine(value, time(0), tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        self.error(spec, key, f"invalid date {value!r} (expected YYYY-MM-DD)")
        return None

    def _rates(self, spec: YMap) -> Rates:
        value = spec.get("rates")
        if value is None:
            return Rates()
        if not isinstance(value, YMap):
            self.error(
                spec, "rates", "'rates' must be a mapping with per_client and/or per_officer"
            )
            return Rates()
        self.unknown_keys(value, ("per_client", "per_officer"), "rates")
        out: dict[str, str | None] = {"per_client": None, "per_officer": None}
        for key in out:
            if key in value:
                try:
                    parse_rate(str(value[key]))
                    out[key] = str(value[key]).strip()
                except ValueError as exc:
                    self.error(value, key, str(exc))
        return Rates(out["per_client"], out["per_officer"])

    def _denies(self, doc: YMap, key: str, value: Any) -> None:
        for spec in self._rules(doc, key, value):
            errors_before = len(self.issues)
            deny_id = self.new_rule_id(spec, "deny")
            self.unknown_keys(spec, DENY_KEYS, "deny")
            selectors = {
                "roles": self.names(spec, "roles", None, "role"),
                "agencies": self.names(spec, "agencies", self.agencies, "agency"),
                "datasets": self.names(spec, "datasets", self.datasets, "dataset"),
                "fields": self.names(spec, "fields", self.fields, "field"),
                "purposes": self.names(spec, "purposes", self.purposes, "purpose"),
                "actions": self.names(
                    spec, "actions", ("read", "search", "batch", "resolve"), "action"
                ),
            }
            if not any(k in spec for k in selectors):
                self.error(
                    spec,
                    None,
                    "a deny must name at least one role, agency, dataset, field, purpose or action",
                )
            if len(self.issues) > errors_before or deny_id is None:
                continue
            deny = Deny(
                id=deny_id,
                description=self.text(spec, "description"),
                location=self.loc(spec),
                **{k: frozenset(v) for k, v in selectors.items()},
            )
            self.denies.append(deny)
            self.canonical["denies"][deny_id] = {k: sorted(v) for k, v in selectors.items()}


def parse_treatment(text: str, field: FieldDef) -> TreatmentSpec:
    """Parse ``clear``, ``mask[:method]``, ``generalise[:method]``, ``pseudonymise`` or
    ``withhold`` for ``field``; raise ``ValueError`` with a readable message."""
    name, _, method = text.strip().partition(":")
    try:
        treatment = Treatment(name)
    except ValueError:
        known = ", ".join(t.value for t in Treatment)
        raise ValueError(
            f"unknown treatment {text!r} for {field.name!r} (expected {known})"
        ) from None
    if treatment is Treatment.MASK:
        return TreatmentSpec(treatment, parse_mask(method or field.mask))
    if treatment is Treatment.GENERALISE:
        chosen = method or field.generalise
        if not chosen:
            raise ValueError(
                f"field {field.name!r} has no default generalisation; write generalise:<method>"
            )
        return TreatmentSpec(treatment, parse_generalisation(chosen, field.kind, field.level))
    if method:
        raise ValueError(f"treatment {name!r} takes no method")
    return TreatmentSpec(treatment)


def wildcard_treatment(wildcard: TreatmentSpec, field: FieldDef) -> TreatmentSpec:
    """How a ``'*'`` treatment lands on one field.

    Security: a wildcard never releases an identifier more openly than pseudonymised, and
    a wildcard ``generalise`` on a field that cannot be generalised withholds it.
    """
    treatment = wildcard.treatment
    if treatment is Treatment.MASK:
        spec = TreatmentSpec(treatment, field.mask)
    elif treatment is Treatment.GENERALISE:
        spec = (
            TreatmentSpec(treatment, field.generalise)
            if field.generalise
            else TreatmentSpec(Treatment.WITHHOLD)
        )
    else:
        spec = wildcard
    if field.sensitivity is Sensitivity.IDENTIFIER:
        spec = strictest(spec, TreatmentSpec(Treatment.PSEUDONYMISE))
    return spec
