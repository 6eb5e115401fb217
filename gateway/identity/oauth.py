"""OAuth 2.0 client credentials (RFC 6749 §4.4) with authlib, issuing RFC 9068 JWTs.

authlib runs the grant: client authentication (``client_secret_basic`` and
``client_secret_post``), grant-type and scope checks, and the error responses. We supply
the storage (a client row read before authlib runs) and the token generator, which signs
an ``at+jwt`` with the gateway's ES256 key through joserfc, authlib's JOSE library.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import secrets
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from gateway.identity.client_auth import authenticate_private_key_jwt

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
SCOPES = (
    "residents:read",
    "residents:search",
    "pseudonyms:resolve",
    "statistics:read",
    "admin",
    "audit",
)


def hash_secret(secret: str) -> str:
    """SHA-256 of a client secret. Secrets are 256-bit random strings made by the gateway,
    so a fast hash is enough; human passwords (the console) use argon2 instead."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_generation(secret_hash: str) -> str:
    """A short name for the client's current secret, carried in its tokens as ``gen``.

    Derived from the stored hash (one more hash over it, so a token tells nothing about
    the secret): a rotation changes it, and the tokens of the old one can be refused.
    """
    return hashlib.sha256(b"satugate-gen:" + secret_hash.encode("ascii")).hexdigest()[:16]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_client_id(agency: str) -> str:
    return f"{agency}-{secrets.token_hex(6)}"


@dataclass(frozen=True)
class ClientRecord(ClientMixin):  # type: ignore[misc]
    client_id: str
    name: str
    agency: str
    scopes: tuple[str, ...]
    secret_hash: str
    active: bool
    # private_key_jwt: the registered JWKS, and whether the shared secret is refused.
    jwks: str | None = None
    secrets_disabled: bool = False
    # DPoP: the client's tokens must be bound to its key.
    dpop_required: bool = False

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.scopes)
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secrets_disabled:
            return False
        return self.active and hmac.compare_digest(hash_secret(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint != "token":
            return False
        if method == "private_key_jwt":
            return bool(self.jwks)
        return not self.secrets_disabled and method in SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return self.active and grant_type == "client_credentials"


class _FormPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, form: dict[str, list[str]]) -> None:
        self._form = form

    @property
    def data(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._form.items() if v}

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        out: defaultdict[str, list[str]] = defaultdict(list)
        for k, v in self._form.items():
            out[k].extend(v)
        return out


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, uri: str, headers: Mapping[str, str], form: dict[str, list[str]]) -> None:
        super().__init__(method="POST", uri=uri, headers=headers)
        self._form = form
        self.payload = _FormPayload(form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._form.items() if v}


# The client row for the request being handled, read asynchronously before authlib's
# synchronous machinery asks for it through ``query_client``.
_current_client: contextvars.ContextVar[ClientRecord | None] = contextvars.ContextVar(
    "satugate_oauth_client", default=None
)


# The thumbprint of the DPoP key the token being issued is bound to (RFC 9449), if any.
_current_jkt: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "satugate_oauth_jkt", default=None
)


@dataclass
class TokenResult:
    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]]


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = self.request.payload.scope
        # Asking only for scopes the client does not hold is an error (RFC 6749 §5.2),
        # not a token with no scope at all.
        if requested and not self.request.client.get_allowed_scope(requested):
            raise InvalidScopeError("none of the requested scopes is granted to this client")


class TokenServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self, *, issuer: str, audience: str, ttl: int, signing_key: ECKey | RSAKey
    ) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._key = signing_key
        self.signing_key = signing_key
        self.register_grant(_ClientCredentials)
        self.register_client_auth_method("private_key_jwt", authenticate_private_key_jwt)
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=self._access_token,
                expires_generator=lambda client, grant_type: self.ttl,
            ),
        )

    # authlib hooks -------------------------------------------------------------------
    def query_client(self, client_id: str) -> ClientRecord | None:
        client = _current_client.get()
        return client if client is not None and client.client_id == client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        return None  # self-contained JWTs; revocation is by jti and by client

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: _Request) -> _Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError

    def handle_response(self, status: int, body: Any, headers: Any) -> TokenResult:
        return TokenResult(status, dict(body), list(headers))

    # the token itself ----------------------------------------------------------------
    def _access_token(self, client: ClientRecord, grant_type: str, user: Any, scope: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": client.client_id,
            "aud": self.audience,
            "client_id": client.client_id,
            "agency": client.agency,
            "scope": scope,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl,
            "jti": secrets.token_urlsafe(16),
            # Which secret the token was issued under: rotation revokes the old one's.
            "gen": secret_generation(client.secret_hash),
        }
        jkt = _current_jkt.get()
        if jkt:
            claims["cnf"] = {"jkt": jkt}
        header = {"alg": self.signing_alg, "typ": "at+jwt", "kid": self._key.kid}
        return jwt.encode(header, claims, self._key, algorithms=[self.signing_alg])

    @property
    def signing_alg(self) -> str:
        """ES256, or RS256 when the deployment chose it (RFC 9068 §2.1)."""
        return "RS256" if isinstance(self._key, RSAKey) else "ES256"

    def issue(
        self,
        client: ClientRecord | None,
        uri: str,
        headers: Mapping[str, str],
        form: dict[str, list[str]],
        *,
        jkt: str | None = None,
    ) -> TokenResult:
        token = _current_client.set(client)
        bound = _current_jkt.set(jkt)
        try:
            result: TokenResult = self.create_token_response(_Request(uri, headers, form))
            if jkt and result.status == 200:
                result.body["token_type"] = "DPoP"  # noqa: S105 (RFC 9449 §5)
            return result
        finally:
            _current_jkt.reset(bound)
            _current_client.reset(token)


def client_id_from(headers: dict[str, str], form: dict[str, list[str]]) -> str | None:
    """The client id the request claims, from HTTP Basic or the form (before authlib checks it)."""
    auth = headers.get("authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        client_id, sep, _ = decoded.partition(":")
        from urllib.parse import unquote

        return unquote(client_id) if sep else None
    values = form.get("client_id")
    return values[0] if values else None
