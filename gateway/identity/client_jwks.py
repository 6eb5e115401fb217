"""Client keys published at a JWKS URL (``jwks_uri``) instead of registered inline.

A URL is registered through the same two-person proposal as inline keys
(``gateway.admin.proposals``): whoever controls the URL controls the client's identity,
so changing it is a change of access. The rules, each against a client or an attacker
that would abuse the gateway's fetch:

- ``https`` only; plain ``http`` to a loopback address only where the deployment allows
  it (``SATUGATE_CLIENT_JWKS_HTTP_LOOPBACK``, for tests and a local demo).
- A short timeout and a size cap (``MAX_BYTES``): a slow or huge answer is not waited
  for or read whole, and the cached keys stay in use.
- Keys are cached per URL and fetched again only for an unknown ``kid``, at most once
  per ``refresh_seconds``: assertions with invented kids cannot make the gateway hammer
  the URL.
- Only public asymmetric keys of the set are used; a garbage answer leaves the cache as
  it was.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.platform.errors import InvalidRequest

MAX_BYTES = 64 * 1024
MAX_URL = 512
_LOOPBACK_NAMES = frozenset({"localhost"})


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_jwks_uri(value: object, *, http_loopback: bool) -> str:
    """A JWKS URL as registered: absolute https (or loopback http where allowed), with
    no credentials or fragment."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL:
        raise InvalidRequest(f"jwks_uri is a URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError as exc:
        raise InvalidRequest("jwks_uri is not a URL") from exc
    if not host or parts.username or parts.password or parts.fragment:
        raise InvalidRequest("jwks_uri names a host, with no credentials or fragment")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and http_loopback and _loopback(host):
        return value
    raise InvalidRequest("jwks_uri must be an https URL")


@dataclass
class _Cached:
    keys: KeySet | None = None
    kids: frozenset[str] = frozenset()
    fetched_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RemoteJwks:
    """Keys of the client JWKS URLs, cached per URL in this process."""

    def __init__(self, *, timeout: float, refresh_seconds: float, http_loopback: bool) -> None:
        self.timeout = timeout
        self.refresh_seconds = refresh_seconds
        self.http_loopback = http_loopback
        self._cache: dict[str, _Cached] = {}
        self.fetches = 0

    async def keys(self, uri: str, kid: object) -> KeySet | None:
        """The key set at ``uri``; fetched again when ``kid`` is unknown and the last
        fetch is older than ``refresh_seconds``. None when no keys could ever be had."""
        # Registered through a proposal, and checked again here: a setting may have changed.
        checked_jwks_uri(uri, http_loopback=self.http_loopback)
        cached = self._cache.setdefault(uri, _Cached())
        if self._wants(cached, kid):
            async with cached.lock:
                if self._wants(cached, kid):
                    await self._fetch(uri, cached)
        return cached.keys

    def _wants(self, cached: _Cached, kid: object) -> bool:
        unknown = cached.keys is None or (isinstance(kid, str) and kid not in cached.kids)
        return unknown and time.monotonic() - cached.fetched_at >= self.refresh_seconds

    async def _fetch(self, uri: str, cached: _Cached) -> None:
        cached.fetched_at = time.monotonic()
        self.fetches += 1
        try:
            body = await asyncio.wait_for(self._read(uri), self.timeout)
            keys = [k for k in _parsed(body) if k.get("kty") in ("EC", "RSA", "OKP")]
            public = [k for k in keys if "d" not in k and isinstance(k.get("kid"), str)]
            if not public:
                return
            cached.keys = KeySet.import_key_set({"keys": public})
            cached.kids = frozenset(str(k["kid"]) for k in public)
        except (TimeoutError, httpx.HTTPError, ValueError, TypeError, KeyError, JoseError):
            return  # the cached keys, if any, stay in use

    async def _read(self, uri: str) -> bytes:
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            return await read_capped(client, uri)


async def read_capped(client: httpx.AsyncClient, uri: str) -> bytes:
    """The body of a GET for JSON, refused (``ValueError``) past ``MAX_BYTES``: declared
    or not, a huge answer is never read whole."""
    async with client.stream("GET", uri, headers={"Accept": "application/json"}) as response:
        response.raise_for_status()
        declared = response.headers.get("content-length")
        if declared is not None and int(declared) > MAX_BYTES:
            raise ValueError("the answer is too large")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_BYTES:
                raise ValueError("the answer is too large")
        return bytes(body)


def _parsed(body: bytes) -> list[dict[str, Any]]:
    data = json.loads(body)
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list):
        raise ValueError("not a JWK Set")
    return [k for k in keys if isinstance(k, dict)]
