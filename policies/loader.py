"""Loading and validating YAML bundles. Every problem is reported as ``file:line``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from policies.errors import BundleError, BundleIssue
from policies.legalbasis import compile_template
from policies.methods import KINDS, LEVELS, default_mask, parse_generalisation, parse_mask
from policies.model import (
    SPECIFIC_CATEGORIES,
    Agency,
    Bundle,
    DatasetDef,
    Deny,
    FieldDef,
    Grant,
    LegalBasisRule,
    Location,
    Purpose,
    Rates,
    Sensitivity,
)
from policies.rates import parse_rate
from policies.rowfilter import parse_row_filter
from policies.treatment import Treatment, TreatmentSpec, strictest
from policies.yamlmarks import YamlSyntaxError, YList, YMap, line_of, parse

SECTIONS = ("bundle", "datasets", "purposes", "agencies", "grants", "denies")
_ID = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
_REGION = re.compile(r"^[0-9]{2}(\.[0-9]{2}(\.[0-9]{2}(\.[0-9]{4})?)?)?$")
_GRANT_ACTIONS = ("read", "search", "batch")
_GRANT_KEYS = (
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
)
_DENY_KEYS = (
    "id",
    "description",
    "roles",
    "agencies",
    "datasets",
    "fields",
    "purposes",
    "actions",
)


def load_bundle(path: Path) -> Bundle:
    """Load a bundle from a directory of ``*.yaml``/``*.yml`` files, or from one file.

    Files whose top level holds ``cases:`` are test-case files and are skipped.
    Raises ``BundleError`` listing every problem as ``file:line: message``.
    """
    return load_bundle_texts(read_bundle_files(path))


def read_bundle_files(path: Path) -> dict[str, str]:
    """The bundle's files as ``{name: text}`` (the only I/O in this package)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise BundleError([BundleIssue(path.name, 0, "no YAML files in bundle directory")])
    elif path.is_file():
        files = [path]
    else:
        raise BundleError([BundleIssue(path.name, 0, "bundle not found")])
    return {p.name: p.read_text(encoding="utf-8") for p in files}


def load_bundle_texts(files: Mapping[str, str]) -> Bundle:
    """Load a bundle from ``{file name: YAML text}`` (e.g. a version stored in a database)."""
    bundle, issues = check_bundle_texts(files)
    errors = [i for i in issues if i.severity == "error"]
    if errors or bundle is None:
        raise BundleError(errors or [BundleIssue("<bundle>", 0, "empty bundle")])
    return bundle


def check_bundle_texts(files: Mapping[str, str]) -> tuple[Bundle | None, list[BundleIssue]]:
    """Validate without raising: the bundle (``None`` on errors) and all issues found."""
    loader = _Loader()
    loader.run(files)
    errors = [i for i in loader.issues if i.severity == "error"]
    return (None if errors else loader.build()), loader.issues


def is_case_file(text: str) -> bool:
    """Whether a YAML text is a ``policy test`` case file rather than part of a bundle."""
    try:
        doc = parse(text)
    except YamlSyntaxError:
        return False
    return isinstance(doc, YMap) and "cases" in doc


class _Loader:
    def __init__(self) -> None:
        self.issues: list[BundleIssue] = []
        self.file = "<bundle>"
        self.name = "bundle"
        self.raw: dict[str, list[tuple[str, Any]]] = {s: [] for s in SECTIONS}
        self.datasets: dict[str, DatasetDef] = {}
        self.fields: dict[str, FieldDef] = {}
        self.purposes: dict[str, Purpose] = {}
        self.agencies: dict[str, Agency] = {}
        self.roles: set[str] = set()
        self.grants: list[Grant] = []
        self.denies: list[Deny] = []
        self.locations: dict[str, Location] = {}
        self.canonical: dict[str, Any] = {
            "datasets": {},
            "purposes": {},
            "agencies": {},
            "grants": {},
            "denies": {},
        }
        self.rule_ids: set[str] = set()

    # -- reporting ---------------------------------------------------------------------
    def error(self, container: Any, key: Any, message: str) -> None:
        self.issues.append(BundleIssue(self.file, line_of(container, key), message))

    def loc(self, container: Any, key: Any = None) -> Location:
        return Location(self.file, line_of(container, key))

    # -- driver ------------------------------------------------------------------------
    def run(self, files: Mapping[str, str]) -> None:
        if not files:
            self.issues.append(BundleIssue("<bundle>", 0, "empty bundle: no files"))
            return
        for name in sorted(files):
            self.file = name
            try:
                doc = parse(files[name])
            except YamlSyntaxError as exc:
                self.issues.append(BundleIssue(name, exc.line, str(exc)))
                continue
            if doc is None:
                continue
            if not isinstance(doc, YMap):
                self.error(doc, None, "a bundle file must be a mapping of sections")
                continue
            if "cases" in doc:
                continue
            for key, value in doc.items():
                if key not in SECTIONS:
                    self.error(
                        doc, key, f"unknown section {key!r} (expected {', '.join(SECTIONS)})"
                    )
                else:
                    self.raw[key].append((name, (doc, key, value)))
        for section, method in (
            ("bundle", self._bundle),
            ("datasets", self._datasets),
            ("purposes", self._purposes),
            ("agencies", self._agencies),
            ("grants", self._grants),
            ("denies", self._denies),
        ):
            for name, item in self.raw[section]:
                self.file = name
                method(*item)
        if not self.issues and not self.datasets:
            self.issues.append(BundleIssue("<bundle>", 0, "the bundle defines no datasets"))

    def build(self) -> Bundle:
        self.canonical["name"] = self.name
        canonical = json.dumps(self.canonical, sort_keys=True, separators=(",", ":"))
        return Bundle(
            name=self.name,
            datasets=dict(self.datasets),
            agencies=dict(self.agencies),
            purposes=dict(self.purposes),
            grants=tuple(sorted(self.grants, key=lambda g: g.id)),
            denies=tuple(sorted(self.denies, key=lambda d: d.id)),
            locations=dict(self.locations),
            canonical=canonical,
        )

    # -- helpers -----------------------------------------------------------------------
    def mapping(self, parent: Any, key: Any, value: Any, what: str) -> YMap | None:
        if not isinstance(value, YMap):
            self.error(parent, key, f"{what} must be a mapping")
            return None
        return value

    def unknown_keys(self, spec: YMap, allowed: tuple[str, ...], what: str) -> None:
        for key in spec:
            if key not in allowed:
                self.error(
                    spec, key, f"unknown key {key!r} in {what} (allowed: {', '.join(allowed)})"
                )

    def text(self, spec: YMap, key: str, *, required: bool = False, default: str = "") -> str:
        if key not in spec or spec[key] is None:
            if required:
                self.error(spec, None, f"missing required key {key!r}")
            return default
        value = spec[key]
        if not isinstance(value, str) or not value.strip():
            self.error(spec, key, f"{key!r} must be a non-empty text")
            return default
        return value.strip()

    def names(
        self,
        spec: YMap,
        key: str,
        known: Mapping[str, Any] | set[str] | tuple[str, ...] | None,
        what: str,
    ) -> list[str]:
        """A string or a list of strings, each checked against ``known`` (when given)."""
        if key not in spec or spec[key] is None:
            return []
        value = spec[key]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            hint = ""
            if any(isinstance(i, (int, float)) for i in (items if isinstance(items, list) else [])):
                hint = ' (quote codes such as "35.78": unquoted, YAML reads a number)'
            self.error(spec, key, f"{key!r} must be a name or a list of names{hint}")
            return []
        out: list[str] = []
        for index, item in enumerate(items):
            where = (value, index) if isinstance(value, YList) else (spec, key)
            if known is not None and item not in known:
                self.error(where[0], where[1], f"unknown {what} {item!r}")
            elif item in out:
                self.error(where[0], where[1], f"{what} {item!r} listed twice")
            else:
                out.append(item)
        return out

    def flag(self, spec: YMap, key: str, default: bool) -> bool:
        value = spec.get(key, default)
        if not isinstance(value, bool):
            self.error(spec, key, f"{key!r} must be true or false")
            return default
        return value

    def new_rule_id(self, spec: YMap, what: str) -> str | None:
        rule_id = self.text(spec, "id", required=True)
        if not rule_id:
            return None
        if not _ID.match(rule_id):
            self.error(
                spec, "id", f"{what} id {rule_id!r} must be lower-case letters, digits, _ . -"
            )
            return None
        if rule_id in self.rule_ids:
            self.error(spec, "id", f"duplicate rule id {rule_id!r}")
            return None
        self.rule_ids.add(rule_id)
        return rule_id

    # -- sections ----------------------------------------------------------------------
    def _bundle(self, doc: YMap, key: str, value: Any) -> None:
        spec = self.mapping(doc, key, value, "'bundle'")
        if spec is None:
            return
        self.unknown_keys(spec, ("name", "description"), "bundle")
        self.name = self.text(spec, "name", default=self.name)

    def _datasets(self, doc: YMap, key: str, value: Any) -> None:
        section = self.mapping(doc, key, value, "'datasets'")
        if section is None:
            return
        for ds_id, spec in section.items():
            if not isinstance(ds_id, str) or not _ID.match(ds_id):
                self.error(section, ds_id, f"invalid dataset id {ds_id!r}")
                continue
            if ds_id in self.datasets:
                self.error(section, ds_id, f"dataset {ds_id!r} defined twice")
                continue
            spec = self.mapping(section, ds_id, spec, f"dataset {ds_id!r}")
            if spec is None:
                continue
            self.unknown_keys(spec, ("source", "key", "description", "fields"), "dataset")
            raw_fields = self.mapping(spec, "fields", spec.get("fields"), "'fields'")
            if raw_fields is None or not raw_fields:
                if raw_fields is not None:
                    self.error(spec, "fields", f"dataset {ds_id!r} has no fields")
                continue
            fields = [f for f in (self._field(ds_id, raw_fields, n) for n in raw_fields) if f]
            key_field = self.text(spec, "key", default="nik")
            source = self.text(spec, "source", default=ds_id)
            self.datasets[ds_id] = DatasetDef(
                ds_id, source, key_field, tuple(fields), self.loc(section, ds_id)
            )
            self.canonical["datasets"][ds_id] = {
                "source": source,
                "key": key_field,
                "fields": {
                    f.name: [f.kind, f.sensitivity.value, f.category, f.level, f.mask, f.generalise]
                    for f in fields
                },
            }

    def _field(self, ds_id: str, fields: YMap, name: Any) -> FieldDef | None:
        spec = fields[name]
        if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]*$", name):
            self.error(fields, name, f"invalid field name {name!r}")
            return None
        if name in self.fields:
            other = self.fields[name]
            self.error(
                fields,
                name,
                f"field {name!r} already defined in dataset {other.dataset!r} "
                f"({other.location}); field names are unique across datasets",
            )
            return None
        if spec is None:
            spec = YMap()
            spec.line, spec.key_lines = line_of(fields, name), {}
        elif isinstance(spec, str):  # shorthand: `religion: sensitive`
            value, spec = spec, YMap()
            spec.line, spec.key_lines = line_of(fields, name), {}
            spec["sensitivity"] = value
        if not isinstance(spec, YMap):
            self.error(fields, name, f"field {name!r} must be a mapping or a sensitivity")
            return None
        self.unknown_keys(
            spec,
            ("kind", "sensitivity", "category", "level", "mask", "generalise", "description"),
            "field",
        )
        kind = self.text(spec, "kind", default="text")
        if kind not in KINDS:
            self.error(spec, "kind", f"unknown kind {kind!r} (expected {', '.join(KINDS)})")
            return None
        try:
            sensitivity = Sensitivity(self.text(spec, "sensitivity", default="ordinary"))
        except ValueError:
            known = ", ".join(s.value for s in Sensitivity)
            self.error(spec, "sensitivity", f"unknown sensitivity (expected {known})")
            return None
        if sensitivity is Sensitivity.IDENTIFIER and kind == "text":
            kind = "identifier"
        category: str | None = self.text(spec, "category") or None
        if sensitivity is Sensitivity.SPECIFIC and category not in SPECIFIC_CATEGORIES:
            self.error(
                spec,
                "category" if "category" in spec else None,
                f"specific field {name!r} needs a category ({', '.join(SPECIFIC_CATEGORIES)})",
            )
        if sensitivity is not Sensitivity.SPECIFIC and category is not None:
            self.error(spec, "category", "only specific-data fields take a category")
        level: str | None = self.text(spec, "level") or None
        if kind in ("region_code", "region_name"):
            if level not in LEVELS or level == "address":
                self.error(
                    spec,
                    "level" if "level" in spec else None,
                    f"region field {name!r} needs a level (province, city, kecamatan, kelurahan)",
                )
                return None
        elif level is not None:
            self.error(spec, "level", "only region fields take a level")
        mask = default_mask(kind)
        if "mask" in spec:
            try:
                mask = parse_mask(self.text(spec, "mask"))
            except ValueError as exc:
                self.error(spec, "mask", str(exc))
        generalise: str | None = None
        if "generalise" in spec:
            try:
                generalise = parse_generalisation(self.text(spec, "generalise"), kind, level)
            except ValueError as exc:
                self.error(spec, "generalise", str(exc))
        elif kind == "date":
            generalise = "year"
        elif kind == "identifier":
            generalise = "region"
        field = FieldDef(
            name,
            ds_id,
            kind,
            sensitivity,
            category,
            level,
            mask,
            generalise,
            self.loc(fields, name),
        )
        self.fields[name] = field
        return field

    def _purposes(self, doc: YMap, key: str, value: Any) -> None:
        section = self.mapping(doc, key, value, "'purposes'")
        if section is None:
            return
        for code, spec in section.items():
            if not isinstance(code, str) or not _ID.match(code):
                self.error(section, code, f"invalid purpose code {code!r}")
                continue
            if code in self.purposes:
                self.error(section, code, f"purpose {code!r} defined twice")
                continue
            if isinstance(spec, str):
                purpose = Purpose(code, spec)
            else:
                spec = self.mapping(section, code, spec, f"purpose {code!r}")
                if spec is None:
                    continue
                self.unknown_keys(spec, ("name", "description"), "purpose")
                purpose = Purpose(
                    code, self.text(spec, "name", default=code), self.text(spec, "description")
                )
            self.purposes[code] = purpose
            self.locations[f"purpose:{code}"] = self.loc(section, code)
            self.canonical["purposes"][code] = [purpose.name, purpose.description]

    def _agencies(self, doc: YMap, key: str, value: Any) -> None:
        section = self.mapping(doc, key, value, "'agencies'")
        if section is None:
            return
        for agency_id, spec in section.items():
            if not isinstance(agency_id, str) or not _ID.match(agency_id):
                self.error(section, agency_id, f"invalid agency id {agency_id!r}")
                continue
            if agency_id in self.agencies:
                self.error(section, agency_id, f"agency {agency_id!r} defined twice")
                continue
            spec = self.mapping(section, agency_id, spec, f"agency {agency_id!r}")
            if spec is None:
                continue
            self.unknown_keys(
                spec, ("name", "description", "roles", "jurisdiction", "pseudonym_domain"), "agency"
            )
            roles = self.names(spec, "roles", None, "role")
            if not roles:
                self.error(
                    spec,
                    "roles" if "roles" in spec else None,
                    f"agency {agency_id!r} needs at least one role",
                )
            jurisdiction = self.names(spec, "jurisdiction", None, "region")
            for index, region in enumerate(jurisdiction):
                if not _REGION.match(region):
                    where = spec["jurisdiction"]
                    self.error(
                        where,
                        index if isinstance(where, YList) else None,
                        f"invalid region prefix {region!r} (e.g. 35.78 or 35.78.08)",
                    )
            if not jurisdiction:
                self.error(
                    spec,
                    "jurisdiction" if "jurisdiction" in spec else None,
                    f"agency {agency_id!r} needs a jurisdiction (region prefixes)",
                )
            agency = Agency(
                id=agency_id,
                name=self.text(spec, "name", default=agency_id),
                roles=tuple(roles),
                jurisdiction=tuple(jurisdiction),
                pseudonym_domain=self.text(spec, "pseudonym_domain", default=agency_id),
            )
            self.agencies[agency_id] = agency
            self.roles.update(roles)
            self.locations[f"agency:{agency_id}"] = self.loc(section, agency_id)
            self.canonical["agencies"][agency_id] = [
                agency.name,
                sorted(agency.roles),
                sorted(agency.jurisdiction),
                agency.pseudonym_domain,
            ]

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
        self.unknown_keys(spec, _GRANT_KEYS, "grant")
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
        actions = self.names(spec, "actions", None, "action") or list(_GRANT_ACTIONS)
        for index, action in enumerate(actions):
            if action not in _GRANT_ACTIONS:
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
        fields, named, raw_fields = self._grant_fields(spec, datasets)
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
            self.unknown_keys(spec, _DENY_KEYS, "deny")
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
