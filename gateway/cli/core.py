"""``satugate demo`` and ``satugate serve``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer

from gateway.settings import Settings


def _serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    import uvicorn

    from gateway.metrics import MULTIPROC_ENV, prepare_multiprocess_dir

    # Worker processes build their own settings from the environment: hand ours on.
    os.environ["SATUGATE_DATA_DIR"] = str(settings.data_dir.resolve())
    if settings.policy_dir:
        os.environ["SATUGATE_POLICY_DIR"] = str(settings.policy_dir.resolve())
    os.environ.setdefault("SATUGATE_ISSUER", settings.issuer)
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        # Every worker counts into shared files so that /metrics shows all of them.
        prepare_multiprocess_dir(settings.data_dir.resolve() / "metrics")
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        # Workers import the whole gateway before they answer the supervisor: on a busy
        # machine that takes longer than uvicorn's 5-second default.
        timeout_worker_healthcheck=60,
    )


def demo(
    data_dir: Annotated[
        Path, typer.Option(help="Where the embedded stores and demo files live")
    ] = Path(".satugate"),
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    residents: Annotated[
        int, typer.Option(min=10, max=5_000_000, help="Synthetic residents to generate")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data")] = 7,
    workers: Annotated[int, typer.Option(min=1, max=32)] = 1,
    regenerate: Annotated[bool, typer.Option(help="Regenerate the synthetic sources")] = False,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Seed only, do not serve")] = False,
) -> None:
    """Seed synthetic demo data and serve the gateway (embedded SQLite by default)."""
    from gateway.demo.seed import prepare_sources, seed_store, write_demo_clients

    base_url = f"http://{host}:{port}"
    os.environ.setdefault("SATUGATE_ISSUER", base_url)
    # The demo's console users have passwords only; production requires TOTP as well.
    os.environ.setdefault("SATUGATE_CONSOLE_TOTP_REQUIRED", "false")
    settings = Settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    typer.echo(f"satugate demo: preparing {residents:,} synthetic residents in {data_dir}/sources")
    summary = prepare_sources(settings, residents=residents, seed=seed, force=regenerate)
    if summary is None:
        typer.echo("  sources already present (use --regenerate to rebuild)")
    content = asyncio.run(seed_store(settings, base_url=base_url))
    clients_file = settings.data_dir / "demo-clients.json"
    write_demo_clients(clients_file, content)
    typer.echo(f"  clients and sample residents written to {clients_file}")
    store_kind = (
        "PostgreSQL" if (settings.resolved_database_url().startswith("postgresql")) else "SQLite"
    )
    limiter = "Redis" if settings.resolved_redis_url() else "in-process"
    typer.echo(f"  gateway store: {store_kind}; rate limits: {limiter}; workers: {workers}")
    if no_serve:
        return
    typer.echo(f"  serving on {base_url}  (API docs: {base_url}/docs)")
    _serve(settings, host=host, port=port, workers=workers)


def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64)] = None,
) -> None:
    """Serve the gateway from environment settings (SATUGATE_*): production mode."""
    settings = Settings()
    _serve(
        settings,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
    )


def register(app: typer.Typer) -> None:
    app.command()(demo)
    app.command()(serve)
