"""Search by name cannot walk through a neighbourhood: distinct residents returned are
counted per client and per officer in the area searched, a refusal names the budget that
ran out, and many searches finding new residents in one area raise a flag."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import audit
from tests.attacks.conftest import Target, assert_problem


def _neighbours(sources: Path) -> list[dict[str, Any]]:
    """Residents of the Surabaya kelurahan with the most residents in the data."""
    with sqlite3.connect(f"file:{sources / 'civil.db'}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        (code,) = conn.execute(
            "SELECT kelurahan_code FROM residents WHERE city_code = '35.78' "
            "GROUP BY kelurahan_code ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        rows = conn.execute(
            "SELECT * FROM residents WHERE kelurahan_code = ? ORDER BY nik", (code,)
        ).fetchall()
    assert len(rows) >= 6
    return [dict(r) for r in rows]


async def _search(target: Target, officer: str, person: dict[str, Any]) -> Any:
    h = await target.headers("demo-dinsos", **{"X-On-Behalf-Of": officer})
    return await target.client.post(
        "/v1/residents/search",
        headers=h,
        json={"name": person["full_name"], "address": {"kelurahan_code": person["kelurahan_code"]}},
    )


async def test_the_officers_then_the_clients_budget_runs_out(
    target: Target, attack_sources: Path
) -> None:
    settings = target.services.settings
    settings.search_budget_officer, settings.search_budget_client = 3, 5
    people = iter(_neighbours(attack_sources))
    for officer, budget, limit in (("walker.a", "officer", 3), ("walker.b", "client", 5)):
        seen: set[str] = set()
        while True:
            r = await _search(target, officer, next(people))
            if r.status_code != 200:
                break
            seen |= {m["subject"] for m in r.json()["matches"]}
        body = assert_problem(r, 429, "search_budget_exhausted")
        assert body["budget"] == budget and "audit" in body
        assert 0 < len(seen) <= limit
    # Searching an already-returned resident again costs nothing.
    first = _neighbours(attack_sources)[0]
    again = await _search(target, "walker.a", first)
    assert again.status_code in (200, 429)


async def test_a_neighbourhood_walk_raises_the_enumeration_flag(
    target: Target, attack_sources: Path
) -> None:
    for person in _neighbours(attack_sources)[:5]:
        r = await _search(target, "walker.c", person)
        assert r.status_code == 200
    rules = audit.AlertRules(
        enumeration_min=3,
        office_start=datetime.min.time(),
        office_end=datetime.max.time(),
        workdays=frozenset(range(7)),
    )
    alerts = await target.services.audit.alerts(
        now=datetime.now(UTC) + timedelta(seconds=1), rules=rules
    )
    walks = [a for a in alerts if a.kind == "search_enumeration"]
    assert [(a.agency, a.officer) for a in walks] == [("dinsos", "walker.c")]
    assert walks[0].count >= 3
