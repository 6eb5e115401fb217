"""``policy lint`` warnings."""

from __future__ import annotations

from datetime import UTC, datetime

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
    files["base.yaml"] = files["base.yaml"].replace(
        "gamma: {name: Gamma,", "gamma: {pseudonym_domain: alpha, name: Gamma,"
    )
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
    assert any("share the pseudonym domain 'alpha'" in m[2] for m in messages)
    assert not [i for i in issues if i.severity == "error"]


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
