"""Fixtures shared by the whole suite: real servers, fresh databases, and data paths."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared reference material (test vectors, region list).

    Skipped when absent on a developer's machine; under CI it must be there.
    """
    path = Path(os.environ.get("SATUGATE_SHARED_DIR", SHARED_DIR))
    if not path.is_dir():
        if servers.under_ci():
            pytest.fail(f"shared reference material missing at {path}", pytrace=False)
        pytest.skip("shared reference material not present")
    return path


def _pg_admin_url() -> str:
    return (
        f"postgresql://{servers.POSTGRES_USER}@{servers.POSTGRES_HOST}:{servers.POSTGRES_PORT}/test"
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards.

    Yields a plain ``postgresql://user@host:port/db`` URL (no driver suffix).
    """
    servers.require("PostgreSQL", servers.POSTGRES_HOST, servers.POSTGRES_PORT)
    import psycopg

    name = f"satugate_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (
            f"postgresql://{servers.POSTGRES_USER}@{servers.POSTGRES_HOST}:"
            f"{servers.POSTGRES_PORT}/{name}"
        )
    finally:
        with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    """The real Redis server. Tests must namespace their keys (see ``redis_prefix``)."""
    servers.require("Redis", servers.REDIS_HOST, servers.REDIS_PORT)
    return f"redis://{servers.REDIS_HOST}:{servers.REDIS_PORT}/0"


@pytest.fixture
def redis_prefix() -> str:
    return f"satugate-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A fresh MariaDB database for one test, dropped afterwards (``mysql://`` URL, no driver)."""
    servers.require("MariaDB", servers.MARIADB_HOST, servers.MARIADB_PORT)
    import pymysql

    name = f"satugate_t_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(
        host=servers.MARIADB_HOST, port=servers.MARIADB_PORT, user="root", password=""
    )
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield f"mysql://root@{servers.MARIADB_HOST}:{servers.MARIADB_PORT}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
