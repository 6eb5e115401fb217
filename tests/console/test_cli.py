"""``satugate console add-user``."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pyotp
import pytest
from typer.testing import CliRunner

from gateway.cli.console import app
from gateway.console.users import SignInFailed, authenticate, get_user
from gateway.platform import store
from gateway.platform.keys import create_master_key_file, load_master_key
from gateway.platform.settings import Settings


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SATUGATE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SATUGATE_DATABASE_URL", raising=False)
    settings = Settings()
    create_master_key_file(settings.resolved_master_key_file())
    return settings


async def _check(settings: Settings, username: str, password: str, code: str | None = None) -> Any:
    engine = store.create_engine(settings.resolved_database_url())
    try:
        user = await get_user(engine, username)
        master = load_master_key(settings.resolved_master_key_file())
        signed = await authenticate(engine, username, password, code, master_key=master)
        return user, signed
    finally:
        await engine.dispose()


def test_add_user_reads_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, monkeypatch)
    monkeypatch.setenv("SATUGATE_CONSOLE_PASSWORD", "kata-sandi-dari-env")
    result = CliRunner().invoke(app, ["add-user", "ibu.rina", "--role", "auditor", "--no-totp"])
    assert result.exit_code == 0, result.output
    assert "kata-sandi-dari-env" not in result.output
    user, signed = asyncio.run(_check(settings, "ibu.rina", "kata-sandi-dari-env"))
    assert (
        user is not None and user.role == "auditor" and user.password_hash.startswith("$argon2id$")
    )
    assert signed.username == "ibu.rina"

    again = CliRunner().invoke(app, ["add-user", "ibu.rina", "--role", "auditor", "--no-totp"])
    assert again.exit_code == 1 and "exists" in again.output


def test_add_user_prompts_and_enrols_totp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path, monkeypatch)
    monkeypatch.delenv("SATUGATE_CONSOLE_PASSWORD", raising=False)
    result = CliRunner().invoke(
        app,
        ["add-user", "pak.budi", "--role", "admin", "--totp"],
        input="kata-sandi-prompt\nkata-sandi-prompt\n",
    )
    assert result.exit_code == 0, result.output
    secret = re.search(r"secret: ([A-Z2-7]+)", result.output).group(1)  # type: ignore[union-attr]
    with pytest.raises(SignInFailed):
        asyncio.run(_check(settings, "pak.budi", "kata-sandi-prompt"))
    _, signed = asyncio.run(
        _check(settings, "pak.budi", "kata-sandi-prompt", pyotp.TOTP(secret).now())
    )
    assert signed.role == "admin"


def test_add_user_refuses_a_bad_role_or_a_weak_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(tmp_path, monkeypatch)
    monkeypatch.setenv("SATUGATE_CONSOLE_PASSWORD", "kata-sandi-dari-env")
    assert CliRunner().invoke(app, ["add-user", "x.y", "--role", "root"]).exit_code != 0
    monkeypatch.setenv("SATUGATE_CONSOLE_PASSWORD", "short")
    weak = CliRunner().invoke(app, ["add-user", "x.y", "--role", "admin"])
    assert weak.exit_code == 1 and "12 characters" in weak.output


def test_wrong_passwords_lock_nothing_and_set_password_replaces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failures are throttled per address by the sign-in page, not by locking the
    account (which anyone could do to its owner); set-password gives a new password."""
    settings = _settings(tmp_path, monkeypatch)
    monkeypatch.setenv("SATUGATE_CONSOLE_PASSWORD", "kata-sandi-pertama")
    assert (
        CliRunner().invoke(app, ["add-user", "ibu.sari", "--role", "admin", "--no-totp"]).exit_code
        == 0
    )

    async def lock() -> None:
        engine = store.create_engine(settings.resolved_database_url())
        try:
            for _ in range(5):
                with pytest.raises(SignInFailed):
                    await authenticate(
                        engine, "ibu.sari", "salah-salah-salah", None, master_key=None
                    )
        finally:
            await engine.dispose()

    asyncio.run(lock())
    _, signed = asyncio.run(_check(settings, "ibu.sari", "kata-sandi-pertama"))
    assert signed.username == "ibu.sari", "five wrong passwords do not lock the owner out"
    monkeypatch.setenv("SATUGATE_CONSOLE_PASSWORD", "kata-sandi-kedua")
    result = CliRunner().invoke(app, ["set-password", "ibu.sari"])
    assert result.exit_code == 0, result.output
    _, signed = asyncio.run(_check(settings, "ibu.sari", "kata-sandi-kedua"))
    assert signed.username == "ibu.sari"
    assert CliRunner().invoke(app, ["set-password", "tidak.ada"]).exit_code == 1
