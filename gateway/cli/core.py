"""``satugate demo`` and ``satugate serve``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from gateway.platform.settings import Settings


def _serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    import uvicorn

    from gateway.platform.metrics import MULTIPROC_ENV, prepare_multiprocess_dir

    # Worker processes build their own settings from the environment: hand ours on.
    os.environ["SATUGATE_DATA_DIR"] = str(settings.data_dir.resolve())
    if settings.policy_dir:
        os.environ["SATUGATE_POLICY_DIR"] = str(settings.policy_dir.resolve())
    os.environ.setdefault("SATUGATE_ISSUER", settings.issuer)
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        # Every worker counts into shared files so that /metrics shows all of them.
        prepare_multiprocess_dir(settings.data_dir.resolve() / "metrics")
    uvicorn.run(
        "gateway.platform.app:create_app",
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
    witness: Annotated[
        bool, typer.Option(help="Run a local witness that cosigns the audit checkpoints")
    ] = True,
    reset: Annotated[
        bool,
        typer.Option(
            "--reset",
            help="Start afresh: remove the demo's folder (sources, store, keys, log, clients)",
        ),
    ] = False,
) -> None:
    """Seed synthetic demo data and serve the gateway (embedded SQLite by default).

    A rerun keeps the sources, the master key, the store (keys, audit log, policy
    versions, clients) and issues new secrets to the demo clients; it refuses to start
    while something listens on the port, before it writes anything, so the credentials
    of a running demo never change. ``--reset`` starts from nothing."""
    from gateway.cli.demo_run import announce_when_listening, port_problem
    from gateway.cli.demo_run import reset as reset_folder
    from gateway.demo.seed import prepare_sources, seed_store, write_demo_clients

    if not no_serve:
        ports = [port, port + 100] if witness and "SATUGATE_WITNESSES" not in os.environ else [port]
        for p in ports:
            problem = port_problem(host, p)
            if problem is not None:
                typer.echo(f"satugate demo: {problem}; nothing was changed.", err=True)
                typer.echo(
                    "  A running demo keeps its credentials in its demo-clients.json;"
                    " stop it first, or choose another --port.",
                    err=True,
                )
                raise typer.Exit(1)
    if reset:
        problem = reset_folder(data_dir)
        if problem is not None:
            typer.echo(f"satugate demo: {problem}", err=True)
            raise typer.Exit(1)
        typer.echo(f"satugate demo: {data_dir} removed; starting afresh")
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
    from gateway.demo.history import seed_history

    added = asyncio.run(seed_history(settings, list(content["sample_niks"])))
    if added:
        typer.echo(
            f"  {added} synthetic lookups over the last 30 days added to the log for the"
            " dashboard (officer riwayat.sintetis, detail synthetic: demo history)"
        )
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
    witness_proc = None
    if witness and "SATUGATE_WITNESSES" not in os.environ:
        from gateway.cli.demo_witness import start_demo_witness

        witness_proc, configured = start_demo_witness(settings, host, port + 100)
        os.environ["SATUGATE_WITNESSES"] = configured
        settings = Settings(data_dir=data_dir)
        typer.echo(f"  witness on http://{host}:{port + 100}  (key in {data_dir}/witness.key)")
    announce_when_listening(
        host, port, typer.echo, f"  serving on {base_url}  (API docs: {base_url}/docs)"
    )
    if witness_proc is not None:
        # uvicorn hands a SIGTERM back to the handler it found: end by exiting, so that
        # the witness is stopped below rather than left running.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        _serve(settings, host=host, port=port, workers=workers)
    finally:
        if witness_proc is not None:
            witness_proc.terminate()
            witness_proc.wait(timeout=10)


def _one_line(error: object) -> str:
    return " ".join(str(error).split())


def _read_setting_file(name: str, path: Path) -> str | None:
    """The problem with a ``*_FILE`` setting's file, or None."""
    try:
        if not path.read_text(encoding="utf-8").strip():
            return f"{name} names an empty file: {path}"
    except OSError as exc:
        return f"{name}: cannot read {path} ({exc.strerror or exc})"
    return None


def deployment_problems(settings: Settings) -> list[str]:
    """What a production deployment lacks, one line each (none: ready to start).

    ``serve`` needs the gateway's database and Redis, the master key as a file and the
    sources file; it never falls back to the embedded demo stores.
    """
    from connectors.config import read_sources_file
    from connectors.errors import SourceConfigError
    from gateway.platform.keys import KeyError_, load_master_key

    problems = []
    for name, value, path in (
        ("SATUGATE_DATABASE_URL", settings.database_url, settings.database_url_file),
        ("SATUGATE_REDIS_URL", settings.redis_url, settings.redis_url_file),
    ):
        if path is not None:
            problem = _read_setting_file(f"{name}_FILE", path)
            if problem:
                problems.append(problem)
        elif not value:
            problems.append(f"{name} (or {name}_FILE) is not set")
    key_file = settings.master_key_file
    if key_file is None:
        problems.append("SATUGATE_MASTER_KEY_FILE is not set (a file: 32 random bytes, base64)")
    else:
        try:
            load_master_key(key_file)
        except OSError as exc:
            problems.append(
                f"SATUGATE_MASTER_KEY_FILE: cannot read {key_file} ({exc.strerror or exc})"
            )
        except KeyError_ as exc:
            problems.append(f"SATUGATE_MASTER_KEY_FILE: {key_file}: {exc}")
    if settings.sources_file is None:
        problems.append("SATUGATE_SOURCES_FILE is not set (the sources.yaml file)")
    else:
        try:
            read_sources_file(settings.sources_file)
        except SourceConfigError as exc:
            problems.append(f"SATUGATE_SOURCES_FILE: {settings.sources_file}: {_one_line(exc)}")
    return problems


def production_settings(command: str) -> Settings:
    """The environment's settings, or one line per missing piece and exit status 2."""
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            field = "SATUGATE_" + "_".join(str(part) for part in error["loc"]).upper()
            message = _one_line(error["msg"]).removeprefix("Value error, ")
            if not message.startswith(field):
                message = f"{field}: {message}"
            typer.echo(f"satugate {command}: {message}", err=True)
        raise typer.Exit(2) from None
    problems = deployment_problems(settings)
    for problem in problems:
        typer.echo(f"satugate {command}: {problem}", err=True)
    if problems:
        raise typer.Exit(2)
    return settings


def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64)] = None,
) -> None:
    """Serve the gateway from environment settings (SATUGATE_*): production mode.

    Needs the database and Redis URLs, the master key file and the sources file; each
    one missing is named on one line, and nothing starts.
    """
    settings = production_settings("serve")
    _serve(
        settings,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
    )


def register(app: typer.Typer) -> None:
    app.command()(demo)
    app.command()(serve)
