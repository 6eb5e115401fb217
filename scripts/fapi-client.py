#!/usr/bin/env python3
"""An agency system's side of FAPI 2.0 against the demo: a key pair of its own,
private_key_jwt client authentication (RFC 7523) and DPoP-bound tokens (RFC 9449).

    scripts/fapi-client.py register      # two administrators register the client's key
    scripts/fapi-client.py token         # a DPoP-bound token, with a signed assertion
    scripts/fapi-client.py lookup NIK    # the resident, with a fresh DPoP proof

The client's private key stays in ``.satugate/fapi-client-key.json`` (demo only).
``SATUGATE_URL`` and ``SATUGATE_DATA_DIR`` point it at another gateway (by default, the
demo whose ``demo-clients.json`` is in ``.satugate``).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

DATA = Path(os.environ.get("SATUGATE_DATA_DIR", ".satugate"))
CLIENT = "demo-dinsos"
DEMO = DATA / "demo-clients.json"
# The running demo's own address (demo-clients.json), unless SATUGATE_URL names another.
BASE = os.environ.get("SATUGATE_URL") or (
    json.loads(DEMO.read_text())["base_url"] if DEMO.exists() else "http://127.0.0.1:8000"
)
KEY_FILE = DATA / "fapi-client-key.json"
TOKEN_FILE = DATA / "fapi-client-token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _key() -> ECKey:
    if not KEY_FILE.exists():
        KEY_FILE.write_text(json.dumps(ECKey.generate_key("P-256").as_dict(private=True)))
        KEY_FILE.chmod(0o600)
    return ECKey.import_key(json.loads(KEY_FILE.read_text()))


def _secret_token(client_id: str) -> str:
    clients = json.loads(DEMO.read_text())["clients"]
    secret = next(c["client_secret"] for c in clients if c["client_id"] == client_id)
    r = httpx.post(
        f"{BASE}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


def register() -> None:
    """demo-admin proposes the client's public key; demo-admin-2 approves it."""
    key = _key()
    public = {**key.as_dict(private=False), "kid": key.thumbprint()}
    first = {"Authorization": f"Bearer {_secret_token('demo-admin')}"}
    second = {"Authorization": f"Bearer {_secret_token('demo-admin-2')}"}
    r = httpx.post(
        f"{BASE}/admin/clients/{CLIENT}/keys", json={"jwks": {"keys": [public]}}, headers=first
    )
    r.raise_for_status()
    proposal = r.json()["id"]
    r = httpx.post(f"{BASE}/admin/proposals/{proposal}/approve", headers=second)
    r.raise_for_status()
    print(f"key {public['kid']} registered for {CLIENT} (proposal {proposal})")


def _proof(key: ECKey, method: str, url: str, token: str | None = None) -> str:
    import base64
    import hashlib

    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
    }
    if token is not None:
        digest = hashlib.sha256(token.encode()).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def token() -> str:
    """private_key_jwt: no shared secret; DPoP: the token is bound to the same key."""
    key = _key()
    now = int(time.time())
    assertion = jwt.encode(
        {"alg": "ES256", "kid": key.thumbprint()},
        {
            "iss": CLIENT,
            "sub": CLIENT,
            "aud": f"{BASE}/oauth/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        },
        key,
        algorithms=["ES256"],
    )
    r = httpx.post(
        f"{BASE}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        headers={"DPoP": _proof(key, "POST", f"{BASE}/oauth/token")},
    )
    r.raise_for_status()
    body = r.json()
    TOKEN_FILE.write_text(body["access_token"])
    print(json.dumps({k: v for k, v in body.items() if k != "access_token"}))
    return str(body["access_token"])


def lookup(nik: str) -> None:
    key = _key()
    access = TOKEN_FILE.read_text() if TOKEN_FILE.exists() else token()
    url = f"{BASE}/v1/residents/{nik}"
    r = httpx.get(
        url,
        headers={
            "Authorization": f"DPoP {access}",
            "DPoP": _proof(key, "GET", url, access),
            "X-Purpose": "social_assistance",
            "X-On-Behalf-Of": "officer.ani",
        },
    )
    print(r.status_code, json.dumps(r.json(), indent=2))


if __name__ == "__main__":
    command, *args = sys.argv[1:] or ["help"]
    if command == "register":
        register()
    elif command == "token":
        token()
    elif command == "lookup" and len(args) == 1:
        lookup(args[0])
    else:
        print(__doc__)
        sys.exit(2)
