"""Alembic migrations: from an empty database to the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner, Result

import audit
from gateway import migrations
from gateway.cli import db as db_cli
from gateway.platform import store
from gateway.platform.settings import async_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A plain URL of an empty database, as an operator would give it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    built = create_async_engine(async_url(database_url), poolclass=NullPool)
    try:
        yield built
    finally:
        await built.dispose()


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


def test_one_linear_history() -> None:
    scripts = ScriptDirectory.from_config(migrations.alembic_config())
    assert len(scripts.get_heads()) == 1
    assert migrations.head_revision() == scripts.get_current_head()


def test_the_newest_frozen_sql_is_what_the_code_installs() -> None:
    """A change to ``audit.ddl_after_create`` without a revision that freezes it fails
    here: a database migrated to head would lack it."""
    import importlib
    import pkgutil

    import gateway.migrations.frozen as frozen

    newest = max(m.name for m in pkgutil.iter_modules(frozen.__path__))
    module = importlib.import_module(f"gateway.migrations.frozen.{newest}")
    assert list(module.SQLITE) == audit.ddl_after_create("sqlite")
    assert list(module.POSTGRESQL) == audit.ddl_after_create("postgresql")


async def test_upgrade_from_empty_creates_exactly_the_models(
    database_url: str, engine: AsyncEngine
) -> None:
    assert await migrations.current_revision(engine) is None
    await asyncio.to_thread(migrations.upgrade_url, database_url)
    assert await migrations.current_revision(engine) == migrations.head_revision()
    expected = set(store.metadata.tables) | set(audit.metadata.tables) | {"alembic_version"}
    assert await table_names(engine) == expected
    # the migrations and the code's models agree, column for column, index for index
    assert await migrations.drift(engine) == []


async def test_upgrade_twice_is_a_no_op(database_url: str, engine: AsyncEngine) -> None:
    await asyncio.to_thread(migrations.upgrade_url, database_url)
    await migrations.upgrade_engine(engine)
    assert await migrations.current_revision(engine) == migrations.head_revision()
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT count(*) FROM alembic_version"))).scalar()
    assert rows == 1


async def test_audit_tables_are_append_only_after_migration(engine: AsyncEngine) -> None:
    await migrations.upgrade_engine(engine)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO audit_checkpoints (tree_size, root_hash, note, created_at) "
                "VALUES (1, :h, 'note', '2026-01-01T00:00:00Z')"
            ),
            {"h": b"\x00" * 32},
        )
    for statement in (
        "UPDATE audit_checkpoints SET note = 'rewritten'",
        "DELETE FROM audit_checkpoints",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))
    async with engine.connect() as connection:
        note = (await connection.execute(text("SELECT note FROM audit_checkpoints"))).scalar()
    assert note == "note"


async def test_drift_is_detected(engine: AsyncEngine) -> None:
    """Guards the drift assertion above: a schema off the models must show up."""
    await migrations.upgrade_engine(engine)
    async with engine.begin() as connection:
        await connection.execute(text("DROP INDEX ix_audit_events_officer"))
        await connection.execute(text("ALTER TABLE gw_regions ADD COLUMN stray INTEGER"))
    differences = await migrations.drift(engine)
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in differences}
    assert {"add_index", "remove_column"} <= kinds


async def test_schema_made_without_migrations_is_adopted(engine: AsyncEngine) -> None:
    """An embedded start creates tables with create_all; upgrade then stamps, not fails."""
    async with engine.begin() as connection:
        await connection.run_sync(store.metadata.create_all)
        await connection.run_sync(audit.metadata.create_all)
        for statement in audit.ddl_after_create(engine.dialect.name):
            await connection.exec_driver_sql(statement)
    await migrations.upgrade_engine(engine)
    assert await migrations.current_revision(engine) == migrations.head_revision()


async def test_a_different_unmanaged_schema_is_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(store.metadata.create_all)  # no audit tables
    with pytest.raises(migrations.UnmanagedSchema):
        await migrations.upgrade_engine(engine)
    assert await migrations.current_revision(engine) is None


async def test_the_initial_revision_refuses_to_drop_the_audit_log(engine: AsyncEngine) -> None:
    from alembic import command

    await migrations.upgrade_engine(engine)

    def downgrade(connection: object) -> None:
        command.downgrade(migrations.alembic_config(connection=connection), "base")  # type: ignore[arg-type]

    with pytest.raises(RuntimeError, match="never downgraded"):
        async with engine.connect() as connection:
            await connection.run_sync(downgrade)
    assert "audit_events" in await table_names(engine)


@pytest.mark.postgres
async def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            migrations.upgrade_url(postgres_url)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    engine = create_async_engine(async_url(postgres_url), poolclass=NullPool)
    try:
        assert await migrations.current_revision(engine) == migrations.head_revision()
        assert await migrations.drift(engine) == []
    finally:
        await engine.dispose()


def _satugate(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _db(args: list[str], env: dict[str, str]) -> Result:
    """``satugate db ...`` in process (the command line's own startup is tested once)."""
    return CliRunner().invoke(db_cli.app, args, env=env)


def test_cli_upgrade_and_check(database_url: str, tmp_path: Path) -> None:
    env = {"SATUGATE_DATABASE_URL": database_url, "SATUGATE_DATA_DIR": str(tmp_path / "data")}
    before = _db(["check"], env)
    assert before.exit_code == 1
    assert "db upgrade" in before.output
    upgraded = _db(["upgrade"], env)
    assert upgraded.exit_code == 0, upgraded.output
    checked = _db(["check"], env)
    assert checked.exit_code == 0, checked.output
    # the URL (which may carry a password) is never printed
    for result in (before, upgraded, checked):
        assert database_url not in result.output


def test_cli_prints_the_sql_for_review() -> None:
    env = {"SATUGATE_DATABASE_URL": "postgresql://reviewer@db.invalid:5432/satugate"}
    result = _db(["upgrade", "--sql"], env)
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE audit_events" in result.output
    assert "EXECUTE FUNCTION audit_refuse_change()" in result.output


@pytest.mark.slow
def test_satugate_db_upgrade_is_a_registered_command(tmp_path: Path) -> None:
    """What the Helm hook runs: ``satugate db upgrade``, configured from the environment."""
    env = {"SATUGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}"}
    upgraded = _satugate(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    checked = _satugate(["db", "check"], env)
    assert checked.returncode == 0, checked.stderr
