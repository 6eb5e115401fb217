"""Officers are accountable: one id per officer whatever its spelling, registered lists
and signed assertions where an agency asks for them, and the client's limits and volume
flag over all its officers, so that inventing officers gains nothing."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from gateway.identity.officers import AgencyOfficers, JtiGuard, OfficerRegistry, parse_agency
from tests.attacks.conftest import ISSUER, Target, assert_problem

ABSENT = "3578010101990001"


async def test_spellings_of_one_officer_share_one_limit(target: Target) -> None:
    h = await target.headers("demo-dinsos", **{"X-On-Behalf-Of": "rate.a"})
    for _ in range(60):  # the grant's 60 residents a minute per officer
        r = await target.client.get(f"/v1/residents/{ABSENT}", headers=h)
        assert r.status_code == 404
    for spelling in ("RATE.A", "rate-a", "Rate_A"):
        r = await target.client.get(
            f"/v1/residents/{ABSENT}", headers={**h, "X-On-Behalf-Of": spelling}
        )
        assert assert_problem(r, 429, "rate_limited")["limit"] == "officer"
    for malformed in ("rate.a.", ".rate.a", "rate..a", "rate a"):
        r = await target.client.get(
            f"/v1/residents/{ABSENT}", headers={**h, "X-On-Behalf-Of": malformed}
        )
        assert_problem(r, 422, "invalid_officer")


async def test_a_registered_list_refuses_other_officers(target: Target) -> None:
    target.services.officers = OfficerRegistry(
        {"dinsos": parse_agency({"mode": "registered", "officers": ["ani", "budi.s"]})},
        audience=ISSUER,
        guard=JtiGuard(),
    )
    h = await target.headers("demo-dinsos")
    r = await target.client.get(
        f"/v1/residents/{ABSENT}", headers={**h, "X-On-Behalf-Of": "invented.1"}
    )
    body = assert_problem(r, 403, "officer_not_registered")
    assert "audit" in body
    for spelling in ("ani", "ANI", "budi-s"):
        r = await target.client.get(
            f"/v1/residents/{ABSENT}", headers={**h, "X-On-Behalf-Of": spelling}
        )
        assert_problem(r, 404, "resident_not_found")
    # Another agency is not configured: open.
    other = await target.headers("demo-dinsos-denpasar", **{"X-On-Behalf-Of": "anyone"})
    r = await target.client.get(f"/v1/residents/{ABSENT}", headers=other)
    assert r.status_code == 404


def _assertion(key: Any, alg: str = "ES256", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": "dinsos",
        "sub": "ani",
        "aud": ISSUER,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    body.update(claims)
    header = {"alg": alg, "typ": "officer+jwt"}
    return jwt.encode(
        header, {k: v for k, v in body.items() if v is not None}, key, algorithms=[alg]
    )


@pytest.fixture
def agency_key(target: Target) -> ECKey:
    key = ECKey.generate_key("P-256", parameters={"kid": "dinsos-1"})
    target.services.officers = OfficerRegistry(
        {"dinsos": AgencyOfficers("assertion", keys=parse_agency(
            {"mode": "assertion", "keys": [key.as_dict(private=False)]}).keys)},
        audience=ISSUER,
        guard=JtiGuard(),
    )  # fmt: skip
    return key


async def test_an_assertion_vouches_for_one_officer_once(target: Target, agency_key: ECKey) -> None:
    h = await target.headers("demo-dinsos", **{"X-On-Behalf-Of": "ani"})
    url = f"/v1/residents/{ABSENT}"
    assertion = _assertion(agency_key)
    ok = await target.client.get(url, headers={**h, "X-Officer-Assertion": assertion})
    assert_problem(ok, 404, "resident_not_found")
    replay = await target.client.get(url, headers={**h, "X-Officer-Assertion": assertion})
    assert "audit" in assert_problem(replay, 403, "officer_assertion_invalid")
    missing = await target.client.get(url, headers=h)
    assert_problem(missing, 403, "officer_assertion_invalid")
    now = int(time.time())
    foreign = ECKey.generate_key("P-256")
    for bad in (
        _assertion(agency_key, sub="budi"),  # another officer
        _assertion(agency_key, aud="https://elsewhere.example"),
        _assertion(agency_key, iss="dinkes"),
        _assertion(agency_key, iat=now - 900, exp=now - 600),  # expired
        _assertion(agency_key, exp=now + 3600),  # lives too long
        _assertion(agency_key, jti=None),
        _assertion(foreign),  # not the agency's key
        _assertion(OctKey.generate_key(256), alg="HS256"),  # a shared secret
    ):
        r = await target.client.get(url, headers={**h, "X-Officer-Assertion": bad})
        assert_problem(r, 403, "officer_assertion_invalid")


async def test_invented_officers_raise_the_clients_volume_flag(target: Target) -> None:
    target.services.settings.rate_scale = 100.0
    for client, purpose in (
        ("demo-dinkes", "health_insurance"),
        ("demo-dinsos-denpasar", "social_assistance"),
        ("demo-bappeda", "statistics"),
    ):
        h = await target.headers(client, **{"X-Purpose": purpose})
        await target.client.get(f"/v1/residents/{ABSENT}", headers=h)
    for i in range(30):  # a new officer each time: no officer stands out among peers
        h = await target.headers("demo-dinsos", **{"X-On-Behalf-Of": f"new.{i}"})
        await target.client.get(f"/v1/residents/{ABSENT}", headers=h)
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    alerts = (await target.client.get("/audit/alerts", headers=auditor)).json()["alerts"]
    flagged = [a for a in alerts if a["kind"] == "client_volume"]
    assert [(a["agency"], a["officer"], a["count"]) for a in flagged] == [
        ("dinsos", "client:demo-dinsos", 30)
    ]
