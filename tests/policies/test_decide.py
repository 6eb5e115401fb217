"""The semantic rules of decide(), one test per rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import policies
from policies import Treatment
from tests.policies.conftest import AT, compile_texts, request

BASE_GRANT = """
grants:
  - id: help-people
    roles: [social]
    datasets: [people]
    purposes: [help]
    fields:
      "*": clear
"""


def test_default_deny_without_grants() -> None:
    policy = compile_texts("grants: []\n")
    decision = policy.decide(request())
    assert not decision.allowed
    assert decision.code == "purpose_not_permitted"
    assert decision.treatments == {}


def test_a_purpose_in_no_grant_is_not_permitted() -> None:
    decision = compile_texts(BASE_GRANT).decide(request(purpose="count"))
    assert (decision.allowed, decision.code) == (False, "purpose_not_permitted")


def test_unknown_agency_and_field() -> None:
    policy = compile_texts(BASE_GRANT)
    assert policy.decide(request(agency="nobody")).code == "unknown_agency"
    assert policy.decide(request(fields=("shoe_size",))).code == "unknown_field"


def test_wildcard_grant_releases_ordinary_fields_and_pseudonymises_identifiers() -> None:
    decision = compile_texts(BASE_GRANT).decide(request())
    assert decision.allowed
    assert decision.treatments["full_name"] is Treatment.CLEAR
    assert decision.treatments["nik"] is Treatment.PSEUDONYMISE
    assert decision.subject is Treatment.PSEUDONYMISE


def test_specific_data_is_never_reached_by_a_wildcard() -> None:
    decision = compile_texts(BASE_GRANT).decide(request())
    assert "income" not in decision.treatments
    assert not decision.specific_data
    assert (
        compile_texts(BASE_GRANT).decide(request(fields=("income",))).code == "field_not_permitted"
    )


def test_specific_data_is_released_when_named() -> None:
    rules = BASE_GRANT + "      income: generalise\n"
    decision = compile_texts(rules).decide(request(fields=("income",)))
    assert decision.allowed and decision.specific_data
    assert decision.treatments == {"income": Treatment.GENERALISE}
    assert decision.methods == {"income": "band:1000"}


def test_explicit_deny_overrides_any_allow() -> None:
    rules = (
        BASE_GRANT
        + """
denies:
  - id: no-religion
    purposes: [help]
    fields: [religion]
"""
    )
    policy = compile_texts(rules)
    everything = policy.decide(request())
    assert everything.allowed and "religion" not in everything.treatments
    assert "no-religion" in everything.rule_ids
    asked = policy.decide(request(fields=("full_name", "religion")))
    assert (asked.allowed, asked.code, asked.rule_ids) == (False, "policy_denied", ("no-religion",))


def test_a_deny_without_fields_refuses_the_whole_request() -> None:
    rules = BASE_GRANT + "denies:\n  - id: not-alpha\n    agencies: [alpha]\n"
    policy = compile_texts(rules)
    assert policy.decide(request()).code == "policy_denied"
    assert policy.decide(request(agency="beta")).allowed


def test_a_deny_of_a_dataset_removes_all_its_fields() -> None:
    rules = BASE_GRANT + "denies:\n  - id: no-people\n    datasets: [people]\n"
    decision = compile_texts(rules).decide(request())
    assert (decision.code, decision.reasons) == ("policy_denied", ("all_fields_denied",))


def test_most_protective_treatment_wins_between_grants() -> None:
    rules = (
        BASE_GRANT
        + """
  - id: help-masked
    roles: [social]
    datasets: [people]
    purposes: [help]
    fields:
      full_name: mask
      birth_date: generalise:age_band:5
  - id: help-year
    roles: [social]
    datasets: [people]
    purposes: [help]
    fields:
      birth_date: generalise:year
      full_name: withhold
"""
    )
    decision = compile_texts(rules).decide(request(fields=("full_name", "birth_date", "street")))
    assert decision.treatments == {
        "full_name": Treatment.WITHHOLD,
        "birth_date": Treatment.GENERALISE,
        "street": Treatment.CLEAR,
    }
    assert decision.methods["birth_date"] == "age_band:5"  # a 5-year band hides more than a year
    assert decision.rule_ids == ("help-masked", "help-people", "help-year")


def test_treatments_are_ordered_by_protection() -> None:
    order = [
        Treatment.CLEAR,
        Treatment.MASK,
        Treatment.GENERALISE,
        Treatment.PSEUDONYMISE,
        Treatment.WITHHOLD,
    ]
    assert sorted(reversed(order)) == order
    assert max(Treatment.MASK, Treatment.PSEUDONYMISE) is Treatment.PSEUDONYMISE


VALID = BASE_GRANT + "    valid_from: 2026-01-01\n    valid_until: 2026-12-31\n"


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (datetime(2025, 12, 31, 23, 59, tzinfo=UTC), False),
        (datetime(2026, 1, 1, 0, 0, tzinfo=UTC), True),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), True),  # valid_until is inclusive
        (datetime(2027, 1, 1, 0, 0, tzinfo=UTC), False),
    ],
)
def test_expired_and_not_yet_valid_grants_are_absent(at: datetime, allowed: bool) -> None:
    decision = compile_texts(VALID).decide(request(at=at))
    assert decision.allowed is allowed
    if not allowed:
        assert decision.code == "purpose_not_permitted"


def test_naive_times_are_taken_as_utc() -> None:
    policy = compile_texts(VALID)
    assert policy.decide(request(at=datetime(2026, 1, 1, 0, 0))).allowed
    assert not policy.decide(request(at=datetime(2025, 12, 31, 23, 0))).allowed


LEGAL = BASE_GRANT + '    legal_basis: "PKS/ALPHA/<n>/<yyyy>"\n'


@pytest.mark.parametrize(
    ("legal_basis", "allowed", "reason"),
    [
        (None, False, "legal_basis_missing"),
        ("PKS/ALPHA/12/2025", True, "granted"),
        ("PKS/ALPHA/12/25", False, "legal_basis_mismatch"),
        ("PKS/ALPHA/12/2025/extra", False, "legal_basis_mismatch"),
        ("pks/alpha/12/2025", False, "legal_basis_mismatch"),
        ("PKS/ALPHA/.*/2025", False, "legal_basis_mismatch"),
    ],
)
def test_required_legal_basis(legal_basis: str | None, allowed: bool, reason: str) -> None:
    decision = compile_texts(LEGAL).decide(request(legal_basis=legal_basis))
    assert decision.allowed is allowed
    assert decision.reasons[0] == reason
    if not allowed:
        assert decision.code == "legal_basis_required"
        assert "PKS/ALPHA/<n>/<yyyy>" in decision.explanation


def test_a_field_only_a_gated_grant_gives_needs_the_legal_basis() -> None:
    rules = (
        BASE_GRANT
        + """
  - id: help-income
    roles: [social]
    datasets: [people]
    purposes: [help]
    fields: {income: clear}
    legal_basis: "PKS/<n>"
  - id: help-clinic
    roles: [social]
    datasets: [clinic]
    purposes: [help]
    fields: {clinic_name: clear}
    legal_basis: "MOU/<n>"
"""
    )
    policy = compile_texts(rules)
    assert "income" not in policy.decide(request()).treatments
    gated = policy.decide(request(fields=("income",)))
    assert (gated.code, gated.rule_ids) == ("legal_basis_required", ("help-income",))
    assert "PKS/<n>" in gated.explanation and "MOU" not in gated.explanation
    assert policy.decide(request(fields=("income",), legal_basis="PKS/4")).allowed
    assert policy.decide(request(fields=("clinic_name",), legal_basis="MOU/4")).allowed


def test_actions_and_reidentification() -> None:
    rules = BASE_GRANT + "    actions: [read]\n"
    policy = compile_texts(rules)
    assert policy.decide(request(action="search")).code == "action_not_permitted"
    assert policy.decide(request(action="resolve")).code == "reidentification_not_permitted"
    resolving = compile_texts(rules + "    reidentify: true\n").decide(request(action="resolve"))
    assert resolving.allowed and resolving.reidentify and resolving.treatments == {}


def test_roles_and_agencies_select_grants() -> None:
    rules = BASE_GRANT + "    agencies: [beta]\n"
    policy = compile_texts(rules)
    assert not policy.decide(request(agency="alpha")).allowed
    assert policy.decide(request(agency="beta")).allowed
    assert not policy.decide(request(agency="gamma")).allowed  # role planning


def test_subject_is_clear_only_when_a_grant_releases_nik_in_clear() -> None:
    assert (
        compile_texts(BASE_GRANT + "      nik: clear\n").decide(request()).subject
        is Treatment.CLEAR
    )
    mixed = (
        BASE_GRANT
        + "      nik: clear\n"
        + BASE_GRANT.replace("grants:\n", "")
        .replace("help-people", "other")
        .replace('"*": clear', "nik: pseudonymise")
    )
    assert compile_texts(mixed).decide(request()).subject is Treatment.PSEUDONYMISE


def test_cap_rates_jurisdiction_and_row_filter_combine_most_protectively() -> None:
    rules = (
        BASE_GRANT
        + """
    cap: 50
    rates: {per_client: 600/minute, per_officer: 2/second}
  - id: help-decile
    roles: [social]
    datasets: [people, clinic]
    purposes: [help]
    fields: {decile: generalise, clinic_name: clear}
    cap: 10
    rates: {per_client: 20/second, per_officer: 60/minute}
    jurisdiction: false
    where: "decile <= 4"
"""
    )
    decision = compile_texts(rules).decide(request())
    assert decision.cap == 10
    assert decision.rates == policies.Rates(per_client="600/minute", per_officer="60/minute")
    assert decision.jurisdiction == ("35.78",)
    assert decision.row_filter == "decile <= 4"
    only_clinic = compile_texts(rules).decide(request(fields=("clinic_name",)))
    assert only_clinic.jurisdiction == () and only_clinic.cap == 10
    assert only_clinic.row_filter == "decile <= 4"
    assert "decile" in only_clinic.fetch_fields  # release() needs it to apply the filter


def test_decisions_are_frozen_cached_and_json_able() -> None:
    policy = compile_texts(BASE_GRANT)
    first = policy.decide(request())
    assert policy.decide(request(at=AT.replace(hour=5))) is first
    with pytest.raises(AttributeError):
        first.allowed = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        first.treatments["nik"] = Treatment.CLEAR  # type: ignore[index]
    data = json.loads(json.dumps(first.to_dict()))
    assert data["policy_version"] == policy.version
    assert data["treatments"]["nik"] == "pseudonymise"
    assert "help-people" in first.explanation


def test_fields_as_a_list_are_accepted() -> None:
    policy = compile_texts(BASE_GRANT)
    listed = policies.AccessRequest("alpha", "help", "read", ["full_name"], None, AT)  # type: ignore[arg-type]
    assert policy.decide(listed).treatments == {"full_name": Treatment.CLEAR}


def test_catalog_lists_purposes_fields_and_treatments(demo_policy: policies.Policy) -> None:
    catalog = demo_policy.catalog("dinsos", AT)
    data = json.loads(json.dumps(catalog.to_dict()))
    purposes = {p["code"]: p for p in data["purposes"]}
    assert set(purposes) == {"social_assistance", "case_management"}
    assert purposes["case_management"]["legal_basis_required"] == ["PKS-DUKCAPIL/DINSOS/<n>/<yyyy>"]
    assert purposes["case_management"]["reidentify"] is True
    assert "resolve" not in purposes["social_assistance"]["actions"]
    fields = {f["name"]: f for d in data["datasets"] for f in d["fields"]}
    assert fields["monthly_income"]["treatments"] == {
        "social_assistance": "generalise",
        "case_management": "clear",
    }
    assert "chronic_conditions" not in fields
    assert demo_policy.catalog("inspektorat", AT).purposes == ()


def test_lookups(demo_policy: policies.Policy) -> None:
    assert demo_policy.dataset_of("welfare_decile") == "welfare"
    assert demo_policy.fields_of("health") == (
        "bpjs_class",
        "chronic_conditions",
        "disability_support_needs",
    )
    assert len(demo_policy.all_fields) == 42
    assert demo_policy.agencies["dinsos"].jurisdiction == ("35.78",)
    assert demo_policy.agencies["dinkes"].pseudonym_domain == "dinkes"
