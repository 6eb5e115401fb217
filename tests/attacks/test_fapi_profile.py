"""``SATUGATE_PROFILE=fapi2``: one setting for the FAPI 2.0 Security Profile's client
rules: no shared secrets (private_key_jwt only) and DPoP-bound tokens only."""

from __future__ import annotations

import pytest
from joserfc.jwk import ECKey

from gateway.platform.settings import Settings
from tests.attacks.conftest import ISSUER, Target, assert_problem
from tests.attacks.test_dpop import proof


def test_the_profile_turns_both_rules_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATUGATE_PROFILE", "fapi2")
    # A careless operator leaves the old flags off: the profile wins.
    monkeypatch.setenv("SATUGATE_CLIENT_SECRETS_DISABLED", "false")
    monkeypatch.setenv("SATUGATE_DPOP_REQUIRED", "false")
    settings = Settings()
    assert settings.client_secrets_disabled and settings.dpop_required
    monkeypatch.delenv("SATUGATE_PROFILE")
    assert not Settings().dpop_required
    monkeypatch.setenv("SATUGATE_PROFILE", "fapi1")
    with pytest.raises(ValueError, match="profile"):
        Settings()


async def test_a_shared_secret_and_a_bearer_token_are_refused(target: Target) -> None:
    # A bearer token taken before the deployment switched to the profile.
    bearer = await target.headers("demo-dinsos")
    settings = Settings(**{**target.settings.model_dump(), "profile": "fapi2"})
    assert settings.client_secrets_disabled and settings.dpop_required
    target.services.settings.client_secrets_disabled = settings.client_secrets_disabled
    assert target.services.dpop is not None
    target.services.dpop.required = settings.dpop_required
    # Without a proof the request is refused for that; with one, for the shared secret.
    r = await target.token_response("demo-dinsos")
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    cid, secret = target.creds("demo-dinsos")
    key = ECKey.generate_key("P-256")
    r = await target.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(cid, secret),
        headers={"DPoP": proof(key, "POST", f"{ISSUER}/oauth/token")},
    )
    assert r.status_code in (400, 401) and r.json()["error"] == "invalid_client", r.text
    assert "access_token" not in r.json()
    r = await target.client.get("/v1/catalog", headers=bearer)
    assert_problem(r, 401, "invalid_token")
    assert r.headers["www-authenticate"].startswith("DPoP ")
    meta = (await target.client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
