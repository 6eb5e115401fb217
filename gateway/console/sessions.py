"""Console sessions: signed, expiring cookies and per-session CSRF tokens.

The session is a cookie signed with a key derived from ``SATUGATE_CONSOLE_SECRET`` (or,
when that is unset, from the master key, so that every replica derives the same one and
nothing is hard-coded). It carries the username, role, a random session id and a
fingerprint of the password hash: changing a password ends that user's sessions. Each
request re-reads the user from the store, so a deleted user or a changed role takes
effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from gateway.platform.keys import SecretKey, load_master_key
from gateway.platform.settings import Settings

SESSION_COOKIE = "satugate_console"
LOGIN_COOKIE = "satugate_console_login"
COOKIE_PATH = "/console"
# Security decision: a session lasts one working day at most; signing in again each
# morning bounds what a stolen cookie is worth.
SESSION_SECONDS = 8 * 3600
LOGIN_SECONDS = 3600
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class ConsoleKeys:
    """The console's keys, derived once per process and kept on ``app.state``."""

    session: SecretKey
    master: SecretKey | None
    secure_cookies: bool

    def __repr__(self) -> str:
        return "ConsoleKeys(***)"


def _hkdf(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


def derive_keys(settings: Settings) -> ConsoleKeys:
    """Derive the session key from the console secret, or from the master key.

    Security decision: an operator-given secret shorter than 32 bytes is refused rather
    than stretched; a derived key (HKDF with its own label) never equals the master key
    or any other key derived from it.
    """
    master_file = settings.resolved_master_key_file()
    master = load_master_key(master_file) if master_file.exists() else None
    if settings.console_secret is not None:
        raw = settings.console_secret.get_secret_value().encode("utf-8")
        if len(raw) < MIN_SECRET_BYTES:
            raise ValueError(f"SATUGATE_CONSOLE_SECRET needs at least {MIN_SECRET_BYTES} bytes")
    elif master is not None:
        raw = master.reveal()
    else:
        raise ValueError("set SATUGATE_CONSOLE_SECRET or provide the master key file")
    return ConsoleKeys(
        session=SecretKey(_hkdf(raw, b"satugate/console/session/v1")),
        master=master,
        secure_cookies=settings.issuer.startswith("https://"),
    )


def keys_for(request: Request) -> ConsoleKeys:
    """The console keys of this app, derived at the first request and then reused."""
    state = request.app.state
    keys: ConsoleKeys | None = getattr(state, "console_keys", None)
    if keys is None:
        keys = derive_keys(request.app.state.services.settings)
        state.console_keys = keys
    return keys


def _serializer(keys: ConsoleKeys, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        keys.session.reveal(), salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
    )


def _mac(keys: ConsoleKeys, label: bytes, value: str) -> str:
    return hmac.new(keys.session.reveal(), label + b"\x00" + value.encode(), "sha256").hexdigest()


@dataclass(frozen=True)
class Session:
    username: str
    role: str
    sid: str
    password_fingerprint: str


def revocation_id(session: Session) -> str:
    """The id under which a signed-out session is kept in the revocation store."""
    return f"console-session:{session.sid}"


def password_fingerprint(keys: ConsoleKeys, password_hash: str) -> str:
    return _mac(keys, b"password", password_hash)[:32]


def issue(keys: ConsoleKeys, *, username: str, role: str, password_hash: str) -> str:
    """A new signed session cookie value, with a fresh session id (no fixation)."""
    payload = {
        "u": username,
        "r": role,
        "sid": secrets.token_urlsafe(18),
        "pw": password_fingerprint(keys, password_hash),
    }
    return str(_serializer(keys, "session").dumps(payload))


def read(keys: ConsoleKeys, cookie: str | None) -> Session | None:
    """The session in a cookie, or None when absent, forged or expired."""
    if not cookie or len(cookie) > 4096:
        return None
    try:
        data: Any = _serializer(keys, "session").loads(cookie, max_age=SESSION_SECONDS)
    except BadSignature:  # also covers SignatureExpired
        return None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) for k in ("u", "r", "sid", "pw")
    ):
        return None
    return Session(data["u"], data["r"], data["sid"], data["pw"])


def csrf_token(keys: ConsoleKeys, session: Session) -> str:
    """The session's CSRF token: a MAC of its id, so it needs no storage."""
    return _mac(keys, b"csrf", session.sid)


def login_csrf_token(keys: ConsoleKeys, nonce: str) -> str:
    """The sign-in form's CSRF token, bound to a short-lived pre-session cookie."""
    return _mac(keys, b"login-csrf", nonce)


def tokens_match(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


def set_cookie(response: Response, keys: ConsoleKeys, name: str, value: str, max_age: int) -> None:
    """Set a console cookie. Security decision: HttpOnly (scripts never see it),
    SameSite=Strict (no cross-site request carries it), Secure whenever the gateway is
    served over https, and scoped to ``/console``."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=keys.secure_cookies,
    )


def clear_cookie(response: Response, keys: ConsoleKeys, name: str) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=keys.secure_cookies
    )


LOGIN_NONCE_RE = re.compile(r"[A-Za-z0-9_\-]{32}")


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)
