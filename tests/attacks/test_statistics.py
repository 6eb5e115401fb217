"""Statistics played by the careless and the curious client: wrong scope, a purpose with
no aggregate grant, a dimension not granted, a filter outside the jurisdiction, fishing
for tiny cells, differencing two answers, a malformed body, and the budget running out."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from tests.attacks.conftest import Target, assert_problem

SURABAYA_TABLE = {
    "dataset": "civil_registry",
    "unit": "residents",
    "group_by": ["kecamatan_code", "sex", "age_band"],
}


async def _ask(
    target: Target, body: dict[str, Any], client: str = "demo-bappeda", **headers: str
) -> httpx.Response:
    h = await target.headers(client, **{"X-Purpose": "statistics", **headers})
    return await target.client.post("/v1/statistics", headers=h, json=body)


async def _events(target: Target) -> list[dict[str, Any]]:
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    r = await target.client.get("/audit/events", params={"agency": "bappeda"}, headers=auditor)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["action"] == "statistics.query"]


async def test_a_table_for_surabaya_with_suppressed_cells(target: Target) -> None:
    r = await _ask(target, SURABAYA_TABLE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "subject" not in r.text and "nik" not in r.text
    cells = body["cells"]
    kecamatan = {c["key"]["kecamatan_code"] for c in cells}
    assert all(k.startswith("35.78.") for k in kecamatan) and len(kecamatan) == 31
    assert len(cells) == 31 * 2 * 18
    suppressed = [c for c in cells if c["suppressed"]]
    assert suppressed and all(c["count"] is None for c in suppressed)
    released = [c for c in cells if not c["suppressed"]]
    assert all(c["count"] >= 10 for c in released)
    assert body["method"]["noise"] == "discrete_laplace"
    assert body["privacy_budget"]["spent"] == "1/2"
    assert set(body["audit"]) == {"event_id", "leaf_index"}
    # The event: who, why, what was asked and how much was released; no subject.
    (event,) = [e for e in await _events(target) if e["event_id"] == body["audit"]["event_id"]]
    assert event["decision"] == "allow" and event["officer"] == "officer.01"
    assert event["purpose"] == "statistics"
    detail = event["detail"]
    assert detail["group_by"] == SURABAYA_TABLE["group_by"]
    assert detail["released"] + detail["suppressed"] == detail["cells"]
    assert detail["suppressed"] == len(suppressed) + sum(
        1 for m in body["margins"] if m["suppressed"]
    ) + (1 if body["total"]["suppressed"] else 0)
    assert detail["privacy_budget"]["spent"] == "1/2"
    assert not event.get("subjects")


async def test_the_wrong_scope_is_refused_on_the_record(target: Target) -> None:
    r = await _ask(target, SURABAYA_TABLE, client="demo-dinsos")
    body = assert_problem(r, 403, "insufficient_scope")
    assert "audit" in body


async def test_a_dimension_not_granted_is_refused(target: Target) -> None:
    r = await _ask(target, {**SURABAYA_TABLE, "group_by": ["kecamatan_code", "disability"]})
    body = assert_problem(r, 403, "dimension_not_permitted")
    assert "audit" in body


async def test_a_purpose_without_an_aggregate_grant_is_refused(target: Target) -> None:
    r = await _ask(target, SURABAYA_TABLE, **{"X-Purpose": "social_assistance"})
    assert_problem(r, 403, "purpose_not_permitted")


async def test_a_filter_outside_the_jurisdiction_is_refused(target: Target) -> None:
    body = {**SURABAYA_TABLE, "filters": {"kecamatan_code": ["51.71.01"]}}
    assert_problem(await _ask(target, body), 403, "filter_outside_jurisdiction")


async def test_a_malformed_body_is_refused_on_the_record(target: Target) -> None:
    r = await _ask(target, {"dataset": "civil_registry", "group_by": [], "colour": 1})
    body = assert_problem(r, 422, "invalid_request")
    assert "audit" in body
    events = await _events(target)
    assert [e["reason"] for e in events] == ["invalid_request"]


def _smallest_kelurahan(sources: Path) -> tuple[str, int]:
    with sqlite3.connect(f"file:{sources / 'civil.db'}?mode=ro", uri=True) as conn:
        code, n = conn.execute(
            "SELECT kelurahan_code, count(*) FROM residents WHERE city_code = '35.78' "
            "GROUP BY kelurahan_code ORDER BY count(*) ASC LIMIT 1"
        ).fetchone()
    return str(code), int(n)


async def test_tiny_cell_fishing_gets_no_count(target: Target, attack_sources: Path) -> None:
    code, n = _smallest_kelurahan(attack_sources)
    assert n < 10
    body = {
        "dataset": "civil_registry",
        "group_by": ["kelurahan_code"],
        "filters": {"kelurahan_code": [code]},
    }
    r = await _ask(target, body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert all(c["suppressed"] for c in answer["cells"])
    assert answer["total"]["suppressed"]


async def test_differencing_two_answers_does_not_pin_a_small_count(
    target: Target, attack_sources: Path
) -> None:
    """'Kecamatan X' minus 'kecamatan X without the 0-4 band': the two totals are noisy,
    so their difference is not the number of small children; and the budget stops the
    attacker from averaging the noise away."""
    with sqlite3.connect(f"file:{attack_sources / 'civil.db'}?mode=ro", uri=True) as conn:
        code, whole = conn.execute(
            "SELECT kecamatan_code, count(*) FROM residents WHERE city_code = '35.78' "
            "GROUP BY kecamatan_code ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    older = [
        b
        for b in (
            "5-9",
            "10-14",
            "15-19",
            "20-24",
            "25-29",
            "30-34",
            "35-39",
            "40-44",
            "45-49",
            "50-54",
            "55-59",
            "60-64",
            "65-69",
            "70-74",
            "75-79",
            "80-84",
            "85+",
        )
    ]
    differences: list[int] = []
    statuses: list[int] = []
    for _ in range(12):
        a = await _ask(
            target,
            {
                "dataset": "civil_registry",
                "group_by": ["sex"],
                "filters": {"kecamatan_code": [code]},
            },
        )
        b = await _ask(
            target,
            {
                "dataset": "civil_registry",
                "group_by": ["sex"],
                "filters": {"kecamatan_code": [code], "age_band": older},
            },
        )
        statuses += [a.status_code, b.status_code]
        if a.status_code != 200 or b.status_code != 200:
            break
        ta, tb = a.json()["total"]["count"], b.json()["total"]["count"]
        if ta is not None and tb is not None:
            differences.append(ta - tb)
    # Ten units a month at one half a query: twenty answers, then refusals.
    assert statuses.count(200) == 20 and 429 in statuses
    assert len(set(differences)) > 1  # the same question answered twice differs
    r = await _ask(target, SURABAYA_TABLE)
    problem = assert_problem(r, 429, "privacy_budget_exhausted")
    assert problem["privacy_budget"]["remaining"] == "0"
    assert whole > 0


async def test_simulate_answers_a_statistics_query(target: Target) -> None:
    admin = {"Authorization": f"Bearer {await target.token('demo-admin')}"}
    asked = {
        "agency": "bappeda",
        "purpose": "statistics",
        "action": "aggregate",
        "group_by": ["kecamatan_code", "sex"],
    }
    r = await target.client.post("/admin/policies/simulate", json=asked, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["decision"]["allowed"] and r.json()["decision"]["min_cell"] == 10
    r = await target.client.post(
        "/admin/policies/simulate", json={**asked, "group_by": ["disability"]}, headers=admin
    )
    assert r.json()["decision"]["code"] == "dimension_not_permitted"


async def test_without_the_ledger_no_answer_and_the_refusal_is_recorded(target: Target) -> None:
    from gateway.limits.ratelimit import connect_redis
    from gateway.statistics.privacy_budget import PrivacyBudget

    target.services.privacy_budget = PrivacyBudget(connect_redis("redis://127.0.0.1:1/0"))
    r = await _ask(target, SURABAYA_TABLE)
    body = assert_problem(r, 503, "rate_limiter_unavailable")
    assert "audit" in body and "cells" not in r.text


async def test_households_are_counted_by_household_dimensions_only(target: Target) -> None:
    r = await _ask(target, {**SURABAYA_TABLE, "unit": "households"})
    assert_problem(r, 422, "invalid_request")
    r = await _ask(
        target, {"dataset": "civil_registry", "unit": "households", "group_by": ["kecamatan_code"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["unit"] == "households"


async def test_welfare_deciles_join_the_two_registries(
    target: Target, attack_sources: Path
) -> None:
    """The decile is the welfare registry's, the kecamatan filter the civil registry's:
    two files, joined by NIK in SQL. The table counts only Surabaya's residents that the
    welfare registry holds."""
    r = await _ask(target, {**SURABAYA_TABLE, "group_by": ["welfare_decile"]})
    assert r.status_code == 200, r.text
    body = r.json()
    deciles = [c["key"]["welfare_decile"] for c in body["cells"]]
    assert sorted(deciles, key=int) == [str(i) for i in range(1, 11)]
    with sqlite3.connect(attack_sources / "civil.db") as conn:
        conn.execute("ATTACH DATABASE ? AS w", (str(attack_sources / "welfare.db"),))
        (held,) = conn.execute(
            "SELECT count(*) FROM residents r JOIN w.welfare USING (nik)"
            " WHERE r.city_code = '35.78'"
        ).fetchone()
    total = body["total"]["count"]
    assert held >= 10 and total is not None
    assert abs(total - held) < 60  # ten cells of noise of scale 2, clamped at zero


async def test_a_welfare_filter_not_granted_is_refused(target: Target) -> None:
    body = {**SURABAYA_TABLE, "filters": {"welfare_decile": ["1", "2"]}}
    r = await _ask(target, body)
    assert_problem(r, 403, "dimension_not_permitted")


async def test_too_many_dimensions_are_refused(target: Target) -> None:
    five = ["kecamatan_code", "kelurahan_code", "sex", "age_band", "welfare_decile"]
    assert_problem(await _ask(target, {**SURABAYA_TABLE, "group_by": five}), 422, "invalid_request")
    four = ["kelurahan_code", "sex", "age_band", "welfare_decile"]  # 153 x 2 x 18 x 10 cells
    r = await _ask(target, {**SURABAYA_TABLE, "group_by": four})
    assert "5000" in assert_problem(r, 422, "invalid_request")["detail"]
