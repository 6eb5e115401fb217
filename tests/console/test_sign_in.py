"""Signing in and out: passwords, TOTP, signed sessions and their cookies."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pyotp
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from pydantic import SecretStr
from sqlalchemy import update
from starlette.responses import Response

from gateway import console
from gateway.console import sessions
from gateway.platform import store
from gateway.platform.keys import load_master_key
from gateway.platform.settings import Settings
from tests.console.conftest import (
    ADMIN_1,
    AUDITOR,
    BOTH_STORES,
    FAST_HASHER,
    Console,
    make_settings,
)


@BOTH_STORES
async def test_sign_in_lands_on_the_dashboard(console_app: Console) -> None:
    browser = console_app.browser()
    response = await browser.sign_in(*ADMIN_1)
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    home = await browser.get("/console/")
    assert home.status_code == 200
    assert "admin.satu" in home.text and "Dasbor" in home.text
    assert "content-security-policy" in home.headers and home.headers["x-frame-options"] == "DENY"


async def test_session_cookie_is_httponly_strict_and_scoped(console_app: Console) -> None:
    browser = console_app.browser()
    response = await browser.sign_in(*AUDITOR)
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(sessions.SESSION_COOKIE + "="))
    lowered = session.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/console" in lowered
    assert "secure" not in lowered.replace("samesite", ""), "plain http test server: no Secure"


def test_cookies_are_secure_when_the_issuer_is_https(console_settings: Settings) -> None:
    settings = console_settings.model_copy(
        update={"issuer": "https://gateway.example", "console_secret": SecretStr("k" * 40)}
    )
    keys = sessions.derive_keys(settings)
    response = Response()
    sessions.set_cookie(response, keys, sessions.SESSION_COOKIE, "value", 60)
    assert "secure" in response.headers["set-cookie"].lower().split("; ")


async def test_wrong_password_is_refused_without_saying_why(console_app: Console) -> None:
    browser = console_app.browser()
    wrong = await browser.sign_in(ADMIN_1[0], "not-the-password-at-all")
    unknown = await browser.sign_in("nobody.here", "not-the-password-at-all")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "kata sandi atau kode salah" in response.text
        assert sessions.SESSION_COOKIE + "=" not in response.headers.get("set-cookie", "")
    assert (await browser.get("/console/")).status_code == 303


async def test_pages_need_a_session(console_app: Console) -> None:
    browser = console_app.browser()
    for path in ("/console/", "/console/clients", "/console/audit", "/console/policies/1"):
        response = await browser.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/console/login"


async def test_forged_and_expired_cookies_are_refused(console_app: Console) -> None:
    browser = await console_app.signed_in(ADMIN_1)
    cookie = browser.client.cookies[sessions.SESSION_COOKIE]
    assert (await browser.get("/console/")).status_code == 200

    forged = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    browser.client.cookies.set(sessions.SESSION_COOKIE, forged, path="/console")
    assert (await browser.get("/console/")).status_code == 303

    class NineHoursAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 9 * 3600

    keys = sessions.derive_keys(console_app.settings)
    user = await console.users.get_user(console_app.services.engine, ADMIN_1[0])
    assert user is not None
    old = URLSafeTimedSerializer(
        keys.session.reveal(), salt="session", signer=NineHoursAgo,
        signer_kwargs={"digest_method": hashlib.sha256},
    ).dumps({"u": user.username, "r": user.role, "sid": "x" * 24,
             "pw": sessions.password_fingerprint(keys, user.password_hash)})  # fmt: skip
    browser.client.cookies.set(sessions.SESSION_COOKIE, old, path="/console")
    assert (await browser.get("/console/")).status_code == 303


async def test_a_changed_password_or_role_ends_the_session(console_app: Console) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    auditor = await console_app.signed_in(AUDITOR)
    table = store.console_users
    async with console_app.services.engine.begin() as conn:
        await conn.execute(
            update(table)
            .where(table.c.username == ADMIN_1[0])
            .values(password_hash="$argon2id$other")
        )
        await conn.execute(update(table).where(table.c.username == AUDITOR[0]).values(role="admin"))
    assert (await admin.get("/console/")).status_code == 303
    assert (await auditor.get("/console/")).status_code == 303


async def test_sign_out_ends_the_session_even_for_a_copied_cookie(console_app: Console) -> None:
    browser = await console_app.signed_in(ADMIN_1)
    copied = browser.client.cookies[sessions.SESSION_COOKIE]
    other = await console_app.signed_in(ADMIN_1)
    response = await browser.post("/console/logout")
    assert response.status_code == 303 and response.headers["location"] == "/console/login"
    assert (await browser.get("/console/")).status_code == 303
    thief = console_app.browser()
    thief.client.cookies.set(sessions.SESSION_COOKIE, copied, path="/console")
    assert (await thief.get("/console/")).status_code == 303, "the copy is dead too"
    assert (await other.get("/console/")).status_code == 200, "other sessions go on"


async def test_totp_is_required_when_enrolled(console_app: Console) -> None:
    secret = pyotp.random_base32()
    master = load_master_key(console_app.settings.resolved_master_key_file())
    await console.create_user(
        console_app.services.engine, "ibu.totp", "kata-sandi-dengan-totp", "auditor", secret,
        master_key=master, hasher=FAST_HASHER,
    )  # fmt: skip
    browser = console_app.browser()
    assert (await browser.sign_in("ibu.totp", "kata-sandi-dengan-totp")).status_code == 401
    totp = pyotp.TOTP(secret)
    now = time.time()
    valid = {totp.at(now + step * 30) for step in (-2, -1, 0, 1, 2)}
    wrong = next(c for c in (f"{n:06d}" for n in range(10)) if c not in valid)
    assert (await browser.sign_in("ibu.totp", "kata-sandi-dengan-totp", wrong)).status_code == 401
    code = totp.now()
    good = await browser.sign_in("ibu.totp", "kata-sandi-dengan-totp", code)
    assert good.status_code == 303
    assert (await browser.get("/console/audit")).status_code == 200
    replay = await console_app.browser().sign_in("ibu.totp", "kata-sandi-dengan-totp", code)
    assert replay.status_code == 401, "a TOTP code works once"


async def test_users_need_a_strong_password_and_a_known_role(console_app: Console) -> None:
    engine = console_app.services.engine
    for name, password, role in (
        ("pendek", "short", "admin"),
        ("Bad Name", "kata-sandi-cukup-panjang", "admin"),
        ("peran.lain", "kata-sandi-cukup-panjang", "root"),
        (ADMIN_1[0], "kata-sandi-cukup-panjang", "admin"),  # exists
    ):
        try:
            await console.create_user(engine, name, password, role)
        except console.UserError:
            continue
        raise AssertionError(f"{name} should have been refused")
    try:
        await console.create_user(
            engine, "tanpa.kunci", "kata-sandi-cukup-panjang", "admin", pyotp.random_base32()
        )
    except console.UserError:
        pass
    else:
        raise AssertionError("a TOTP secret without the master key must be refused")


def test_the_session_key_comes_from_the_console_secret_or_the_master_key(
    console_settings: Settings, tmp_path: Path
) -> None:
    from gateway.platform.keys import create_master_key_file

    create_master_key_file(console_settings.resolved_master_key_file())
    derived = sessions.derive_keys(console_settings)
    again = sessions.derive_keys(console_settings)
    assert derived.session.reveal() == again.session.reveal(), "replicas derive the same key"
    master = load_master_key(console_settings.resolved_master_key_file())
    assert derived.session.reveal() != master.reveal()

    given = console_settings.model_copy(update={"console_secret": SecretStr("s" * 40)})
    assert sessions.derive_keys(given).session.reveal() != derived.session.reveal()
    short = console_settings.model_copy(update={"console_secret": SecretStr("too-short")})
    try:
        sessions.derive_keys(short)
    except ValueError:
        pass
    else:
        raise AssertionError("a short console secret must be refused")
    assert "***" in repr(derived)

    other = make_settings(console_settings.sources_file.parent, tmp_path / "other")  # type: ignore[union-attr]
    create_master_key_file(other.resolved_master_key_file())
    assert sessions.derive_keys(other).session.reveal() != derived.session.reveal()


async def test_demo_users_get_fresh_passwords(console_app: Console) -> None:
    engine = console_app.services.engine
    first = await console.seed_demo_users(engine, hasher=FAST_HASHER)
    assert [(u["username"], u["role"]) for u in first] == [
        ("admin.satu", "admin"), ("admin.dua", "admin"), ("auditor.satu", "auditor")
    ]  # fmt: skip
    again = await console.seed_demo_users(engine, hasher=FAST_HASHER)
    assert all(a["password"] != b["password"] for a, b in zip(first, again, strict=True))
    browser = console_app.browser()
    assert (await browser.sign_in("auditor.satu", first[2]["password"])).status_code == 401
    assert (await browser.sign_in("auditor.satu", again[2]["password"])).status_code == 303
