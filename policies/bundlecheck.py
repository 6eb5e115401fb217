"""The base of the bundle loader: reporting problems by file and line, typed getters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from policies.errors import BundleIssue
from policies.model import Agency, DatasetDef, Deny, FieldDef, Grant, Location, Purpose
from policies.yamlmarks import YList, YMap, line_of

SECTIONS = ("bundle", "datasets", "purposes", "agencies", "grants", "denies")
ID = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")


class Checker:
    """State shared by the loader's sections, and helpers that record issues."""

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
        # Pseudonym domain -> the agency that has it: a domain is one agency's alone.
        self.domains: dict[str, str] = {}

    # -- reporting ---------------------------------------------------------------------
    def error(self, container: Any, key: Any, message: str) -> None:
        self.issues.append(BundleIssue(self.file, line_of(container, key), message))

    def loc(self, container: Any, key: Any = None) -> Location:
        return Location(self.file, line_of(container, key))

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
        if not ID.match(rule_id):
            self.error(
                spec, "id", f"{what} id {rule_id!r} must be lower-case letters, digits, _ . -"
            )
            return None
        if rule_id in self.rule_ids:
            self.error(spec, "id", f"duplicate rule id {rule_id!r}")
            return None
        self.rule_ids.add(rule_id)
        return rule_id
