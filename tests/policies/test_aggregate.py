"""The aggregate action: who may count what, and where."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest

import policies
from policies.aggregate import AggregateRequest, parse_aggregate

DEMO = Path(__file__).resolve().parents[2] / "policies" / "bundles" / "demo"


@pytest.fixture(scope="module")
def policy() -> policies.Policy:
    return policies.compile_bundle(policies.load_bundle(DEMO))


def _ask(
    policy: policies.Policy,
    agency: str = "bappeda",
    purpose: str = "statistics",
    group_by: tuple[str, ...] = ("kecamatan_code", "sex", "age_band"),
    filters: dict[str, tuple[str, ...]] | None = None,
) -> policies.AggregateDecision:
    return policy.decide_aggregate(
        AggregateRequest(
            agency,
            purpose,
            "civil_registry",
            "residents",
            group_by,
            filters or {},
            datetime.now(UTC),
        )
    )


def test_planning_counts_by_region_sex_and_age(policy: policies.Policy) -> None:
    decision = _ask(policy, filters={"kecamatan_code": ("35.78.08",)})
    assert decision.allowed
    assert decision.rule_ids == ("planning-statistics",)
    assert decision.min_cell == 10
    assert decision.epsilon == Fraction(1, 2)
    assert decision.jurisdiction == ("35.78",)


def test_a_purpose_without_an_aggregate_grant_is_refused(policy: policies.Policy) -> None:
    assert _ask(policy, agency="dinsos", purpose="social_assistance").code == (
        "purpose_not_permitted"
    )


def test_a_dimension_not_granted_is_refused(policy: policies.Policy) -> None:
    decision = _ask(policy, group_by=("kecamatan_code", "disability"))
    assert decision.code == "dimension_not_permitted"
    assert "disability" in decision.explanation


def test_a_filter_outside_the_jurisdiction_is_refused(policy: policies.Policy) -> None:
    decision = _ask(policy, filters={"kecamatan_code": ("35.73.01",)})
    assert decision.code == "filter_outside_jurisdiction"


def test_a_prefix_lookalike_is_outside(policy: policies.Policy) -> None:
    assert _ask(policy, filters={"kelurahan_code": ("35.780",)}).code == (
        "filter_outside_jurisdiction"
    )


def test_an_unknown_agency_is_refused(policy: policies.Policy) -> None:
    assert _ask(policy, agency="satpol_pp").code == "unknown_agency"


def test_a_wildcard_never_reaches_specific_dimensions() -> None:
    rule, problems = parse_aggregate({"dimensions": ["*"]})
    assert not problems and rule is not None
    assert "disability" not in rule.dimensions
    assert "sex" in rule.dimensions


@pytest.mark.parametrize(
    "raw",
    [
        {"dimensions": ["shoe_size"]},
        {"dimensions": ["sex"], "min_cell": 1},
        {"dimensions": ["sex"], "epsilon": "-1"},
        {"dimensions": ["sex"], "colour": 1},
    ],
)
def test_a_malformed_block_is_refused(raw: dict[str, object]) -> None:
    rule, problems = parse_aggregate(raw)
    assert rule is None and problems


def test_record_reads_are_untouched_by_an_aggregate_grant(policy: policies.Policy) -> None:
    decision = policy.decide(
        policies.AccessRequest(
            agency="bappeda",
            purpose="statistics",
            action="read",
            fields=None,
            legal_basis=None,
            at=datetime.now(UTC),
        )
    )
    assert "planning-statistics" not in decision.rule_ids


def test_explain_covers_the_aggregate_action() -> None:
    from typer.testing import CliRunner

    from gateway.cli.policy import app

    runner = CliRunner()
    base = [
        "explain",
        str(DEMO),
        "--agency",
        "bappeda",
        "--purpose",
        "statistics",
        "--action",
        "aggregate",
    ]
    ok = runner.invoke(
        app,
        [
            *base,
            "--group-by",
            "kecamatan_code,sex,age_band",
            "--filters",
            "kecamatan_code=35.78.08",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "planning-statistics" in ok.output and "min_cell 10" in ok.output
    outside = runner.invoke(
        app, [*base, "--group-by", "sex", "--filters", "kecamatan_code=51.71.01"]
    )
    assert outside.exit_code == 1 and "jurisdiction" in outside.output
