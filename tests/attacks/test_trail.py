"""The trail is complete: malformed bodies, scope refusals, the auditors' own reads and
the residents' report reads are on the record; every audited refusal carries its receipt;
out-of-range cursors are 4xx problems. NIK-shaped values in free-text headers are refused
before anything is stored or logged."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.attacks.conftest import Target, assert_problem, residents_in


async def _leaf(target: Target, body: dict[str, Any]) -> dict[str, Any]:
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    r = await target.client.get(f"/audit/leaves/{body['audit']['leaf_index']}", headers=auditor)
    assert r.status_code == 200
    leaf: dict[str, Any] = r.json()
    assert leaf["event_id"] == body["audit"]["event_id"]
    return leaf


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/residents/batch", {"niks": "not a list"}),
        ("/v1/residents/search", {"name": 7}),
        ("/v1/pseudonyms/resolve", {"token": "x"}),
        ("/v1/residents/batch", b"{not json"),
    ],
)
async def test_a_malformed_body_is_refused_on_the_record(
    target: Target, path: str, body: Any
) -> None:
    h = await target.headers("demo-dinsos")
    if isinstance(body, bytes):
        r = await target.client.post(path, headers=h, content=body)
    else:
        r = await target.client.post(path, headers=h, json=body)
    problem = assert_problem(r, 422, "invalid_request")
    leaf = await _leaf(target, problem)
    assert leaf["decision"] == "error" and leaf["reason"] == "invalid_request"


async def test_a_malformed_body_from_a_stranger_is_a_401(target: Target) -> None:
    r = await target.client.post("/v1/residents/batch", content=b"{not json")
    assert_problem(r, 401, "unauthenticated")


async def test_scope_refusals_are_on_the_record(target: Target) -> None:
    auditor = await target.headers("demo-auditor")
    r = await target.client.post("/v1/residents/batch", headers=auditor, json={"niks": []})
    leaf = await _leaf(target, assert_problem(r, 403, "insufficient_scope"))
    assert leaf["reason"] == "insufficient_scope" and leaf["client_id"] == "demo-auditor"
    r = await target.client.get("/v1/catalog", headers=auditor)
    leaf = await _leaf(target, assert_problem(r, 403, "insufficient_scope"))
    assert leaf["action"] == "catalog.read"
    agency = await target.headers("demo-dinsos")
    r = await target.client.get("/audit/events", headers=agency)
    leaf = await _leaf(target, assert_problem(r, 403, "insufficient_scope"))
    assert leaf["action"] == "audit.read" and leaf["agency"] == "dinsos"


async def test_auditors_reads_are_on_the_record(target: Target, attack_sources: Path) -> None:
    nik = residents_in(attack_sources, "35.78", 1)[0]["nik"]
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    for path, params in (
        ("/audit/events", {"subject_nik": nik}),
        ("/audit/alerts", {}),
        ("/audit/leaves/0", {}),
    ):
        r = await target.client.get(path, headers=auditor, params=params)
        assert r.status_code == 200
    r = await target.client.get("/audit/events", headers=auditor, params={"action": "audit.read"})
    views = sorted(e["detail"]["view"] for e in r.json()["events"])
    assert views == ["alerts", "events", "leaf"]
    searched = next(e for e in r.json()["events"] if e["detail"]["view"] == "events")
    assert nik not in json.dumps(searched) and len(searched["subjects"]) == 1


async def test_a_residents_own_report_read_is_on_the_record(
    target: Target, attack_sources: Path
) -> None:
    nik = residents_in(attack_sources, "35.78", 1)[0]["nik"]
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    issued = await target.client.post(f"/audit/subjects/{nik}/report-token", headers=auditor)
    token = issued.json()["report_token"]
    mine = await target.client.get("/v1/me/accesses", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200 and "audit" in mine.json()
    leaf = await _leaf(target, mine.json())
    assert leaf["action"] == "subject.report" and leaf["agency"] == "resident"


async def test_refusals_carry_their_receipt(target: Target, attack_sources: Path) -> None:
    nik = residents_in(attack_sources, "35.78", 1)[0]["nik"]
    h = await target.headers("demo-dinsos")
    for r in (
        await target.client.get(f"/v1/residents/{nik}", headers={**h, "X-Purpose": "immunisation"}),
        await target.client.get("/v1/residents/12345", headers=h),
        await target.client.get(f"/v1/residents/{nik}", headers={**h, "X-Purpose": "BAD"}),
    ):
        body = r.json()
        assert 400 <= r.status_code < 500 and set(body["audit"]) == {"event_id", "leaf_index"}
        mine = await target.client.get(f"/audit/leaves/{body['audit']['leaf_index']}", headers=h)
        assert mine.status_code == 200 and mine.json()["event_id"] == body["audit"]["event_id"]


async def test_out_of_range_cursors_are_400(target: Target) -> None:
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    for cursor in ("9" * 200, "²", "-1", "1e9"):
        r = await target.client.get("/audit/events", headers=auditor, params={"cursor": cursor})
        assert_problem(r, 400, "bad_request")


@pytest.mark.parametrize("header", ["X-On-Behalf-Of", "X-Legal-Basis"])
async def test_a_nik_in_a_free_text_header_is_refused_and_not_stored(
    target: Target, attack_sources: Path, header: str
) -> None:
    nik = residents_in(attack_sources, "35.78", 1)[0]["nik"]
    spaced = f"{nik[:6]} {nik[6:12]} {nik[12:]}"
    h = await target.headers("demo-dinsos")
    for value in (nik, f"petugas {spaced}"):
        r = await target.client.get(f"/v1/residents/{nik}", headers={**h, header: value})
        body = assert_problem(r, 422, "nik_in_header")
        leaf = await _leaf(target, body)
        assert leaf["officer"] != value and leaf["legal_basis"] != value
        raw = json.dumps(leaf)
        assert nik not in raw and spaced not in raw
    batch = await target.client.post(
        "/v1/residents/batch", headers={**h, header: nik}, json={"niks": [nik]}
    )
    assert_problem(batch, 422, "nik_in_header")
    assert nik not in target.logs()


async def test_a_nik_as_request_id_is_refused_and_never_logged(
    target: Target, attack_sources: Path
) -> None:
    nik = residents_in(attack_sources, "35.78", 1)[0]["nik"]
    h = await target.headers("demo-dinsos", **{"X-Request-Id": nik})
    size = target.services.audit.stats["events"]
    r = await target.client.get(f"/v1/residents/{nik}", headers=h)
    assert_problem(r, 422, "nik_in_header")
    assert r.headers["x-request-id"] != nik and nik not in r.text
    assert target.services.audit.stats["events"] == size
    assert nik not in target.logs()


async def test_the_openapi_document_states_the_contract(target: Target) -> None:
    doc = (await target.client.get("/openapi.json")).json()
    paths = doc["paths"]
    assert "jurisdiction" in paths["/v1/residents/{nik}"]["get"]["responses"]["404"]["description"]
    assert "audit" in doc["components"]["schemas"]["Problem"]["properties"]
    search = paths["/v1/residents/search"]["post"]["responses"]["429"]["description"]
    assert "search_budget_exhausted" in search
    resolve = paths["/v1/pseudonyms/resolve"]["post"]["responses"]["410"]["description"]
    assert "pseudonym_format_retired" in resolve
    headers = [p["name"] for p in paths["/v1/residents/batch"]["post"]["parameters"]]
    assert "X-Officer-Assertion" in headers


async def test_a_walk_through_the_leaves_is_recorded_in_few_events(target: Target) -> None:
    """A verifier reads every leaf: the reads of a burst share one event."""
    h = await target.headers("demo-dinsos")
    for _ in range(4):
        await target.client.get("/v1/residents/3578010101990001", headers=h)
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    size = target.services.audit.stats["events"]
    answers = await asyncio.gather(
        *(target.client.get(f"/audit/leaves/{i}", headers=auditor) for i in range(4))
    )
    assert all(r.status_code == 200 for r in answers)
    added = target.services.audit.stats["events"] - size
    assert added == 1
    r = await target.client.get("/audit/events", headers=auditor, params={"action": "audit.read"})
    leaf_reads = [e for e in r.json()["events"] if e["detail"]["view"] == "leaf"]
    assert leaf_reads[0]["detail"]["ranges"] == [[0, 3]]


async def test_a_nik_as_the_auditors_officer_is_refused(
    target: Target, attack_sources: Path
) -> None:
    nik = residents_in(attack_sources, "35.78", 1)[0]["nik"]
    auditor = {
        "Authorization": f"Bearer {await target.token('demo-auditor')}",
        "X-On-Behalf-Of": nik,
    }
    size = target.services.audit.stats["events"]
    r = await target.client.get(f"/audit/subjects/{nik}/accesses", headers=auditor)
    assert_problem(r, 422, "nik_in_header")
    r = await target.client.get("/audit/alerts", headers=auditor)
    assert_problem(r, 422, "nik_in_header")
    assert target.services.audit.stats["events"] == size
