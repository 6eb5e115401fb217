"""Settings that would break OAuth 2.0 are refused when they load, not at the first token."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.platform.settings import Settings, async_url


@pytest.mark.parametrize(
    "issuer", ["https://satugate.example.go.id", "http://127.0.0.1:8000", "http://localhost"]
)
def test_tls_or_loopback_issuers_load(issuer: str) -> None:
    assert Settings(issuer=issuer + "/").issuer == issuer


@pytest.mark.parametrize("issuer", ["http://gateway.test", "ftp://x", "satugate"])
def test_plain_http_issuers_elsewhere_are_refused(issuer: str) -> None:
    with pytest.raises(ValidationError, match="https"):
        Settings(issuer=issuer)


def test_plain_database_urls_get_the_gateway_drivers() -> None:
    assert async_url("postgresql://u@h:5432/d") == "postgresql+asyncpg://u@h:5432/d"
    assert async_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert (
        Settings(database_url="postgresql://u@h/d")
        .resolved_database_url()
        .startswith("postgresql+asyncpg://")
    )
