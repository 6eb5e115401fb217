"""Wrong passwords slow the guesser down without locking the owner out, and every
refusal looks and costs the same.

The sign-in used to lock an account for fifteen minutes after five wrong passwords,
even against the right one (anyone could shut its owner out), and to answer a locked
account without checking its password (a timing oracle). Now failures are throttled per
source address and per account from that address; the owner, from another address,
signs in; an unknown name, a wrong password and a throttled attempt each run one
password check and get the same page.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import httpx
import pyotp
from argon2 import PasswordHasher

from gateway import console
from gateway.platform.keys import load_master_key
from tests.console.conftest import (
    ADMIN_1,
    AUDITOR,
    BOTH_STORES,
    FAST_HASHER,
    ISSUER,
    Browser,
    Console,
)


class CountingHasher(PasswordHasher):
    """The tests' cheap argon2 parameters, counting the password checks it runs."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


def _from(console_app: Console, host: str) -> Browser:
    transport = httpx.ASGITransport(app=console_app.app, client=(host, 50000))
    client = httpx.AsyncClient(transport=transport, base_url=ISSUER)
    console_app._clients.append(client)
    return Browser(client)


def _page(response: httpx.Response) -> str:
    """The sign-in page without what differs by design (its CSRF token)."""
    return re.sub(r'name="csrf" value="[^"]*"', "", response.text)


@BOTH_STORES
async def test_guessing_is_throttled_and_the_owner_still_gets_in(console_app: Console) -> None:
    attacker = _from(console_app, "198.51.100.23")
    for _ in range(5):
        assert (await attacker.sign_in(ADMIN_1[0], "salah-salah-salah")).status_code == 401
    refused = await attacker.sign_in(*ADMIN_1)
    assert refused.status_code == 401, "from the guessing address, even the right one waits"
    assert "ditahan sementara" in refused.text  # the one message for every refusal

    owner = _from(console_app, "203.0.113.50")
    assert (await owner.sign_in(*ADMIN_1)).status_code == 303, "the owner is not locked out"
    assert (await _from(console_app, "198.51.100.23").sign_in(*AUDITOR)).status_code == 303, (
        "other accounts from that address are not held up by five failures"
    )


async def test_unknown_wrong_and_throttled_look_and_cost_the_same(console_app: Console) -> None:
    hasher = CountingHasher()
    console_app.app.state.console_hasher = hasher
    browser = _from(console_app, "198.51.100.99")
    for _ in range(5):
        await browser.sign_in(AUDITOR[0], "salah-salah-salah")
    pages: dict[str, Any] = {}
    for case, user, password in (
        ("unknown", "tidak.ada", "salah-salah-salah"),
        ("wrong", ADMIN_1[0], "salah-salah-salah"),
        ("throttled", AUDITOR[0], "kata-sandi-auditor"),
    ):
        before = hasher.verified
        response = await browser.sign_in(user, password)
        assert response.status_code == 401, case
        assert hasher.verified - before == 1, f"{case}: one password check, like the others"
        pages[case] = _page(response).replace(user, "NAME")
    assert pages["unknown"] == pages["wrong"] == pages["throttled"]


@BOTH_STORES
async def test_outside_the_demo_a_console_user_needs_totp(console_app: Console) -> None:
    settings = console_app.services.settings
    console_app.services.settings = settings.model_copy(update={"console_totp_required": True})
    try:
        assert (await console_app.browser().sign_in(*ADMIN_1)).status_code == 401
        secret = pyotp.random_base32()
        await console.create_user(
            console_app.services.engine, "ibu.dua", "kata-sandi-dengan-totp", "admin", secret,
            master_key=load_master_key(settings.resolved_master_key_file()), hasher=FAST_HASHER,
        )  # fmt: skip
        ok = await console_app.browser().sign_in(
            "ibu.dua", "kata-sandi-dengan-totp", pyotp.TOTP(secret).now()
        )
        assert ok.status_code == 303
    finally:
        console_app.services.settings = settings
