"""Console users: argon2id password hashes, TOTP, and the sign-in check.

Console users are city staff (administrators of ``diskominfo``, auditors of
``inspektorat``), not API clients: they sign in with a password and, when enrolled, a TOTP
code. Their TOTP secrets are stored wrapped under the master key, like every other key.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.platform import store
from gateway.platform.keys import SecretKey

ROLES = ("admin", "auditor")
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._\-]{1,63}")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

# Security decision: wrong passwords are throttled per source address and per account
# *from that address* (``gateway.console.pages.auth``), never by locking the account: a
# lock that anyone could set by guessing would let them keep the real user out. TOTP,
# required for every console user outside the demo, makes a guessed password alone worth
# nothing. Failures are still counted per account (``failed_attempts``), for the record.


@functools.cache
def default_hasher() -> PasswordHasher:
    """argon2id with the library's defaults (RFC 9106's second recommended option:
    t=3, 64 MiB, p=4). Each hash records its own parameters, so a hasher with other
    parameters (tests use cheaper ones) still verifies every stored hash."""
    return PasswordHasher()


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Verified against when the username is unknown, so that a miss costs as long as a
    hit and response times do not tell which usernames exist."""
    return hasher.hash("satugate-console-no-such-user")


class UserError(ValueError):
    """A console user cannot be created as asked (bad name, weak password, duplicate)."""


class SignInFailed(Exception):
    """Sign-in refused. Deliberately one kind: wrong name, password, code or a locked
    account all look the same to the person signing in."""


@dataclass(frozen=True)
class ConsoleUser:
    """A signed-in console user as the pages see it."""

    username: str
    role: str
    password_hash: str

    @property
    def agency(self) -> str:
        """The agency the user acts for in the audit log."""
        return "diskominfo" if self.role == "admin" else "inspektorat"


def check_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise UserError(
            "a username has 2-64 characters: lowercase letters, digits, '.', '_' or '-'"
        )
    return username


def check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def wrap_totp_secret(master_key: SecretKey, secret: str) -> bytes:
    """Wrap a base32 TOTP secret under the master key (AES key wrap, RFC 5649)."""
    return aes_key_wrap_with_padding(master_key.reveal(), secret.encode("ascii"))


def unwrap_totp_secret(master_key: SecretKey, wrapped: bytes) -> str:
    try:
        return aes_key_unwrap_with_padding(master_key.reveal(), wrapped).decode("ascii")
    except InvalidUnwrap as exc:
        raise SignInFailed("the TOTP secret does not unwrap") from exc


async def create_user(
    engine: AsyncEngine,
    username: str,
    password: str,
    role: str,
    totp_secret: str | None = None,
    *,
    master_key: SecretKey | None = None,
    hasher: PasswordHasher | None = None,
) -> ConsoleUser:
    """Create a console user with an argon2id password hash.

    ``totp_secret`` (base32, as ``pyotp.random_base32()`` makes) enrols the user in TOTP;
    it is stored wrapped under ``master_key``, which is then required.
    """
    check_username(username)
    check_password(password)
    if role not in ROLES:
        raise UserError("the role must be admin or auditor")
    wrapped: bytes | None = None
    if totp_secret is not None:
        if master_key is None:
            raise UserError("a TOTP secret is stored wrapped: pass the master key")
        pyotp.TOTP(totp_secret).now()  # refuse a secret that is not base32
        wrapped = wrap_totp_secret(master_key, totp_secret)
    password_hash = (hasher or default_hasher()).hash(password)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(store.console_users).values(
                    username=username,
                    role=role,
                    password_hash=password_hash,
                    totp_secret=wrapped,
                    failed_attempts=0,
                    locked_until=None,
                    created_at=store.utcnow(),
                )
            )
    except IntegrityError as exc:
        raise UserError("a console user with this name exists") from exc
    return ConsoleUser(username, role, password_hash)


async def set_password(
    engine: AsyncEngine, username: str, password: str, *, hasher: PasswordHasher | None = None
) -> None:
    """Give a user a new password and lift any lock. Their open sessions end (the
    session carries a fingerprint of the old hash)."""
    check_password(password)
    password_hash = (hasher or default_hasher()).hash(password)
    table = store.console_users
    async with engine.begin() as conn:
        result = await conn.execute(
            update(table)
            .where(table.c.username == username)
            .values(password_hash=password_hash, failed_attempts=0, locked_until=None)
        )
    if result.rowcount != 1:
        raise UserError("no console user with this name")


DEMO_USERS = (("admin.satu", "admin"), ("admin.dua", "admin"), ("auditor.satu", "auditor"))


async def seed_demo_users(
    engine: AsyncEngine, *, hasher: PasswordHasher | None = None
) -> list[dict[str, str]]:
    """The demo's console users (two administrators, so that the two-person rule can be
    tried, and one auditor), each with a fresh random password, returned once."""
    out = []
    for username, role in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        if await get_user(engine, username) is None:
            await create_user(engine, username, password, role, hasher=hasher)
        else:
            await set_password(engine, username, password, hasher=hasher)
        out.append({"username": username, "role": role, "password": password})
    return out


async def get_user(engine: AsyncEngine, username: str) -> ConsoleUser | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    store.console_users.c.username,
                    store.console_users.c.role,
                    store.console_users.c.password_hash,
                ).where(store.console_users.c.username == username)
            )
        ).first()
    return None if row is None else ConsoleUser(row.username, row.role, row.password_hash)


async def authenticate(
    engine: AsyncEngine,
    username: str,
    password: str,
    totp_code: str | None,
    *,
    master_key: SecretKey | None,
    now: datetime | None = None,
    hasher: PasswordHasher | None = None,
    totp_fresh: Callable[[str, str], Awaitable[bool]] | None = None,
    throttled: bool = False,
    require_totp: bool = False,
) -> ConsoleUser:
    """Check a sign-in; raise :class:`SignInFailed` for any refusal.

    ``totp_fresh(username, code)`` is asked only for a valid code, and must answer False
    when that code was used before (and remember it otherwise): a code seen over a
    shoulder or in a proxy log cannot be replayed within its 90-second window.
    ``throttled``: the caller's limits refuse this attempt whatever it holds.
    ``require_totp``: a user not enrolled in TOTP cannot sign in (production).

    Security decisions: every refusal costs what a check costs and looks the same: an
    unknown name is checked against a dummy hash and its failure written as for a known
    one (the update matches no row), and a throttled attempt is checked too, its answer
    thrown away. Nobody can tell from the answer or its time whether a name exists or
    an attempt was throttled. Failures are counted with one atomic update.
    """
    now = now or datetime.now(UTC)
    hasher = hasher or default_hasher()
    table = store.console_users
    async with engine.connect() as conn:
        row = (await conn.execute(select(table).where(table.c.username == username))).first()
    known = row is not None and len(password) <= MAX_PASSWORD_LENGTH
    password_hash: str = row.password_hash if known and row is not None else _dummy_hash(hasher)
    ok = _verify(hasher, password_hash, password[:MAX_PASSWORD_LENGTH]) and known
    if ok and row is not None:
        if row.totp_secret is not None:
            if master_key is None:
                raise SignInFailed("TOTP enrolled but no master key to read it")
            secret = unwrap_totp_secret(master_key, bytes(row.totp_secret))
            code = (totp_code or "").strip().replace(" ", "")
            ok = code.isdigit() and pyotp.TOTP(secret).verify(code, for_time=now, valid_window=1)
            if ok and totp_fresh is not None and not throttled:
                ok = await totp_fresh(username, code)
        elif require_totp:
            ok = False
    ok = ok and not throttled
    async with engine.begin() as conn:
        if not ok:
            await conn.execute(
                update(table)
                .where(table.c.username == username)
                .values(failed_attempts=table.c.failed_attempts + 1)
            )
        else:
            if hasher.check_needs_rehash(password_hash):
                password_hash = hasher.hash(password)
            await conn.execute(
                update(table)
                .where(table.c.username == username)
                .values(failed_attempts=0, locked_until=None, password_hash=password_hash)
            )
    if not ok or row is None:
        raise SignInFailed("refused")
    return ConsoleUser(row.username, row.role, password_hash)


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
