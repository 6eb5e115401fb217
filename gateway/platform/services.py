"""The composition root's wiring: every long-lived object, built once at startup.

``build_services`` is called from the app's lifespan (and by CLI commands that need the
store). Nothing is built at import; tests build their own ``Services`` from their own
``Settings``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from joserfc.jwk import ECKey, RSAKey
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

import audit
import connectors
from gateway.admin.policies import PolicyStore
from gateway.auditing.sealing import Sealer
from gateway.auditing.witnessing import WitnessCollector, build_witness_collector
from gateway.identity.client_auth import AssertionChecker
from gateway.identity.client_jwks import RemoteJwks
from gateway.identity.clients import RevokedClients
from gateway.identity.dpop import DpopVerifier
from gateway.identity.external_idp import ExternalVerifier
from gateway.identity.oauth import TokenServer
from gateway.identity.officers import JtiGuard, OfficerRegistry
from gateway.identity.revocation import RevocationStore, build_revocation_store
from gateway.identity.tokens import TokenVerifier
from gateway.limits.ratelimit import RateLimiter, build_rate_limiter, connect_redis
from gateway.limits.search_budget import SearchBudget
from gateway.platform import keys as keymod
from gateway.platform import store
from gateway.platform.keys import KeyRing, load_master_key
from gateway.platform.metrics import Metrics, create_metrics
from gateway.platform.settings import Settings
from gateway.platform.sources import build_federation
from gateway.platform.tasks import Background
from gateway.residents.regions import load_region_table
from gateway.statistics.privacy_budget import PrivacyBudget
from policies import Pseudonymiser

if TYPE_CHECKING:
    from gateway.auditing.leafreads import LeafReads


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    keyring: KeyRing
    policies: PolicyStore
    token_server: TokenServer
    verifier: TokenVerifier
    jwks: dict[str, Any]
    federation: connectors.Federation
    audit: audit.AuditLog
    limiter: RateLimiter
    revocation: RevocationStore
    metrics: Metrics
    revoked_clients: RevokedClients | None = None
    regions: connectors.RegionTable | None = None
    witnesses: WitnessCollector | None = None
    # Opens and closes the sealed facts of audit events (``gateway.auditing.sealing``).
    sealer: Sealer | None = None
    # Which agencies' officers must be registered or vouched for (``gateway.identity.officers``).
    officers: OfficerRegistry | None = None
    # Distinct residents searches may return (``gateway.limits.search_budget``).
    search_budget: SearchBudget | None = None
    # The privacy loss each agency may spend on statistics (``gateway.statistics.privacy_budget``).
    privacy_budget: PrivacyBudget | None = None
    # Reads of single leaves, recorded a burst at a time (``gateway.auditing.leafreads``); made on
    # first use.
    leaf_reads: LeafReads | None = None
    # DPoP proofs (``gateway.identity.dpop``): made at startup, or on first use.
    dpop: DpopVerifier | None = None
    # private_key_jwt client assertions (``gateway.identity.client_auth``).
    client_assertions: AssertionChecker | None = None
    # Tokens of external identity providers (``gateway.identity.external_idp``), when configured.
    external: ExternalVerifier | None = None
    # Per client: the batches it may run at once in this process (``gateway.residents``).
    batch_slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    # Per domain: the key versions a pseudonymiser was built from, and the pseudonymiser.
    _pseudonymisers: dict[str, tuple[object, Pseudonymiser]] = field(default_factory=dict)
    # What ``build_services`` built, each with its close (``aclose``).
    _closing: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def pseudonymiser(self, domain: str) -> Pseudonymiser:
        """The agency domain's pseudonymiser, rebuilt only when its key versions change.

        The entry holds the very versions object it was built from and is reused only for
        that object. (Keying by ``id()`` was wrong: once a retirement dropped the old
        object, a new one could get the same id, and a retired key kept resolving.)
        """
        versions = await self.keyring.versions(keymod.PSEUDONYM, domain)
        entry = self._pseudonymisers.get(domain)
        if entry is not None and entry[0] is versions:
            return entry[1]
        built = Pseudonymiser(
            domain, {v: k.reveal() for v, k in versions.keys.items()}, versions.current
        )
        self._pseudonymisers[domain] = (versions, built)
        return built

    async def aclose(self) -> None:
        """Close what ``build_services`` built, in the reverse order of building."""
        await self._closing.aclose()

    def start_refreshers(self) -> Background:
        """Start the periodic reloads of what the store may change under this process:
        the active policy, the cached keys and the revoked clients. The app's lifespan
        starts them and cancels them (``Background.aclose``) before the services close."""
        background = Background()
        background.every(self.policies.refresh_seconds, self.policies.refresh, name="policies")
        background.every(self.keyring.ttl, self.keyring.reload_cached, name="keys")
        if self.revoked_clients is not None:
            # Twice per ``refresh``: a request then never finds the set too old to use.
            revoked = self.revoked_clients
            background.every(revoked.refresh_seconds / 2, revoked.reload, name="revoked-clients")
        return background


async def token_keys(keyring: KeyRing, alg: str) -> tuple[ECKey | RSAKey, list[ECKey | RSAKey]]:
    """The access-token signing key of ``alg``, and every active public key of both kinds
    (a switch of algorithm, like a rotation, leaves the other keys published)."""
    kinds: list[tuple[str, type[ECKey] | type[RSAKey], str, str]] = [
        (keymod.JWT, ECKey, "ES256", "jwt"),
        (keymod.JWT_RSA, RSAKey, "RS256", "jwt-rs256"),
    ]
    signing: ECKey | RSAKey | None = None
    public_keys: list[ECKey | RSAKey] = []
    for purpose, kind, kind_alg, prefix in kinds:
        if kind_alg == alg:
            versions = await keyring.versions(purpose)
        else:
            found = await keyring.existing(purpose)
            if found is None:
                continue
            versions = found
        for version, material in sorted(versions.keys.items()):
            private = kind.import_key(material.reveal(), parameters={"kid": f"{prefix}-{version}"})
            public = kind.import_key(
                private.as_dict(private=False), parameters={"use": "sig", "alg": kind_alg}
            )
            public_keys.append(public)
            if kind_alg == alg and version == versions.current:
                signing = private
    assert signing is not None
    return signing, public_keys


def build_dpop(settings: Settings, redis_url: str | None) -> DpopVerifier:
    secret = settings.dpop_nonce_secret
    verifier = DpopVerifier(
        JtiGuard(connect_redis(redis_url) if redis_url else None, prefix="satugate:dpop:"),
        window_seconds=settings.dpop_window_seconds,
        required=settings.dpop_required,
        nonce_required=settings.dpop_nonce,
    )
    if secret is not None:
        verifier.nonce_secret = secret.get_secret_value().encode("utf-8")
    return verifier


def build_client_assertions(settings: Settings, redis_url: str | None) -> AssertionChecker:
    guard = JtiGuard(connect_redis(redis_url) if redis_url else None, prefix="satugate:ca:")
    audiences = (settings.issuer, settings.issuer + "/oauth/token")
    remote = RemoteJwks(
        timeout=settings.client_jwks_timeout,
        refresh_seconds=settings.client_jwks_refresh_seconds,
        http_loopback=settings.client_jwks_http_loopback,
    )
    return AssertionChecker(guard, audiences=audiences, remote=remote)


def client_assertions_of(services: Services) -> AssertionChecker:
    if services.client_assertions is None:
        services.client_assertions = build_client_assertions(services.settings, None)
    return services.client_assertions


def dpop_of(services: Services) -> DpopVerifier:
    if services.dpop is None:
        services.dpop = build_dpop(services.settings, None)
    return services.dpop


async def install_schema(engine: AsyncEngine) -> None:
    """Create the gateway's and the audit log's tables when missing (embedded mode).

    Production installs run the Alembic migrations (``satugate db upgrade``) instead;
    both produce the same schema.
    """
    async with engine.begin() as conn:
        await conn.run_sync(store.metadata.create_all)
        await conn.run_sync(_add_missing_columns)
    await audit.install_schema(engine)


def _add_missing_columns(conn: Any) -> None:
    """Columns added since a store was made by ``create_all`` (which adds tables, not
    columns), as the Alembic migration adds them: an embedded store of an earlier
    version keeps working."""
    from sqlalchemy import inspect

    present = {c["name"] for c in inspect(conn).get_columns(store.clients.name)}
    if "person" not in present:
        conn.exec_driver_sql("ALTER TABLE gw_clients ADD COLUMN person VARCHAR(64)")
    if "jwks" not in present:
        conn.exec_driver_sql("ALTER TABLE gw_clients ADD COLUMN jwks TEXT")
    if "secrets_disabled" not in present:
        conn.exec_driver_sql("ALTER TABLE gw_clients ADD COLUMN secrets_disabled BOOLEAN")
    if "dpop_required" not in present:
        conn.exec_driver_sql("ALTER TABLE gw_clients ADD COLUMN dpop_required BOOLEAN")


def audit_origin(settings: Settings) -> str:
    """The checkpoint origin line: the issuer's host and path, then ``/audit``."""
    return settings.issuer.split("://", 1)[-1] + "/audit"


async def open_audit_log(
    settings: Settings, engine: AsyncEngine, keyring: KeyRing, metrics: Metrics | None = None
) -> audit.AuditLog:
    """The audit log with its signing and blind-index keys, its writer started."""
    # A log keeps the origin of its first checkpoint, whatever the issuer is today (a
    # demo moved to another port, a renamed host): one log, one name.
    origin = await audit.log_origin(engine) or audit_origin(settings)
    signer = audit.CheckpointSigner(origin=origin, private_key=await keyring.checkpoint_key())
    log = audit.AuditLog(
        engine,
        signer=signer,
        blind_key=(await keyring.current(keymod.AUDIT_BLIND)).reveal(),
        max_batch=settings.audit_batch_max,
        max_wait_ms=settings.audit_batch_wait_ms,
        checkpoint_interval=settings.checkpoint_interval,
        commit_timeout=settings.audit_timeout_seconds,
        on_commit=metrics.observe_audit_batch if metrics else None,
        on_failure=metrics.count_audit_failure if metrics else None,
    )
    await log.start()
    return log


async def build_services(settings: Settings, *, create_schema: bool = True) -> Services:
    """Every long-lived object, built in order. Should a step fail, what the earlier steps
    built is closed before the error propagates: engines disposed, connections and files
    closed, writer tasks stopped."""
    async with contextlib.AsyncExitStack() as built:
        services = await _build(settings, built, create_schema=create_schema)
        services._closing = built.pop_all()  # built in full: ``Services.aclose`` closes it
    return services


async def _build(
    settings: Settings, built: contextlib.AsyncExitStack, *, create_schema: bool
) -> Services:
    engine = store.create_engine(settings.resolved_database_url())
    built.push_async_callback(engine.dispose)
    if create_schema:
        await install_schema(engine)
    keyring = KeyRing(engine, load_master_key(settings.resolved_master_key_file()))

    signing, public_keys = await token_keys(keyring, settings.token_signing_alg)

    policy_store = PolicyStore(engine)
    await policy_store.bootstrap(settings.policy_dir)

    metrics = create_metrics()
    log = await open_audit_log(settings, engine, keyring, metrics)
    built.push_async_callback(log.stop)

    federation = build_federation(
        settings.resolved_sources_file(), metrics, timeout=settings.source_timeout_seconds
    )
    built.push_async_callback(federation.aclose)
    redis_url = settings.resolved_redis_url()

    def redis() -> Redis | None:
        """A client of the configured Redis (closed by its owner), or ``None``."""
        return connect_redis(redis_url) if redis_url else None

    limiter = build_rate_limiter(
        redis_url, lease_seconds=settings.rate_lease_seconds, lease_max=settings.rate_lease_max
    )
    built.push_async_callback(limiter.aclose)
    revocation = build_revocation_store(redis_url)
    built.push_async_callback(revocation.aclose)
    revoked_clients = RevokedClients(engine)
    regions = await load_region_table(engine)
    witnesses = await build_witness_collector(settings, log, metrics.registry)
    if witnesses is not None:
        built.push_async_callback(witnesses.stop)
    blind_key = (await keyring.current(keymod.AUDIT_BLIND)).reveal()
    search_budget = SearchBudget(
        hmac.new(blind_key, b"search-budget", "sha256").digest(),
        window_seconds=settings.search_budget_window_seconds,
        redis=redis(),
    )
    built.push_async_callback(search_budget.aclose)
    dpop = build_dpop(settings, redis_url)
    built.push_async_callback(dpop.guard.aclose)
    client_assertions = build_client_assertions(settings, redis_url)
    built.push_async_callback(client_assertions.guard.aclose)
    privacy_budget = PrivacyBudget(redis())
    built.push_async_callback(privacy_budget.aclose)
    officers_guard = JtiGuard(redis())
    built.push_async_callback(officers_guard.aclose)
    officers = OfficerRegistry.from_file(
        settings.officers_file, audience=settings.issuer, guard=officers_guard
    )
    services = Services(
        settings=settings,
        engine=engine,
        keyring=keyring,
        policies=policy_store,
        token_server=TokenServer(
            issuer=settings.issuer,
            audience=settings.audience,
            ttl=settings.token_ttl_seconds,
            signing_key=signing,
        ),
        verifier=TokenVerifier(public_keys, issuer=settings.issuer, audience=settings.audience),
        jwks={"keys": [k.as_dict(private=False) for k in public_keys]},
        federation=federation,
        audit=log,
        limiter=limiter,
        revocation=revocation,
        metrics=metrics,
        revoked_clients=revoked_clients,
        regions=regions,
        witnesses=witnesses,
        sealer=Sealer(blind_key),
        search_budget=search_budget,
        dpop=dpop,
        client_assertions=client_assertions,
        external=(
            ExternalVerifier(settings.external_issuers, engine)
            if settings.external_issuers
            else None
        ),
        privacy_budget=privacy_budget,
        officers=officers,
    )
    await services.revocation.start()  # its mirror fills in the background
    return services
