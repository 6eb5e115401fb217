"""One audited lookup end to end, through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import Gateway
from tests.gateway.residents import pick, welfare_nik

PROBLEM = "application/problem+json"


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["code"] == code
    assert {"type", "title", "detail"} <= set(body)
    return body


async def test_token_metadata_and_jwks(gateway: Gateway) -> None:
    meta = (await gateway.client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["token_endpoint"].endswith("/oauth/token")
    assert "client_credentials" in meta["grant_types_supported"]
    jwks = (await gateway.client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"] and all(k["kty"] == "EC" and "d" not in k for k in jwks["keys"])

    cid, secret = gateway.creds("demo-dinsos")
    r = await gateway.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"].lower() == "bearer" and body["expires_in"] > 0
    assert set(body["scope"].split()) == {
        "residents:read",
        "residents:search",
        "pseudonyms:resolve",
    }

    bad = await gateway.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": "wrong"},
    )
    assert bad.status_code in (400, 401) and bad.json()["error"] == "invalid_client"

    partly = await gateway.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "residents:read admin"},
        auth=(cid, secret),
    )
    assert partly.status_code == 200 and partly.json()["scope"] == "residents:read"
    none = await gateway.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "admin"},
        auth=(cid, secret),
    )
    assert none.status_code == 400 and none.json()["error"] == "invalid_scope"


async def test_lookup_is_treated_pseudonymised_and_audited(
    gateway: Gateway, demo_sources: Path
) -> None:
    resident = pick(demo_sources, city="35.78")[0]
    nik = resident["nik"]
    h = await gateway.headers("demo-dinsos")
    r = await gateway.client.get(f"/v1/residents/{nik}", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["subject"] != nik and nik not in r.text.replace(body["subject"], "")
    assert body["audit"]["leaf_index"] >= 0 and body["audit"]["event_id"]
    assert body["record"] and set(body["record"]) <= set(body["treatments"])
    assert set(body["sources"].values()) <= {"dukcapil", "dtks", "dinkes_survey"}

    again = (await gateway.client.get(f"/v1/residents/{nik}", headers=h)).json()
    assert again["subject"] == body["subject"], "pseudonyms are stable within an agency"
    assert again["audit"]["leaf_index"] > body["audit"]["leaf_index"]

    other = await gateway.client.get(
        f"/v1/residents/{nik}",
        headers=await gateway.headers("demo-dinkes", purpose="health_insurance"),
    )
    assert other.status_code == 200, other.text
    assert other.json()["subject"] not in (body["subject"], nik), (
        "agencies get unlinkable pseudonyms"
    )

    # The auditor finds both events by the clear NIK; the log itself never stores it.
    ah = {"Authorization": f"Bearer {await gateway.token('demo-auditor')}"}
    events = (
        await gateway.client.get("/audit/events", params={"subject_nik": nik}, headers=ah)
    ).json()["events"]
    assert len(events) >= 3 and {e["agency"] for e in events} >= {"dinsos", "dinkes"}
    leaf = await gateway.client.get(f"/audit/leaves/{body['audit']['leaf_index']}", headers=ah)
    assert (
        leaf.status_code == 200 and nik not in leaf.text and resident["full_name"] not in leaf.text
    )


async def test_welfare_and_civil_fields_merge_with_provenance(
    gateway: Gateway, demo_sources: Path
) -> None:
    nik = welfare_nik(demo_sources, "35.78")
    r = await gateway.client.get(
        f"/v1/residents/{nik}",
        headers=await gateway.headers("demo-dinsos"),
        params={"fields": "full_name,welfare_decile,kelurahan_code"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sources"].get("welfare_decile") == "dtks"
    assert body["sources"].get("kelurahan_code") == "dukcapil"


async def test_refusals_are_problems_and_audited(gateway: Gateway, demo_sources: Path) -> None:
    nik = pick(demo_sources, city="35.78")[0]["nik"]
    client = gateway.client
    r = await client.get(f"/v1/residents/{nik}")
    assert_problem(r, 401, "unauthenticated")
    r = await client.get(f"/v1/residents/{nik}", headers={"Authorization": "Bearer nonsense"})
    assert_problem(r, 401, "invalid_token")

    h = await gateway.headers("demo-dinsos", purpose="development_planning")
    assert_problem(
        await client.get(f"/v1/residents/{nik}", headers=h), 403, "purpose_not_permitted"
    )
    h = await gateway.headers("demo-dinsos")
    assert_problem(await client.get("/v1/residents/12345", headers=h), 422, "invalid_nik")
    unknown = nik[:12] + ("0001" if nik[12:] != "0001" else "0002")
    r = await client.get(f"/v1/residents/{unknown}", headers=h)
    if r.status_code != 200:  # the serial could exist; the odds are tiny
        assert_problem(r, 404, "resident_not_found")
    no_purpose = {k: v for k, v in h.items() if k != "X-Purpose"}
    assert_problem(
        await client.get(f"/v1/residents/{nik}", headers=no_purpose), 422, "invalid_purpose"
    )
    bad_officer = {**h, "X-On-Behalf-Of": "x\u200by".encode()}
    r = await client.get(f"/v1/residents/{nik}", headers=bad_officer)  # type: ignore[arg-type]
    assert_problem(r, 422, "invalid_officer")
    assert_problem(await client.get("/audit/events", headers=h), 403, "insufficient_scope")

    ah = {"Authorization": f"Bearer {await gateway.token('demo-auditor')}"}
    denied = (
        await client.get(
            "/audit/events", params={"agency": "dinsos", "decision": "deny"}, headers=ah
        )
    ).json()["events"]
    reasons = {e["reason"] for e in denied}
    assert {"purpose_not_permitted", "resident_not_found"} & reasons
    errors = (
        await client.get(
            "/audit/events", params={"agency": "dinsos", "decision": "error"}, headers=ah
        )
    ).json()["events"]
    assert {"invalid_nik", "invalid_purpose", "invalid_officer"} <= {e["reason"] for e in errors}


async def test_catalog_lists_fields_and_treatments(gateway: Gateway) -> None:
    h = await gateway.headers("demo-bappeda")
    r = await gateway.client.get("/v1/catalog", headers=h)
    assert r.status_code == 200, r.text
    text = r.text
    assert "development_planning" in text and "policy_version" in r.json()


async def test_logs_carry_no_personal_data(
    gateway: Gateway, demo_sources: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    residents = pick(demo_sources, city="35.78", n=3)
    h = await gateway.headers("demo-dinsos")
    for res in residents:
        assert (
            await gateway.client.get(f"/v1/residents/{res['nik']}", headers=h)
        ).status_code == 200
        await gateway.client.get(f"/v1/residents/{res['nik']}x", headers=h)
        await gateway.client.post(
            "/v1/residents/search",
            headers=h,
            json={
                "name": res["full_name"],
                "address": {"kelurahan_code": res["kelurahan_code"], "rt": res["rt"]},
            },
        )
    out = capsys.readouterr()
    logs = out.out + out.err
    assert '"route"' in logs, "the access log was captured"
    for res in residents:
        assert res["nik"] not in logs
        assert res["full_name"] not in logs


async def test_officer_rate_limit_refuses_and_is_audited(
    gateway: Gateway, demo_sources: Path
) -> None:
    nik = pick(demo_sources, city="35.78")[0]["nik"]
    h = await gateway.headers("demo-dinsos", officer="officer.hasty")
    # The demo grant allows 60 lookups a minute per officer: a burst of 60, then one a
    # second, so a quick loop meets the limit after 60 and a few more.
    allowed = 0
    for _ in range(120):
        r = await gateway.client.get(f"/v1/residents/{nik}", headers=h, params={"fields": "sex"})
        if r.status_code != 200:
            break
        allowed += 1
    assert 60 <= allowed < 120
    body = assert_problem(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1 and body["detail"]
    other = await gateway.headers("demo-dinsos", officer="officer.calm")
    assert (await gateway.client.get(f"/v1/residents/{nik}", headers=other)).status_code == 200


async def test_nik_from_a_region_outside_the_list_is_served_with_a_warning(
    gateway: Gateway, demo_sources: Path
) -> None:
    """An imported list that no longer has a kecamatan: its NIKs are served, with a
    warning, and the warning names codes only."""
    import sqlite3

    from sqlalchemy import insert

    from gateway.platform import store
    from gateway.residents.regions import load_region_table

    with sqlite3.connect(demo_sources / "civil.db") as conn:
        residents = conn.execute(
            "SELECT nik, kecamatan_code FROM residents WHERE city_code = '35.78' "
            "AND birth_date < '2000-01-01' AND substr(nik, 1, 4) = '3578' ORDER BY nik"
        ).fetchall()
    moved = residents[0][0]
    moved_prefix = f"{moved[0:2]}.{moved[2:4]}.{moved[4:6]}"
    local = next(n for n, _ in residents if f"{n[0:2]}.{n[2:4]}.{n[4:6]}" != moved_prefix)
    local_prefix = f"{local[0:2]}.{local[2:4]}.{local[4:6]}"
    rows = [
        {"code": "35", "name": "JAWA TIMUR", "level": 1, "historical": False, "list_year": 2026},
        {
            "code": "35.78",
            "name": "KOTA SURABAYA",
            "level": 2,
            "historical": False,
            "list_year": 2026,
        },
        {"code": local_prefix, "name": "X", "level": 3, "historical": False, "list_year": 2026},
        {"code": moved_prefix, "name": "Y", "level": 3, "historical": True, "list_year": 2025},
    ]
    async with gateway.services.engine.begin() as conn:
        await conn.execute(insert(store.regions), rows)
    gateway.services.regions = await load_region_table(gateway.services.engine)

    h = await gateway.headers("demo-dinsos")
    r = await gateway.client.get(f"/v1/residents/{moved}", headers=h, params={"fields": "sex"})
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == [f"kecamatan {moved_prefix} is a historical code"]
    r = await gateway.client.get(f"/v1/residents/{local}", headers=h, params={"fields": "sex"})
    assert r.status_code == 200 and "warnings" not in r.json()


async def test_the_direct_read_path_answers_as_the_framework_route_does(
    gateway: Gateway, demo_sources: Path
) -> None:
    """``GET /v1/residents/{nik}`` skips the framework's routing; with the direct path off,
    the same requests go through the registered route. Both must give the same answers:
    status, problem body, headers, and one audit event each."""
    app = gateway.client._transport.app  # type: ignore[attr-defined]
    nik = pick(demo_sources, city="35.78")[0]["nik"]
    h = await gateway.headers("demo-dinsos")
    no_purpose = {k: v for k, v in h.items() if k != "X-Purpose"}
    requests = [
        (f"/v1/residents/{nik}", h, None),
        (f"/v1/residents/{nik}", h, {"fields": "full_name,welfare_decile"}),
        (f"/v1/residents/{nik}", h, {"fields": "full_name,no_such_field"}),
        (f"/v1/residents/{nik}", h, {"fields": "x" * 2001}),
        (f"/v1/residents/{nik}", {}, None),
        (f"/v1/residents/{nik}", {"Authorization": "Bearer nonsense"}, None),
        (f"/v1/residents/{nik}", no_purpose, None),
        ("/v1/residents/12345", h, None),
        ("/v1/residents/search", h, None),
        (f"/v1/residents/{nik}/", h, None),
    ]

    async def answers() -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
        out = []
        for path, headers, params in requests:
            r = await gateway.client.get(
                path, headers={**headers, "X-Request-Id": "same-id"}, params=params
            )
            body = r.json() if r.content else {}
            body.pop("audit", None)  # a new event each time, refusals' receipts too
            kept = {k: v for k, v in r.headers.items() if k != "content-length"}
            out.append((r.status_code, body, kept))
        return out

    size = app.state.services.audit.stats["events"]
    direct = await answers()
    direct_events = app.state.services.audit.stats["events"] - size
    assert app._direct is not None
    saved = app._direct
    app.disable_direct_path()
    try:
        routed = await answers()
    finally:
        app._direct = saved
    routed_events = app.state.services.audit.stats["events"] - size - direct_events
    # A trailing slash is not redirected: a redirect would take its host from the request.
    # GET /v1/residents/search is the 405 of a POST-only resource, not a lookup of "search".
    assert [a[0] for a in direct] == [200, 200, 422, 422, 401, 401, 422, 422, 405, 404]
    assert direct == routed
    assert direct_events == routed_events > 0


async def test_a_bug_on_the_direct_read_path_is_a_500_problem_without_details(
    gateway: Gateway, demo_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.residents import service

    async def broken(*_args: object) -> dict[str, Any]:
        raise RuntimeError("secret detail 3578010101900001")

    monkeypatch.setattr(service, "read_resident", broken)
    nik = pick(demo_sources, city="35.78")[0]["nik"]
    r = await gateway.client.get(
        f"/v1/residents/{nik}", headers=await gateway.headers("demo-dinsos")
    )
    body = assert_problem(r, 500, "internal_error")
    assert "secret" not in r.text and "3578" not in r.text
    assert r.headers["x-request-id"] == body["instance"]


async def test_a_request_without_a_usable_id_gets_a_fresh_random_one(
    gateway: Gateway, demo_sources: Path
) -> None:
    nik = pick(demo_sources, city="35.78")[0]["nik"]
    headers = await gateway.headers("demo-dinsos")
    ids = set()
    for given in (None, "bad id with spaces", None):
        sent = headers if given is None else {**headers, "X-Request-Id": given}
        r = await gateway.client.get(f"/v1/residents/{nik}", headers=sent)
        assert r.status_code == 200
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
        ids.add(r.headers["x-request-id"])
    assert len(ids) == 3
    r = await gateway.client.get(
        f"/v1/residents/{nik}", headers={**headers, "X-Request-Id": "agency-req-42"}
    )
    assert r.headers["x-request-id"] == "agency-req-42"


async def test_every_event_after_the_decision_names_its_rules_and_version(
    gateway: Gateway, demo_sources: Path
) -> None:
    """The call is bound to its policy decision once: the allowed read and every refusal
    that follows the decision carry its rule ids and policy version; a refusal before any
    decision carries none."""
    client = gateway.client
    (resident,) = pick(demo_sources, city="35.78")
    nik = resident["nik"]
    h = await gateway.headers("demo-dinsos")
    version = (await client.get("/v1/catalog", headers=h)).json()["policy_version"]
    assert (await client.get(f"/v1/residents/{nik}", headers=h)).status_code == 200
    unknown = nik[:12] + ("0001" if nik[12:] != "0001" else "0002")
    missing = (await client.get(f"/v1/residents/{unknown}", headers=h)).status_code == 404
    no_purpose = {k: v for k, v in h.items() if k != "X-Purpose"}
    await client.get(f"/v1/residents/{nik}", headers=no_purpose)

    ah = {"Authorization": f"Bearer {await gateway.token('demo-auditor')}"}
    events = (
        await client.get("/audit/events", params={"agency": "dinsos", "limit": 50}, headers=ah)
    ).json()["events"]
    after = [e for e in events if e["decision"] == "allow" or e["reason"] == "resident_not_found"]
    assert {e["decision"] for e in after} == ({"allow", "deny"} if missing else {"allow"})
    for e in after:
        assert e["rule_ids"] and e["policy_version"] == version, e
    before = [e for e in events if e["reason"] == "invalid_purpose"]
    assert before and all(not e["rule_ids"] for e in before)
