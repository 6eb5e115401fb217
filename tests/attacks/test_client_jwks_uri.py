"""``private_key_jwt`` with the client's keys at a JWKS URL, served by a real local HTTP
server the test controls: the keys are fetched, cached, fetched again for an unknown
kid (but not more often than the refresh interval), and a URL that answers garbage, too
much or too slowly gives no keys. The URL changes only on a second person's approval."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc.jwk import ECKey

from gateway.identity.client_jwks import MAX_BYTES
from tests.attacks.conftest import Target, assert_problem
from tests.attacks.test_private_key_jwt import CLIENT, _as, _refused, _token, assertion


class JwksServer:
    """A JWKS URL whose answer the test sets: keys, garbage, a huge body, or a slow one."""

    def __init__(self) -> None:
        self.body = b'{"keys": []}'
        self.delay = 0.0
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                time.sleep(server.delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                with contextlib.suppress(OSError):  # the gateway stopped reading, on purpose
                    self.wfile.write(server.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"

    def publish(self, *keys: ECKey) -> None:
        public = [{**k.as_dict(private=False), "kid": k.thumbprint()} for k in keys]
        self.body = json.dumps({"keys": public}).encode()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.delay = 0
        server.httpd.shutdown()
        server.httpd.server_close()


def _allow_loopback(target: Target, *, refresh: float = 60.0, timeout: float = 3.0) -> None:
    target.services.settings.client_jwks_http_loopback = True
    target.services.settings.token_failure_rate = "100/minute"
    checker = target.services.client_assertions
    assert checker is not None and checker.remote is not None
    checker.remote.http_loopback = True
    checker.remote.refresh_seconds = refresh
    checker.remote.timeout = timeout


async def _propose(target: Target, url: str, by: str = "demo-admin") -> int:
    r = await target.client.post(
        f"/admin/clients/{CLIENT}/keys", json={"jwks_uri": url}, headers=await _as(target, by)
    )
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


async def _approve(target: Target, proposal: int, by: str = "demo-admin-2") -> int:
    r = await target.client.post(
        f"/admin/proposals/{proposal}/approve", headers=await _as(target, by)
    )
    return r.status_code


async def test_keys_at_a_url_are_fetched_cached_and_refreshed(
    target: Target, jwks_server: JwksServer
) -> None:
    _allow_loopback(target, refresh=0.5)
    key = ECKey.generate_key("P-256")
    jwks_server.publish(key)
    assert await _approve(target, await _propose(target, jwks_server.url)) == 200
    assert (await _token(target, assertion(key))).status_code == 200
    assert (await _token(target, assertion(key))).status_code == 200
    assert jwks_server.hits == 1, "cached"
    # The client rotates: the new key is published, the gateway fetches it on its kid.
    rotated = ECKey.generate_key("P-256")
    jwks_server.publish(rotated)
    time.sleep(0.6)
    assert (await _token(target, assertion(rotated))).status_code == 200
    assert jwks_server.hits == 2
    # A key the URL does not publish, even after the refresh, is refused.
    stranger = ECKey.generate_key("P-256")
    time.sleep(0.6)
    _refused(await _token(target, assertion(stranger)))
    assert jwks_server.hits == 3


async def test_invented_kids_cannot_make_the_gateway_hammer_the_url(
    target: Target, jwks_server: JwksServer
) -> None:
    _allow_loopback(target, refresh=60.0)
    key = ECKey.generate_key("P-256")
    jwks_server.publish(key)
    assert await _approve(target, await _propose(target, jwks_server.url)) == 200
    assert (await _token(target, assertion(key))).status_code == 200
    for _ in range(20):
        _refused(await _token(target, assertion(ECKey.generate_key("P-256"))))
    assert jwks_server.hits <= 2, jwks_server.hits
    # The cached keys still work.
    assert (await _token(target, assertion(key))).status_code == 200


@pytest.mark.parametrize("answer", ["garbage", "too large", "slow", "private keys only"])
async def test_a_url_that_gives_no_usable_keys_authenticates_nobody(
    target: Target, jwks_server: JwksServer, answer: str
) -> None:
    _allow_loopback(target, refresh=0.0, timeout=0.5)
    key = ECKey.generate_key("P-256")
    assert await _approve(target, await _propose(target, jwks_server.url)) == 200
    public = {**key.as_dict(private=False), "kid": key.thumbprint()}
    if answer == "garbage":
        jwks_server.body = b"<html>not a key set</html>"
    elif answer == "too large":
        padding = "x" * (MAX_BYTES + 1)
        jwks_server.body = json.dumps({"keys": [public], "padding": padding}).encode()
    elif answer == "slow":
        jwks_server.publish(key)
        jwks_server.delay = 2.0
    else:
        private = {**key.as_dict(private=True), "kid": key.thumbprint()}
        jwks_server.body = json.dumps({"keys": [private]}).encode()
    started = time.monotonic()
    _refused(await _token(target, assertion(key)))
    assert time.monotonic() - started < 1.5, "the fetch is not waited for past its timeout"
    assert jwks_server.hits == 1


async def test_the_url_changes_only_on_a_second_persons_approval(
    target: Target, jwks_server: JwksServer
) -> None:
    _allow_loopback(target, refresh=0.0)
    key = ECKey.generate_key("P-256")
    jwks_server.publish(key)
    assert await _approve(target, await _propose(target, jwks_server.url)) == 200
    # An insider points the client at a URL they control and approves it themselves.
    other = JwksServer()
    thread = threading.Thread(target=other.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        theirs = ECKey.generate_key("P-256")
        other.publish(theirs)
        proposal = await _propose(target, other.url, by="demo-admin")
        assert await _approve(target, proposal, by="demo-admin") in (403, 409)
        _refused(await _token(target, assertion(theirs)))
        assert other.hits == 0, "a proposed URL is not fetched before it is approved"
        assert (await _token(target, assertion(key))).status_code == 200
    finally:
        other.httpd.shutdown()
        other.httpd.server_close()


async def test_only_https_urls_and_loopback_only_where_allowed(target: Target) -> None:
    admin = await _as(target, "demo-admin")
    bad = [
        "http://keys.dinsos.example/jwks.json",
        "http://127.0.0.1:9/jwks.json",  # loopback, but the setting is off
        "ftp://keys.dinsos.example/jwks.json",
        "https://user:pw@keys.dinsos.example/jwks.json",
        "https:///jwks.json",
        "not a url",
    ]
    for url in bad:
        r = await target.client.post(
            f"/admin/clients/{CLIENT}/keys", json={"jwks_uri": url}, headers=admin
        )
        assert r.status_code == 422, (url, r.text)
    key = ECKey.generate_key("P-256")
    both = {
        "jwks": {"keys": [{**key.as_dict(private=False), "kid": "k"}]},
        "jwks_uri": "https://keys.dinsos.example/jwks.json",
    }
    for body in (both, {}):
        r = await target.client.post(f"/admin/clients/{CLIENT}/keys", json=body, headers=admin)
        assert_problem(r, 422, r.json().get("code", "invalid_request"))
    r = await target.client.post(
        f"/admin/clients/{CLIENT}/keys",
        json={"jwks_uri": "https://keys.dinsos.example/jwks.json"},
        headers=admin,
    )
    assert r.status_code == 202, r.text
