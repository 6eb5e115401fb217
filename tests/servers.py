"""Access to the real database and cache servers the suite talks to.

Tests that need PostgreSQL, Redis or MariaDB ask for them through the fixtures in
``tests/conftest.py``. When a server cannot be reached the test is skipped with a clear
reason, except under CI (``CI=true``), where an unreachable server is a failure: a green
run must never hide a path that was not exercised.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_HOST = os.environ.get("SATUGATE_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("SATUGATE_TEST_PG_PORT", "5432"))
POSTGRES_USER = os.environ.get("SATUGATE_TEST_PG_USER", "postgres")
REDIS_HOST = os.environ.get("SATUGATE_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("SATUGATE_TEST_REDIS_PORT", "6379"))
MARIADB_HOST = os.environ.get("SATUGATE_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("SATUGATE_TEST_MARIADB_PORT", "3306"))


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    """Skip (or, under CI, fail) when the server ``name`` is not listening."""
    if reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if under_ci():
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(f"{message}; start it to run this test")
