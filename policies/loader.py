"""Loading and validating YAML bundles. Every problem is reported as ``file:line``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from policies.bundlecheck import ID, SECTIONS
from policies.errors import BundleError, BundleIssue
from policies.methods import KINDS, LEVELS, default_mask, parse_generalisation, parse_mask
from policies.model import (
    SPECIFIC_CATEGORIES,
    Agency,
    Bundle,
    DatasetDef,
    FieldDef,
    Purpose,
    Sensitivity,
)
from policies.rules import RuleSections
from policies.yamlmarks import YamlSyntaxError, YList, YMap, line_of, parse

_REGION = re.compile(r"^[0-9]{2}(\.[0-9]{2}(\.[0-9]{2}(\.[0-9]{4})?)?)?$")


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


class _Loader(RuleSections):
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
            if not isinstance(ds_id, str) or not ID.match(ds_id):
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
            if not isinstance(code, str) or not ID.match(code):
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
                self.unknown_keys(
                    spec, ("name", "description", "name_id", "description_id"), "purpose"
                )
                purpose = Purpose(
                    code,
                    self.text(spec, "name", default=code),
                    self.text(spec, "description"),
                    self.text(spec, "name_id"),
                    self.text(spec, "description_id"),
                )
            self.purposes[code] = purpose
            self.locations[f"purpose:{code}"] = self.loc(section, code)
            entry = [purpose.name, purpose.description]
            if purpose.name_id or purpose.description_id:
                # Only then: a bundle without Indonesian names keeps its version.
                entry += [purpose.name_id, purpose.description_id]
            self.canonical["purposes"][code] = entry

    def _agencies(self, doc: YMap, key: str, value: Any) -> None:
        section = self.mapping(doc, key, value, "'agencies'")
        if section is None:
            return
        for agency_id, spec in section.items():
            if not isinstance(agency_id, str) or not ID.match(agency_id):
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
            domain = self.text(spec, "pseudonym_domain", default=agency_id)
            self._check_domain(spec, agency_id, domain)
            agency = Agency(
                id=agency_id,
                name=self.text(spec, "name", default=agency_id),
                roles=tuple(roles),
                jurisdiction=tuple(jurisdiction),
                pseudonym_domain=domain,
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

    def _check_domain(self, spec: YMap, agency_id: str, domain: str) -> None:
        """A pseudonym domain is one agency's alone, and never a reserved one.

        Security decision: two agencies in one domain get the same pseudonyms, so their
        records link; a domain with a leading ``_`` is the gateway's own (the resident
        report's, for one), and an agency in it could read or resolve its tokens.
        """
        where = "pseudonym_domain" if "pseudonym_domain" in spec else None
        if domain.startswith("_"):
            self.error(spec, where, f"pseudonym domain {domain!r} is reserved (leading '_')")
        owner = self.domains.setdefault(domain, agency_id)
        if owner != agency_id:
            self.error(
                spec,
                where,
                f"agencies {owner!r} and {agency_id!r} share the pseudonym domain {domain!r}: "
                "their pseudonyms would be linkable",
            )
