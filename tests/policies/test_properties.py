"""Property tests over randomly generated bundles (hypothesis)."""

from __future__ import annotations

import random
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policies
from policies import Treatment
from tests.policies.conftest import AT, DATASETS, request

PEOPLE = [
    "nik",
    "full_name",
    "birth_date",
    "religion",
    "kelurahan_code",
    "kecamatan_name",
    "street",
    "income",
    "decile",
]
CLINIC = ["diagnosis", "clinic_name"]
SPECIFIC = {"income", "diagnosis"}
TREATMENTS = ["clear", "mask", "generalise", "pseudonymise", "withhold"]
GENERALISABLE = {"birth_date", "kelurahan_code", "street", "income", "decile", "nik"}
ROLES = ["social", "health", "planning"]
AGENCIES = {"alpha": {"social"}, "beta": {"social", "health"}, "gamma": {"planning"}}
PURPOSES = ["help", "count"]
ACTIONS = ["read", "search", "batch", "resolve"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def grants(draw: st.DrawFn, index: int) -> dict[str, Any]:
    datasets = draw(st.sampled_from([["people"], ["clinic"], ["people", "clinic"]]))
    names = [f for d in datasets for f in (PEOPLE if d == "people" else CLINIC)]
    chosen = draw(st.lists(st.sampled_from([*names, "*"]), min_size=1, max_size=4, unique=True))
    fields = {}
    for name in chosen:
        options = (
            TREATMENTS
            if name in GENERALISABLE or name == "*"
            else [t for t in TREATMENTS if t != "generalise"]
        )
        fields[name] = draw(st.sampled_from(options))
    grant: dict[str, Any] = {
        "id": f"g{index}",
        "roles": draw(st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True)),
        "datasets": datasets,
        "purposes": draw(st.lists(st.sampled_from(PURPOSES), min_size=1, unique=True)),
        "actions": draw(st.lists(st.sampled_from(ACTIONS[:3]), min_size=1, unique=True)),
        "fields": fields,
        "reidentify": draw(st.booleans()),
        "children": draw(st.booleans()),
        "jurisdiction": draw(st.booleans()),
    }
    if draw(st.booleans()):
        grant["legal_basis"] = "PKS/<n>"
    if draw(st.booleans()):
        grant["cap"] = draw(st.integers(1, 100))
    window = draw(
        st.sampled_from([None, ("2025-01-01", "2025-12-31"), ("2026-01-01", "2027-01-01")])
    )
    if window:
        grant["valid_from"], grant["valid_until"] = window
    return grant


@st.composite
def denies(draw: st.DrawFn, index: int) -> dict[str, Any]:
    deny: dict[str, Any] = {"id": f"d{index}"}
    for key, values in (
        ("roles", ROLES),
        ("purposes", PURPOSES),
        ("actions", ACTIONS),
        ("fields", PEOPLE + CLINIC),
        ("datasets", ["people", "clinic"]),
    ):
        if draw(st.booleans()):
            deny[key] = draw(st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True))
    if len(deny) == 1:
        deny["purposes"] = [draw(st.sampled_from(PURPOSES))]
    return deny


@st.composite
def rule_sets(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    count = draw(st.integers(0, 5))
    return (
        [draw(grants(i)) for i in range(count)],
        [draw(denies(i)) for i in range(draw(st.integers(0, 2)))],
    )


requests = st.builds(
    request,
    agency=st.sampled_from([*AGENCIES, "nobody"]),
    purpose=st.sampled_from([*PURPOSES, "unknown"]),
    fields=st.one_of(
        st.none(),
        st.lists(st.sampled_from(PEOPLE + CLINIC), min_size=1, max_size=3, unique=True).map(tuple),
    ),
    action=st.sampled_from(ACTIONS),
    legal_basis=st.sampled_from([None, "PKS/7", "other"]),
    at=st.sampled_from([AT, AT.replace(year=2025)]),
)


def compile_rules(
    grant_list: list[dict[str, Any]], deny_list: list[dict[str, Any]], split: bool = False
) -> policies.Policy:
    files = {"base.yaml": DATASETS}
    if split:
        for i, g in enumerate(grant_list):
            files[f"g{i:02d}.yaml"] = yaml.safe_dump({"grants": [g]})
        for i, d in enumerate(deny_list):
            files[f"d{i:02d}.yaml"] = yaml.safe_dump({"denies": [d]})
    else:
        files["rules.yaml"] = yaml.safe_dump({"grants": grant_list, "denies": deny_list})
    return policies.compile_bundle(policies.load_bundle_texts(files))


def _applies(grant: dict[str, Any], req: policies.AccessRequest) -> bool:
    if req.agency not in AGENCIES or AGENCIES[req.agency].isdisjoint(grant["roles"]):
        return False
    if req.purpose not in grant["purposes"]:
        return False
    if (
        "valid_from" in grant
        and not grant["valid_from"] <= req.at.date().isoformat() <= grant["valid_until"]
    ):
        return False
    if req.action == "resolve":
        return bool(grant["reidentify"])
    return req.action in grant["actions"]


def _covers(grant: dict[str, Any], field: str) -> bool:
    if field in grant["fields"]:
        return True
    in_datasets = any(field in (PEOPLE if d == "people" else CLINIC) for d in grant["datasets"])
    return "*" in grant["fields"] and in_datasets and field not in SPECIFIC


@SETTINGS
@given(rule_sets(), st.lists(requests, min_size=1, max_size=6))
def test_default_deny_holds_for_random_bundles(
    rules: Any, reqs: list[policies.AccessRequest]
) -> None:
    grant_list, deny_list = rules
    policy = compile_rules(grant_list, deny_list)
    for req in reqs:
        decision = policy.decide(req)
        assert policy.decide_uncached(req).to_dict() == decision.to_dict()
        applying = [g for g in grant_list if _applies(g, req)]
        if not applying:
            assert not decision.allowed, (req, decision.explanation)
        for name, treatment in decision.treatments.items():
            assert any(_covers(g, name) for g in applying), (name, decision.explanation)
            if name in SPECIFIC and treatment is not Treatment.WITHHOLD:
                assert any(name in g["fields"] for g in applying)  # named, never by wildcard


@SETTINGS
@given(rule_sets(), st.data(), st.lists(requests, min_size=1, max_size=6))
def test_adding_a_deny_never_widens_access(
    rules: Any, data: st.DataObject, reqs: list[policies.AccessRequest]
) -> None:
    grant_list, deny_list = rules
    before = compile_rules(grant_list, deny_list)
    extra = data.draw(denies(len(deny_list)))
    after = compile_rules(grant_list, [*deny_list, extra])
    for req in reqs:
        was, now = before.decide(req), after.decide(req)
        if now.allowed:
            assert was.allowed
            assert set(now.treatments) <= set(was.treatments)
            for name, treatment in now.treatments.items():
                assert treatment >= was.treatments[name]
            assert now.reidentify <= was.reidentify


@SETTINGS
@given(rule_sets(), st.randoms(use_true_random=False), st.lists(requests, min_size=1, max_size=6))
def test_rule_order_never_changes_a_decision(
    rules: Any, rng: random.Random, reqs: list[policies.AccessRequest]
) -> None:
    grant_list, deny_list = rules
    original = compile_rules(grant_list, deny_list)
    shuffled_grants = rng.sample(grant_list, len(grant_list))
    shuffled_denies = rng.sample(deny_list, len(deny_list))
    for grant in shuffled_grants:
        items = list(grant["fields"].items())
        rng.shuffle(items)
        grant["fields"] = dict(items)
    reordered = compile_rules(shuffled_grants, shuffled_denies, split=rng.random() < 0.5)
    assert reordered.version == original.version
    for req in reqs:
        assert reordered.decide(req).to_dict() == original.decide(req).to_dict()


@SETTINGS
@given(rule_sets(), st.data(), st.lists(requests, min_size=1, max_size=6))
def test_adding_a_grant_never_lowers_a_fields_protection(
    rules: Any, data: st.DataObject, reqs: list[policies.AccessRequest]
) -> None:
    grant_list, deny_list = rules
    before = compile_rules(grant_list, deny_list)
    after = compile_rules([*grant_list, data.draw(grants(len(grant_list)))], deny_list)
    for req in reqs:
        if req.fields is None:
            continue  # asking for everything may rightly return more fields
        was, now = before.decide(req), after.decide(req)
        if was.allowed and now.allowed:
            for name, treatment in was.treatments.items():
                assert now.treatments[name] >= treatment
