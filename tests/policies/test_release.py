"""release(): row filters, the children's rule, treatments, nested identifiers."""

from __future__ import annotations

from datetime import date

import pytest

import policies
from policies import Pseudonymiser, Treatment
from tests.policies.conftest import compile_texts, keys, request

TODAY = date(2026, 6, 1)
RULES = """
grants:
  - id: help-people
    roles: [social]
    datasets: [people]
    purposes: [help]
    fields:
      "*": clear
      full_name: mask
      birth_date: generalise:age_band
      street: generalise:kelurahan
  - id: count-people
    roles: [social]
    datasets: [people]
    purposes: [count]
    children: true
    jurisdiction: false
    where: "decile <= 4"
    fields:
      nik: clear
      decile: generalise
      kelurahan_code: generalise
"""
ADULT = {
    "nik": "3578081506850003",
    "full_name": "Budi Santoso",
    "birth_date": "1985-06-15",
    "religion": "ISLAM",
    "kelurahan_code": "35.78.08.1001",
    "kecamatan_name": "GUBENG",
    "street": "Jl. Karang Menjangan 12",
    "decile": 3,
    "income": 2_500_000,
}
CHILD = {**ADULT, "nik": "3578084107150001", "birth_date": "2015-07-01"}


@pytest.fixture
def alpha() -> Pseudonymiser:
    return Pseudonymiser("alpha", keys(1), 1)


@pytest.fixture
def policy() -> policies.Policy:
    return compile_texts(RULES)


def test_fields_are_treated_and_unreleased_ones_dropped(
    policy: policies.Policy, alpha: Pseudonymiser
) -> None:
    decision = policy.decide(
        request(fields=("nik", "full_name", "birth_date", "street", "religion"))
    )
    released = policy.release(decision, ADULT, pseudonymiser=alpha, today=TODAY)
    assert released.record == {
        "nik": alpha.pseudonymise(str(ADULT["nik"])),
        "full_name": "B. S.",
        "birth_date": "40-49",
        "street": None,  # generalised to the kelurahan name, which this record lacks
        "religion": "ISLAM",
    }
    assert released.subject == alpha.pseudonymise(str(ADULT["nik"]))
    assert alpha.resolve(released.subject) == ADULT["nik"]
    assert released.treatments["birth_date"] == "generalise"
    assert "income" not in released.record and "decile" not in released.record


def test_withheld_fields_are_listed_but_absent(alpha: Pseudonymiser) -> None:
    policy = compile_texts(RULES.replace("full_name: mask", "full_name: withhold"))
    decision = policy.decide(request(fields=("full_name", "kelurahan_code")))
    released = policy.release(decision, ADULT, pseudonymiser=alpha, today=TODAY)
    assert released.record == {"kelurahan_code": "35.78.08.1001"}
    assert released.treatments == {"full_name": "withhold", "kelurahan_code": "clear"}


def test_records_outside_the_jurisdiction_are_filtered(
    policy: policies.Policy, alpha: Pseudonymiser
) -> None:
    decision = policy.decide(request(fields=("full_name",)))
    for code in ("51.71.01.1002", "35.781.01.1001", None):
        with pytest.raises(policies.RowFiltered):
            policy.release(
                decision, {**ADULT, "kelurahan_code": code}, pseudonymiser=alpha, today=TODAY
            )


def test_row_filter_expression(policy: policies.Policy, alpha: Pseudonymiser) -> None:
    decision = policy.decide(request(purpose="count"))
    assert decision.row_filter == "decile <= 4" and decision.jurisdiction == ()
    released = policy.release(
        decision, {**ADULT, "kelurahan_code": "51.71.01.1002"}, pseudonymiser=alpha, today=TODAY
    )
    assert released.record == {"nik": ADULT["nik"], "decile": "3-5", "kelurahan_code": "51.71.01"}
    assert released.subject == ADULT["nik"]
    for decile in (5, None, "3"):
        with pytest.raises(policies.RowFiltered):
            policy.release(decision, {**ADULT, "decile": decile}, pseudonymiser=alpha, today=TODAY)


def test_a_childs_record_needs_an_explicit_grant(
    policy: policies.Policy, alpha: Pseudonymiser
) -> None:
    decision = policy.decide(request(fields=("full_name",)))
    with pytest.raises(policies.SpecificDataDenied):
        policy.release(decision, CHILD, pseudonymiser=alpha, today=TODAY)
    # The day the child turns 18, the record is an adult's.
    turned = {**CHILD, "birth_date": "2008-06-01"}
    assert policy.release(decision, turned, pseudonymiser=alpha, today=TODAY).record
    allowed = policy.decide(request(purpose="count"))
    released = policy.release(allowed, CHILD, pseudonymiser=alpha, today=TODAY)
    assert released.specific_data


def test_age_falls_back_to_the_nik_and_unknown_age_counts_as_a_child(
    policy: policies.Policy, alpha: Pseudonymiser
) -> None:
    decision = policy.decide(request(fields=("full_name",)))
    adult_by_nik = {k: v for k, v in ADULT.items() if k != "birth_date"}
    assert policy.release(decision, adult_by_nik, pseudonymiser=alpha, today=TODAY).record
    child_by_nik = {k: v for k, v in CHILD.items() if k != "birth_date"}
    with pytest.raises(policies.SpecificDataDenied):
        policy.release(decision, child_by_nik, pseudonymiser=alpha, today=TODAY)
    unknown = {"full_name": "X", "kelurahan_code": "35.78.08.1001"}
    with pytest.raises(policies.SpecificDataDenied):
        policy.release(decision, unknown, pseudonymiser=alpha, today=TODAY)


def test_every_grant_behind_a_field_must_allow_children(alpha: Pseudonymiser) -> None:
    rules = RULES + RULES.replace("grants:\n", "").replace("help-people", "help-kids").replace(
        "count-people", "count-kids"
    ).replace("purposes: [help]", "purposes: [help]\n    children: true")
    policy = compile_texts(rules)
    decision = policy.decide(request(fields=("full_name",)))
    assert decision.rule_ids == ("help-kids", "help-people")
    with pytest.raises(policies.SpecificDataDenied):
        policy.release(decision, CHILD, pseudonymiser=alpha, today=TODAY)


def test_identifiers_in_nested_structures_are_pseudonymised(alpha: Pseudonymiser) -> None:
    datasets_rules = RULES.replace('"*": clear', '"*": clear\n      family: clear')
    from tests.policies.conftest import DATASETS, texts

    bundle = policies.load_bundle_texts(
        texts(
            datasets_rules,
            datasets=DATASETS.replace(
                "      religion: sensitive", "      religion: sensitive\n      family: {}"
            ),
        )
    )
    policy = policies.compile_bundle(bundle)
    decision = policy.decide(request(fields=("nik", "family", "full_name")))
    record = {
        **ADULT,
        "family": [
            {"nik": "3578085506870004", "full_name": "Sri Wahyuni", "religion": "ISLAM", "x": 1},
            {"nik": "3578080101100005", "full_name": "Adi Santoso", "family": [{"nik": "1"}]},
        ],
    }
    released = policy.release(decision, record, pseudonymiser=alpha, today=TODAY)
    family = released.record["family"]
    assert isinstance(family, list)
    assert family[0] == {"nik": alpha.pseudonymise("3578085506870004"), "full_name": "S. W."}
    assert family[1]["nik"] == alpha.pseudonymise("3578080101100005")
    assert family[1]["family"] == [{"nik": alpha.pseudonymise("1")}]
    assert "3578085506870004" not in repr(released)


def test_release_refuses_mismatched_inputs(policy: policies.Policy, alpha: Pseudonymiser) -> None:
    denied = policy.decide(request(purpose="nothing"))
    with pytest.raises(ValueError, match="denied"):
        policy.release(denied, ADULT, pseudonymiser=alpha, today=TODAY)
    decision = policy.decide(request())
    with pytest.raises(ValueError, match="another domain"):
        policy.release(
            decision, ADULT, pseudonymiser=Pseudonymiser("beta", keys(2), 1), today=TODAY
        )
    other = compile_texts(RULES.replace("full_name: mask", "full_name: withhold"))
    with pytest.raises(ValueError, match="another policy version"):
        other.release(decision, ADULT, pseudonymiser=alpha, today=TODAY)


def test_demo_agencies_get_different_stable_pseudonyms(demo_policy: policies.Policy) -> None:
    record = {
        "nik": "3578081506850003",
        "birth_date": "1985-06-15",
        "kelurahan_code": "35.78.08.1001",
        "full_name": "Budi Santoso",
    }
    dinsos = Pseudonymiser("dinsos", keys(10), 1)
    dinkes = Pseudonymiser("dinkes", keys(11), 1)
    a = demo_policy.decide(request("dinsos", "social_assistance", ("nik", "full_name")))
    b = demo_policy.decide(request("dinkes", "immunisation", ("nik", "full_name")))
    ra = demo_policy.release(a, record, pseudonymiser=dinsos, today=TODAY)
    rb = demo_policy.release(b, record, pseudonymiser=dinkes, today=TODAY)
    assert ra.subject != rb.subject and ra.subject is not None and rb.subject is not None
    assert ra.subject == demo_policy.release(a, record, pseudonymiser=dinsos, today=TODAY).subject
    assert dinsos.resolve(ra.subject) == record["nik"]
    with pytest.raises(policies.ForeignPseudonym):
        dinsos.resolve(rb.subject)
    assert rb.record["full_name"] == "B. S." and ra.record["full_name"] == "Budi Santoso"
    assert a.treatments["nik"] is Treatment.PSEUDONYMISE


class _Counting(Pseudonymiser):
    """A pseudonymiser that counts its work."""

    calls = 0

    def pseudonymise(self, value: str, field: str = "nik") -> str:
        self.calls += 1
        return super().pseudonymise(value, field)


def test_the_subject_reuses_the_released_nik_token_and_stands_alone_without_it(
    policy: policies.Policy,
) -> None:
    counting = _Counting("alpha", keys(1), 1)
    decision = policy.decide(request(fields=("nik", "religion")))
    with_nik = policy.release(decision, ADULT, pseudonymiser=counting, today=TODAY)
    assert with_nik.subject == with_nik.record["nik"] == counting.pseudonymise(str(ADULT["nik"]))
    assert counting.calls == 2  # one for the record and its subject, one just now

    counting.calls = 0
    without_nik = policy.release(
        policy.decide(request(fields=("religion",))), ADULT, pseudonymiser=counting, today=TODAY
    )
    assert "nik" not in without_nik.record
    assert without_nik.subject == Pseudonymiser("alpha", keys(1), 1).pseudonymise(str(ADULT["nik"]))
    assert counting.calls == 1
