"""Existence oracles: to an agency, a resident outside its jurisdiction is one that does
not exist, on read, batch and search; the log records the truth, sealed, for auditors.
Every NIK asked for is on that resident's record, released or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.attacks.conftest import Target, assert_problem, residents_in

ABSENT = "3578010101990001"


def _shape(body: dict[str, Any]) -> dict[str, Any]:
    """A problem body without what differs on every call (its receipt and instance)."""
    return {k: v for k, v in body.items() if k not in ("audit", "instance")}


async def _auditor(target: Target) -> dict[str, str]:
    return {"Authorization": f"Bearer {await target.token('demo-auditor')}"}


async def test_a_read_outside_the_jurisdiction_answers_as_not_found(
    target: Target, attack_sources: Path
) -> None:
    elsewhere = residents_in(attack_sources, "51.71", 1)[0]["nik"]  # Denpasar
    h = await target.headers("demo-dinsos")  # Surabaya
    outside = await target.client.get(f"/v1/residents/{elsewhere}", headers=h)
    missing = await target.client.get(f"/v1/residents/{ABSENT}", headers=h)
    a = assert_problem(outside, 404, "resident_not_found")
    b = assert_problem(missing, 404, "resident_not_found")
    assert _shape(a) == _shape(b)
    assert set(a) == set(b) and "audit" in a
    # The leaves the agency may read look alike too: same keys, sealed members alike.
    leaf_a = await target.client.get(f"/audit/leaves/{a['audit']['leaf_index']}", headers=h)
    leaf_b = await target.client.get(f"/audit/leaves/{b['audit']['leaf_index']}", headers=h)
    ea, eb = leaf_a.json(), leaf_b.json()
    assert set(ea) == set(eb) and ea["reason"] == eb["reason"] == "resident_not_found"
    assert len(ea["sealed"]) == len(eb["sealed"]) and ea["sealed"] != eb["sealed"]
    # The auditors see the truth.
    found = await target.client.get(
        "/audit/events", headers=await _auditor(target), params={"subject_nik": elsewhere}
    )
    events = [e for e in found.json()["events"] if e["action"] == "resident.read"]
    assert events and events[0]["decision"] == "deny"
    assert events[0]["unsealed"] == {"reason": "outside_jurisdiction"}


async def test_a_batch_cannot_tell_outside_from_absent(
    target: Target, attack_sources: Path
) -> None:
    elsewhere = [r["nik"] for r in residents_in(attack_sources, "51.71", 3)]
    h = await target.headers("demo-dinsos")
    r = await target.client.post(
        "/v1/residents/batch", headers=h, json={"niks": [*elsewhere, ABSENT]}
    )
    assert r.status_code == 200
    answers = [(x["status"], x.get("code")) for x in r.json()["results"]]
    assert answers == [("not_found", "resident_not_found")] * 4
    found = await target.client.get(
        "/audit/events", headers=await _auditor(target), params={"subject_nik": elsewhere[0]}
    )
    event = found.json()["events"][0]
    assert event["unsealed"]["outside_jurisdiction"] == 3
    assert event["unsealed"]["resident_not_found"] == 1


async def test_a_search_does_not_reveal_residents_elsewhere(
    target: Target, attack_sources: Path
) -> None:
    person = residents_in(attack_sources, "51.71", 1)[0]
    h = await target.headers("demo-dinsos")
    r = await target.client.post(
        "/v1/residents/search",
        headers=h,
        json={"name": person["full_name"], "address": {"kelurahan_code": person["kelurahan_code"]}},
    )
    assert r.status_code == 200 and r.json()["matches"] == []
    leaf = await target.client.get(f"/audit/leaves/{r.json()['audit']['leaf_index']}", headers=h)
    assert leaf.json()["subjects"] == [] and "sealed" in leaf.json()


async def test_every_nik_asked_for_is_in_that_residents_report(
    target: Target, attack_sources: Path
) -> None:
    inside = residents_in(attack_sources, "35.78", 1)[0]["nik"]
    elsewhere = residents_in(attack_sources, "51.71", 1)[0]["nik"]
    h = await target.headers("demo-dinsos")
    r = await target.client.post(
        "/v1/residents/batch", headers=h, json={"niks": [elsewhere, inside, ABSENT]}
    )
    assert r.status_code == 200
    auditor = await _auditor(target)
    for nik, outcome in (
        (inside, "released"),
        (elsewhere, "asked, not released"),
        (ABSENT, "asked, not released"),
    ):
        report = await target.client.get(f"/audit/subjects/{nik}/accesses", headers=auditor)
        batch = [a for a in report.json()["accesses"] if a["action"] == "resident.batch"]
        assert len(batch) == 1 and batch[0]["outcome"] == outcome, (nik, report.json())
    # A refused read is on the record too.
    await target.client.get(f"/v1/residents/{elsewhere}", headers=h)
    report = await target.client.get(f"/audit/subjects/{elsewhere}/accesses", headers=auditor)
    reads = [a for a in report.json()["accesses"] if a["action"] == "resident.read"]
    assert reads and reads[0]["outcome"] == "asked, not released"
