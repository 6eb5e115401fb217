"""RFC 6750 and RFC 9110 details a standard client relies on: the ``WWW-Authenticate``
error attributes of a 401 and of a 403 for a missing scope, ``Cache-Control: no-store``
once on a token response, and an ``Allow`` header naming every method of a path on a 405.
"""

from __future__ import annotations

import pytest

from tests.attacks.conftest import Target, assert_problem, residents_in


async def test_missing_token_is_a_bare_bearer_challenge(target: Target) -> None:
    r = await target.client.get("/v1/catalog")
    assert_problem(r, 401, "unauthenticated")
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    # RFC 6750 §3.1: no error code when the request carried no credentials at all.
    assert "error=" not in challenge


async def test_invalid_token_says_invalid_token(target: Target) -> None:
    r = await target.client.get("/v1/catalog", headers={"Authorization": "Bearer not.a.token"})
    assert_problem(r, 401, "invalid_token")
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge


async def test_missing_scope_says_insufficient_scope_and_which(target: Target) -> None:
    token = await target.token("demo-auditor")
    assert target.settings.sources_file is not None
    nik = residents_in(target.settings.sources_file.parent, n=1)[0]["nik"]
    r = await target.client.get(
        f"/v1/residents/{nik}",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Purpose": "social_assistance",
            "X-On-Behalf-Of": "officer.01",
        },
    )
    assert_problem(r, 403, "insufficient_scope")
    challenge = r.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="residents:read"' in challenge

    r = await target.client.get("/v1/catalog", headers={"Authorization": f"Bearer {token}"})
    assert_problem(r, 403, "insufficient_scope")
    assert 'scope="residents:read"' in r.headers["www-authenticate"]

    reader = await target.token("demo-dinsos")
    r = await target.client.get("/admin/clients", headers={"Authorization": f"Bearer {reader}"})
    assert_problem(r, 403, "insufficient_scope")
    assert 'scope="admin"' in r.headers["www-authenticate"]


async def test_token_response_says_no_store_once(target: Target) -> None:
    r = await target.token_response("demo-dinsos")
    assert r.status_code == 200
    values = r.headers.get_list("cache-control")
    assert values == ["no-store"], values


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/admin/clients", "/admin/policies"])
async def test_allow_lists_every_method_of_the_path(target: Target, method: str, path: str) -> None:
    r = await target.client.request(method, path)
    assert_problem(r, 405, "method_not_allowed")
    allowed = {m.strip() for m in r.headers["allow"].split(",")}
    assert allowed == {"GET", "POST"}, r.headers["allow"]


async def test_allow_on_a_single_method_path(target: Target) -> None:
    r = await target.client.post("/v1/catalog")
    assert_problem(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET"}


@pytest.mark.parametrize("method", ["GET", "OPTIONS", "DELETE"])
@pytest.mark.parametrize("path", ["/v1/residents/search", "/v1/residents/batch"])
async def test_a_sibling_of_the_lookup_is_not_a_nik(target: Target, method: str, path: str) -> None:
    # GET /v1/residents/search once read as a lookup of the NIK "search" (422 invalid_nik).
    r = await target.client.request(method, path)
    assert_problem(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"POST"}


async def test_metadata_names_no_assertion_algorithms_without_assertions(target: Target) -> None:
    # token_endpoint_auth_signing_alg_values_supported is about client assertions
    # (RFC 8414 §2): it is absent while only shared secrets authenticate clients.
    meta = (await target.client.get("/.well-known/oauth-authorization-server")).json()
    methods = meta["token_endpoint_auth_methods_supported"]
    if "private_key_jwt" not in methods:
        assert "token_endpoint_auth_signing_alg_values_supported" not in meta
