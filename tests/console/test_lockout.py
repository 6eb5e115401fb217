"""Five failed sign-ins lock an account for fifteen minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from gateway import store
from tests.console.conftest import ADMIN_1, AUDITOR, BOTH_STORES, Console


async def _row(console_app: Console, username: str):
    table = store.console_users
    async with console_app.services.engine.connect() as conn:
        return (await conn.execute(select(table).where(table.c.username == username))).one()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@BOTH_STORES
async def test_five_failures_lock_the_account(console_app: Console) -> None:
    browser = console_app.browser()
    for _ in range(5):
        assert (await browser.sign_in(ADMIN_1[0], "salah-salah-salah")).status_code == 401
    row = await _row(console_app, ADMIN_1[0])
    assert row.locked_until is not None
    remaining = _aware(row.locked_until) - datetime.now(UTC)
    assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)

    refused = await browser.sign_in(*ADMIN_1)
    assert refused.status_code == 401, "the right password does not open a locked account"
    assert "dikunci" in refused.text

    # Other accounts are not affected.
    assert (await console_app.browser().sign_in(*AUDITOR)).status_code == 303

    # Fifteen minutes later (moved back in the store) the right password works again.
    table = store.console_users
    async with console_app.services.engine.begin() as conn:
        await conn.execute(
            update(table)
            .where(table.c.username == ADMIN_1[0])
            .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await browser.sign_in(*ADMIN_1)).status_code == 303
    row = await _row(console_app, ADMIN_1[0])
    assert row.failed_attempts == 0 and row.locked_until is None


async def test_a_success_resets_the_count(console_app: Console) -> None:
    browser = console_app.browser()
    for _ in range(4):
        await browser.sign_in(ADMIN_1[0], "salah-salah-salah")
    assert (await _row(console_app, ADMIN_1[0])).failed_attempts == 4
    assert (await browser.sign_in(*ADMIN_1)).status_code == 303
    assert (await _row(console_app, ADMIN_1[0])).failed_attempts == 0
    for _ in range(4):
        await browser.sign_in(ADMIN_1[0], "salah-salah-salah")
    assert (await browser.sign_in(*ADMIN_1)).status_code == 303, "not locked after 4 + 4"


@BOTH_STORES
async def test_an_expired_lock_starts_a_fresh_count(console_app: Console) -> None:
    browser = console_app.browser()
    for _ in range(5):
        await browser.sign_in(ADMIN_1[0], "salah-salah-salah")
    table = store.console_users
    async with console_app.services.engine.begin() as conn:
        await conn.execute(
            update(table)
            .where(table.c.username == ADMIN_1[0])
            .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    await browser.sign_in(ADMIN_1[0], "salah-salah-salah")
    row = await _row(console_app, ADMIN_1[0])
    assert row.failed_attempts == 1 and row.locked_until is None
