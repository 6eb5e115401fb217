"""Gateway settings, read from the environment (``SATUGATE_*``) by pydantic-settings.

Secrets may come from files, as Kubernetes mounts them: every ``*_FILE`` setting names a
file whose content is the value. Nothing here is read at import time: the app factory
builds a ``Settings`` and hands it on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_POLICY_DIR = Path(__file__).resolve().parents[2] / "policies" / "bundles" / "demo"


class ExternalIssuer(BaseModel):
    """An identity provider whose access tokens the gateway takes
    (``gateway.identity.external_idp``): its issuer, the audience its tokens carry for the
    gateway, its keys' URL (else OIDC discovery), and the claim naming a client registered
    here."""

    issuer: str
    audience: str
    jwks_uri: str | None = None
    client_claim: str = "client_id"


class WitnessSetting(BaseModel):
    """A witness of the audit log: its base URL and its cosignature verifier key."""

    url: str
    key: str


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SATUGATE_", extra="ignore")

    data_dir: Path = Path(".satugate")
    database_url: str | None = None
    database_url_file: Path | None = None
    redis_url: str | None = None
    redis_url_file: Path | None = None
    master_key_file: Path | None = None
    sources_file: Path | None = None
    # Agencies whose officers must be registered or vouched for (gateway.identity.officers).
    officers_file: Path | None = None
    policy_dir: Path = DEFAULT_POLICY_DIR
    issuer: str = "http://127.0.0.1:8000"
    audience: str = "satugate"
    token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "info"
    # The city's time zone: the console shows every time in it (Asia/Jakarta for WIB,
    # Asia/Makassar for WITA, Asia/Jayapura for WIT); stored times stay UTC.
    timezone: str = "Asia/Jakarta"
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    lookup_rate: str = "600/minute"
    officer_rate: str = "120/minute"
    resolve_rate: str = "30/minute"
    # Batches one client may run at once in one process, and how long a further one waits
    # for its turn before it is refused (429): one client's batches cannot starve others.
    batch_concurrency: int = Field(default=2, ge=1, le=64)
    batch_wait_seconds: float = Field(default=2.0, ge=0.0, le=60.0)
    # Distinct residents searches may return per window and region (gateway.limits.search_budget).
    search_budget_client: int = Field(default=500, ge=1)
    search_budget_officer: int = Field(default=60, ge=1)
    search_budget_window_seconds: int = Field(default=3600, ge=60, le=86_400 * 7)
    token_rate: str = "60/minute"  # noqa: S105 (a rate, not a secret)
    # Failed token requests, counted apart from successes (``gateway.identity.routes``): per
    # claimed client id, and per source address (which is then refused before checking).
    token_failure_rate: str = "10/minute"  # noqa: S105
    token_source_failure_rate: str = "30/minute"  # noqa: S105
    # Multiplies every rate limit; load tests raise it, production leaves it at 1.
    rate_scale: float = Field(default=1.0, gt=0.0)
    # With Redis: how long a lease of requests lasts, 0 to count every request in Redis
    # (gateway.limits.ratelimit.RedisRateLimiter); the largest lease.
    rate_lease_seconds: float = Field(default=0.1, ge=0.0, le=5.0)
    rate_lease_max: int = Field(default=64, ge=1, le=10_000)
    audit_batch_max: int = Field(default=512, ge=1)
    audit_batch_wait_ms: float = Field(default=0.0, ge=0.0)
    audit_timeout_seconds: float = Field(default=5.0, gt=0.0)
    checkpoint_interval: float = Field(default=1.0, gt=0.0)
    source_timeout_seconds: float = Field(default=3.0, gt=0.0)
    console_secret: SecretStr | None = None
    # Witnesses of the audit log (JSON: [{"url": ..., "key": ...}]); see
    # gateway.auditing.witnessing.
    witnesses: list[WitnessSetting] = Field(default_factory=list)
    # External identity providers (JSON list of {issuer, audience, jwks_uri, client_claim}).
    external_issuers: list[ExternalIssuer] = Field(default_factory=list)
    witness_quorum: int = Field(default=1, ge=0)
    witness_timeout_seconds: float = Field(default=3.0, gt=0.0)
    witness_retries: int = Field(default=2, ge=0, le=10)
    witness_lag_alert_seconds: float = Field(default=60.0, gt=0.0)
    # The surface beside the API. /docs and /redoc (the OpenAPI document stays at
    # /openapi.json); /metrics, off or behind a bearer token (or a file holding it).
    docs_enabled: bool = True
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None
    metrics_token_file: Path | None = None
    # Host names the gateway answers to, comma-separated (empty: any). With it, no
    # redirect or URL can carry a host taken from a forged Host header.
    trusted_hosts: str = ""
    # Console users must be enrolled in TOTP to sign in; only the demo turns this off.
    console_totp_required: bool = True
    # Failed console sign-ins: per source address, and per account from one address.
    console_source_failure_rate: str = "30/15 minutes"
    console_account_failure_rate: str = "5/15 minutes"
    # DPoP (RFC 9449, ``gateway.identity.dpop``): every token bound to a client's key, proofs
    # fresh within the window, and server nonces (a secret the replicas share).
    # The access tokens' signature: ES256, or RS256 (RFC 9068 §2.1). The other kind's keys
    # stay published in the JWKS, so tokens signed before a switch still verify.
    token_signing_alg: Literal["ES256", "RS256"] = "ES256"  # noqa: S105 (an algorithm name)
    # The FAPI 2.0 Security Profile in one setting: ``fapi2`` turns on
    # client_secrets_disabled and dpop_required (whatever they are set to).
    profile: Literal["default", "fapi2"] = "default"
    # Refuse shared client secrets: clients authenticate with private_key_jwt only.
    client_secrets_disabled: bool = False
    dpop_required: bool = False
    dpop_window_seconds: int = Field(default=60, ge=5, le=600)
    dpop_nonce: bool = False
    dpop_nonce_secret: SecretStr | None = None
    # Client keys at a JWKS URL (``gateway.identity.client_jwks``): the fetch's timeout,
    # how often an unknown kid may refetch a URL, and plain http to loopback (tests, demo).
    client_jwks_timeout: float = Field(default=3.0, gt=0, le=30)
    client_jwks_refresh_seconds: float = Field(default=30.0, ge=0, le=3600)
    client_jwks_http_loopback: bool = False

    @model_validator(mode="after")
    def _profile(self) -> Settings:
        if self.profile == "fapi2":
            # Asymmetric client authentication and sender-constrained tokens (FAPI 2.0
            # Security Profile §5.3.2.1, §5.3.2.2); a lone setting cannot undo either.
            self.client_secrets_disabled = True
            self.dpop_required = True
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Jakarta)") from None
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        """HTTPS, or plain HTTP on loopback only (the demo): OAuth 2.0 needs TLS, and the
        token endpoint refuses to run behind an issuer that does not have it."""
        parsed = urlsplit(value)
        loopback = parsed.hostname in ("localhost", "127.0.0.1", "::1")
        if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
            raise ValueError("SATUGATE_ISSUER must be an https:// URL (http:// only on localhost)")
        return value.rstrip("/")

    def resolved_database_url(self) -> str:
        """The gateway store's SQLAlchemy async URL.

        Operators give a plain ``postgresql://`` or ``sqlite:///`` URL; the driver is the
        gateway's business. Absent: the embedded SQLite file in the data directory.
        """
        raw = _from_file(self.database_url, self.database_url_file)
        if not raw:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'gateway.db').resolve()}"
        return async_url(raw)

    def resolved_redis_url(self) -> str | None:
        return _from_file(self.redis_url, self.redis_url_file) or None

    def resolved_metrics_token(self) -> str | None:
        token = self.metrics_token.get_secret_value() if self.metrics_token else None
        return _from_file(token, self.metrics_token_file) or None

    def trusted_host_names(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.trusted_hosts.split(",") if h.strip())

    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    def resolved_sources_file(self) -> Path:
        return self.sources_file or self.data_dir / "sources" / "sources.yaml"


def _from_file(value: str | None, path: Path | None) -> str | None:
    if path is not None:
        return path.read_text(encoding="utf-8").strip()
    return value


def async_url(url: str) -> str:
    """Map a plain database URL onto the async driver the gateway uses."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
        ("mysql://", "mysql+aiomysql://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url
