"""The demo bundle's case file, and the case runner itself."""

from __future__ import annotations

import pytest

import policies
from tests.policies.conftest import DEMO


def test_demo_cases_pass(demo_policy: policies.Policy) -> None:
    cases = policies.load_cases((DEMO / "cases.yaml").read_text(encoding="utf-8"))
    assert len(cases) >= 30
    results = policies.run_cases(demo_policy, cases)
    failed = [(r.name, r.problems) for r in results if not r.passed]
    assert not failed


def test_a_wrong_expectation_fails_with_its_line(demo_policy: policies.Policy) -> None:
    text = """
cases:
  - name: claims planning may see religion
    request: {agency: bappeda, purpose: development_planning, fields: [religion]}
    expect: {allowed: true, treatments: {religion: clear}}
  - name: claims the child is released
    request: {agency: dinsos, purpose: social_assistance, fields: [full_name]}
    record: {nik: "3578084107150001", birth_date: 2015-07-01, kelurahan_code: 35.78.08.1001}
    today: 2026-06-01
    expect: {release: ok}
"""
    results = policies.run_cases(demo_policy, policies.load_cases(text, "mine.yaml"))
    assert [r.passed for r in results] == [False, False]
    assert results[0].line == 3 and results[0].file == "mine.yaml"
    assert "allowed: expected True, got False" in results[0].problems
    assert "treatment of religion: expected 'clear', got None" in results[0].problems
    assert results[1].problems == ("release: expected ok, got specific_data_denied",)


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("cases:\n  - name: x\n    request: {agency: a}\n", 2, "'expect'"),
        ("cases:\n  - request: {agency: a, colour: red}\n    expect: {}\n", 2, "colour"),
        ("cases:\n  - request: {agency: a}\n    expect: {allowed: true, vibe: ok}\n", 2, "vibe"),
        ("cases:\n  - request: {agency: a}\n    expect: {release: ok}\n", 2, "need a 'record'"),
        ("cases:\n  - request: {agency: a, at: yesterday}\n    expect: {}\n", 2, "invalid time"),
        ("nothing: here\n", 1, "'cases' list"),
    ],
)
def test_malformed_case_files_name_file_and_line(text: str, line: int, needle: str) -> None:
    with pytest.raises(policies.BundleError) as info:
        policies.load_cases(text, "bad.yaml")
    assert any(
        i.file == "bad.yaml" and i.line == line and needle in i.message for i in info.value.issues
    )


def test_cached_and_uncached_decisions_agree(demo_policy: policies.Policy) -> None:
    for case in policies.load_cases((DEMO / "cases.yaml").read_text(encoding="utf-8")):
        cached = demo_policy.decide(case.request)
        fresh = demo_policy.decide_uncached(case.request)
        assert fresh is not cached
        assert fresh.to_dict() == cached.to_dict()
