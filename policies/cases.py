"""``policy test``: expected decisions written as YAML cases, checked against a policy.

A case file looks like this (see ``policies/README.md`` for every key)::

    defaults: {at: 2026-06-01T08:00:00+07:00, today: 2026-06-01}
    cases:
      - name: planning never sees religion
        request: {agency: bappeda, purpose: development_planning, fields: [religion]}
        expect: {allowed: false, code: policy_denied, rule_ids: [no-religion-for-planning]}
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from policies.decision import AccessRequest, Decision
from policies.engine import Policy
from policies.errors import BundleError, BundleIssue, RowFiltered, SpecificDataDenied
from policies.pseudonyms import KEY_BYTES, Pseudonymiser
from policies.yamlmarks import YamlSyntaxError, YList, YMap, line_of, parse

_REQUEST_KEYS = ("agency", "purpose", "action", "fields", "legal_basis", "at")
_EXPECT_KEYS = (
    "allowed",
    "code",
    "treatments",
    "absent",
    "subject",
    "rule_ids",
    "reasons",
    "jurisdiction",
    "cap",
    "reidentify",
    "specific_data",
    "row_filter",
    "release",
    "released",
    "withheld",
)
_RELEASE_OUTCOMES = ("ok", "row_filtered", "specific_data_denied")
#: In ``released`` expectations, this matches any pseudonym token.
ANY_PSEUDONYM = "<pseudonym>"


@dataclass(frozen=True)
class Case:
    name: str
    request: AccessRequest
    expect: Mapping[str, Any]
    record: Mapping[str, object] | None
    today: date
    file: str
    line: int


@dataclass(frozen=True)
class CaseResult:
    """One case's outcome; ``problems`` says what differed from the expectation."""

    name: str
    file: str
    line: int
    passed: bool
    problems: tuple[str, ...]
    decision: Decision


def load_cases(text: str, file: str = "cases.yaml") -> list[Case]:
    """Parse a case file; malformed cases raise ``BundleError`` naming ``file:line``."""
    issues: list[BundleIssue] = []
    try:
        doc = parse(text)
    except YamlSyntaxError as exc:
        raise BundleError([BundleIssue(file, exc.line, str(exc))]) from None
    if not isinstance(doc, YMap) or not isinstance(doc.get("cases"), YList):
        raise BundleError([BundleIssue(file, line_of(doc), "a case file needs a 'cases' list")])
    defaults = doc.get("defaults") or YMap()
    default_at = _when(defaults.get("at"), datetime.now(UTC))
    default_today = _day(defaults.get("today"), default_at.date())
    cases: list[Case] = []
    for index, spec in enumerate(doc["cases"]):
        line = line_of(doc["cases"], index)
        problem = _check(spec)
        if problem:
            issues.append(BundleIssue(file, line, problem))
            continue
        req = spec["request"]
        try:
            at = _when(req.get("at"), default_at)
            today = _day(spec.get("today"), default_today)
        except ValueError as exc:
            issues.append(BundleIssue(file, line, str(exc)))
            continue
        fields = req.get("fields")
        request = AccessRequest(
            agency=str(req.get("agency", "")),
            purpose=str(req.get("purpose", "")),
            action=req.get("action", "read"),
            fields=None if fields is None else tuple(str(f) for f in fields),
            legal_basis=None if req.get("legal_basis") is None else str(req["legal_basis"]),
            at=at,
        )
        record = spec.get("record")
        if record is not None:  # YAML reads 1985-06-01 as a date; records carry ISO text
            record = {k: v.isoformat() if isinstance(v, date) else v for k, v in record.items()}
        cases.append(
            Case(
                str(spec.get("name", f"case {index + 1}")),
                request,
                dict(spec["expect"]),
                record,
                today,
                file,
                line,
            )
        )
    if issues:
        raise BundleError(issues)
    return cases


def _check(spec: Any) -> str | None:
    if not isinstance(spec, YMap):
        return "each case must be a mapping with 'request' and 'expect'"
    unknown = [k for k in spec if k not in ("name", "request", "expect", "record", "today")]
    if unknown:
        return f"unknown key {unknown[0]!r} in case"
    if not isinstance(spec.get("request"), YMap) or not isinstance(spec.get("expect"), YMap):
        return "a case needs a 'request' mapping and an 'expect' mapping"
    bad = [k for k in spec["request"] if k not in _REQUEST_KEYS]
    if bad:
        return f"unknown request key {bad[0]!r} (allowed: {', '.join(_REQUEST_KEYS)})"
    bad = [k for k in spec["expect"] if k not in _EXPECT_KEYS]
    if bad:
        return f"unknown expectation {bad[0]!r} (allowed: {', '.join(_EXPECT_KEYS)})"
    expect = spec["expect"]
    if ("release" in expect or "released" in expect) and not isinstance(spec.get("record"), YMap):
        return "release expectations need a 'record'"
    if "release" in expect and expect["release"] not in _RELEASE_OUTCOMES:
        return f"'release' must be one of {', '.join(_RELEASE_OUTCOMES)}"
    return None


def _when(value: Any, default: datetime) -> datetime:
    if value is None:
        return default
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(12), tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"invalid time {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day(value: Any, default: date) -> date:
    if value is None:
        return default
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"invalid date {value!r}") from None


def case_pseudonymiser(domain: str) -> Pseudonymiser:
    """A pseudonymiser with a key derived from the domain name: for test cases only."""
    key = hashlib.shake_256(b"satugate policy test key/" + domain.encode()).digest(KEY_BYTES)
    return Pseudonymiser(domain, {1: key}, 1)


def run_cases(policy: Policy, cases: list[Case]) -> list[CaseResult]:
    """Decide every case and compare with its expectation."""
    return [_run(policy, case) for case in cases]


def _run(policy: Policy, case: Case) -> CaseResult:
    decision = policy.decide(case.request)
    got = decision.to_dict()
    problems: list[str] = []
    expect = case.expect
    for key in ("allowed", "code", "subject", "cap", "reidentify", "specific_data", "row_filter"):
        if key in expect and got[key] != expect[key]:
            problems.append(f"{key}: expected {expect[key]!r}, got {got[key]!r}")
    for key in ("rule_ids", "reasons", "jurisdiction"):
        if key in expect and sorted(got[key]) != sorted(expect[key] or []):
            problems.append(f"{key}: expected {sorted(expect[key] or [])}, got {sorted(got[key])}")
    for name, want in (expect.get("treatments") or {}).items():
        have = got["treatments"].get(name)
        if have != want:
            problems.append(f"treatment of {name}: expected {want!r}, got {have!r}")
    for name in expect.get("absent") or []:
        if name in got["treatments"]:
            problems.append(f"{name}: expected absent, got {got['treatments'][name]!r}")
    if case.record is not None and ("release" in expect or "released" in expect):
        problems.extend(_check_release(policy, decision, case))
    return CaseResult(case.name, case.file, case.line, not problems, tuple(problems), decision)


def _check_release(policy: Policy, decision: Decision, case: Case) -> list[str]:
    if not decision.allowed:
        return ["release expected, but the request was denied"]
    want = case.expect.get("release", "ok")
    record = dict(case.record or {})
    try:
        released = policy.release(
            decision,
            record,
            pseudonymiser=case_pseudonymiser(decision.pseudonym_domain),
            today=case.today,
        )
        outcome = "ok"
    except RowFiltered:
        outcome = "row_filtered"
    except SpecificDataDenied:
        outcome = "specific_data_denied"
    if outcome != want:
        return [f"release: expected {want}, got {outcome}"]
    problems: list[str] = []
    if outcome == "ok":
        for name, value in (case.expect.get("released") or {}).items():
            have = released.record.get(name, "<absent>")
            if value == ANY_PSEUDONYM and isinstance(have, str) and have.startswith("ps2."):
                continue
            if have != value:
                problems.append(f"released {name}: expected {value!r}, got {have!r}")
        for name in case.expect.get("withheld") or []:
            if name in released.record:
                problems.append(f"released {name}: expected withheld, got a value")
    return problems
