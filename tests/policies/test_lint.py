"""``policy lint`` warnings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import policies
from tests.policies.conftest import DEMO, texts

RULES = """
grants:
  - id: shadowed
    roles: [social]
    datasets: [people]
    purposes: [help]
    fields: {full_name: clear}
  - id: names-religion
    roles: [health]
    datasets: [people]
    purposes: [count]
    fields: {religion: clear, full_name: clear}
    reidentify: true
  - id: nobody
    roles: [astronaut]
    datasets: [people]
    purposes: [count]
    fields: {full_name: clear}
    valid_until: 2025-01-01
denies:
  - id: no-help
    purposes: [help]
  - id: no-religion
    purposes: [count]
    fields: [religion]
"""


def test_lint_warns_about_likely_mistakes() -> None:
    files = texts(RULES)
    issues = policies.lint_bundle_texts(files, at=datetime(2026, 6, 1, tzinfo=UTC))
    messages = [(i.file, i.line, i.message) for i in issues if i.severity == "warning"]
    assert ("rules.yaml", 3, "grant 'shadowed' is entirely overridden by deny no-help") in messages
    assert (
        "rules.yaml",
        8,
        "grant 'names-religion' names 'religion', which deny no-religion removes",
    ) in messages
    assert (
        "rules.yaml",
        8,
        "grant 'names-religion' allows re-identification without requiring a legal basis",
    ) in messages
    assert ("rules.yaml", 14, "grant 'nobody' applies to no agency") in messages
    assert ("rules.yaml", 14, "grant 'nobody' has expired") in messages
    assert not [i for i in issues if i.severity == "error"]


def test_a_shared_or_reserved_pseudonym_domain_is_an_error() -> None:
    """Two agencies in one domain link their pseudonyms; a leading '_' is the gateway's
    own (the resident report's): both refuse the bundle, naming file and line."""
    files = texts(RULES)
    shared = dict(files)
    shared["base.yaml"] = files["base.yaml"].replace(
        "gamma: {name: Gamma,", "gamma: {pseudonym_domain: alpha, name: Gamma,"
    )
    reserved = dict(files)
    reserved["base.yaml"] = files["base.yaml"].replace(
        "gamma: {name: Gamma,", "gamma: {pseudonym_domain: _resident_report, name: Gamma,"
    )
    for bundle, message in (
        (shared, "share the pseudonym domain 'alpha'"),
        (reserved, "pseudonym domain '_resident_report' is reserved"),
    ):
        errors = [i for i in policies.lint_bundle_texts(bundle) if i.severity == "error"]
        assert [(i.file, message in i.message) for i in errors] == [("base.yaml", True)]
        assert errors[0].line > 0
        with pytest.raises(policies.BundleError, match=r"base\.yaml:\d+"):
            policies.compile_bundle(policies.load_bundle_texts(bundle))


def test_lint_reports_errors_too() -> None:
    issues = policies.lint_bundle_texts(texts(RULES.replace("[help]", "[helping]", 1)))
    assert [(i.file, i.line, i.severity) for i in issues if i.severity == "error"] == [
        ("rules.yaml", 6, "error")
    ]


def test_the_demo_bundle_is_lint_clean() -> None:
    files = {
        n: t for n, t in policies.read_bundle_files(DEMO).items() if not policies.is_case_file(t)
    }
    assert policies.lint_bundle_texts(files, at=datetime(2026, 6, 1, tzinfo=UTC)) == []
