"""Seeding the embedded demo: master key, synthetic sources, clients, demo-clients.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from gateway.admin.policies import PolicyStore
from gateway.console import seed_demo_users
from gateway.demo.synthetic import SyntheticSummary, generate_sources
from gateway.identity import clients
from gateway.platform import keys, store
from gateway.platform.services import install_schema
from gateway.platform.settings import Settings


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    name: str
    agency: str
    scopes: tuple[str, ...]
    # The console user an admin or audit client acts for (``gateway.admin.proposals``).
    person: str | None = None


DEMO_CLIENTS = (
    DemoClient("demo-dinsos", "Dinas Sosial Kota Surabaya", "dinsos",
               ("residents:read", "residents:search", "pseudonyms:resolve")),
    DemoClient("demo-dinsos-denpasar", "Dinas Sosial Kota Denpasar", "dinsos_denpasar",
               ("residents:read", "residents:search")),
    DemoClient("demo-dinkes", "Dinas Kesehatan", "dinkes", ("residents:read",)),
    DemoClient("demo-bappeda", "Bappeda Kota Surabaya", "bappeda",
               ("residents:read", "statistics:read")),
    DemoClient("demo-auditor", "Inspektorat (auditor)", "inspektorat", ("audit",),
               "auditor.satu"),
    DemoClient("demo-admin", "Diskominfo (administrator 1)", "diskominfo", ("admin",),
               "admin.satu"),
    DemoClient("demo-admin-2", "Diskominfo (administrator 2)", "diskominfo", ("admin",),
               "admin.dua"),
)  # fmt: skip


def prepare_sources(
    settings: Settings, *, residents: int, seed: int, force: bool
) -> SyntheticSummary | None:
    """Generate the synthetic source databases unless they exist (or ``force``)."""
    sources_dir = settings.data_dir / "sources"
    marker = sources_dir / "summary.json"
    if marker.exists() and not force:
        saved = json.loads(marker.read_text(encoding="utf-8"))
        if saved.get("residents") == residents and saved.get("seed") == seed:
            return None
    summary = generate_sources(sources_dir, residents=residents, seed=seed)
    sample_niks, sample_residents = _samples(sources_dir / "civil.db")
    marker.write_text(
        json.dumps(
            {
                "residents": residents,
                "seed": seed,
                "count": summary.count,
                "sample_niks": sample_niks,
                "sample_residents": sample_residents,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return summary


def _samples(civil_db: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Adults first from Surabaya, then Denpasar: the residents a demo user tries first
    are inside the social affairs office's jurisdiction and not children's records."""
    import sqlite3
    from datetime import date

    cutoff = date.today().replace(year=date.today().year - 20).isoformat()
    query = (
        "SELECT nik, full_name, kelurahan_code, rt, rw FROM residents "
        "WHERE city_code = ? AND birth_date <= ? ORDER BY nik LIMIT ?"
    )
    with sqlite3.connect(f"file:{civil_db}?mode=ro", uri=True) as conn:
        rows = [
            *conn.execute(query, ("35.78", cutoff, 7)),
            *conn.execute(query, ("51.71", cutoff, 3)),
        ]
    residents = [
        {"nik": r[0], "full_name": r[1], "kelurahan_code": r[2], "rt": r[3], "rw": r[4]}
        for r in rows
    ]
    return [r["nik"] for r in residents], residents[:3] + residents[7:9]


async def seed_store(
    settings: Settings, *, base_url: str, console_hasher: PasswordHasher | None = None
) -> dict[str, Any]:
    """Schema, policy bundle and demo clients in the gateway store; returns demo-clients.json."""
    master_file = settings.resolved_master_key_file()
    if not master_file.exists():
        keys.create_master_key_file(master_file)
    engine = store.create_engine(settings.resolved_database_url())
    try:
        await install_schema(engine)
        keyring = keys.KeyRing(engine, keys.load_master_key(master_file))
        for purpose in (keys.JWT, keys.CHECKPOINT, keys.AUDIT_BLIND):
            await keyring.versions(purpose)
        await PolicyStore(engine).bootstrap(settings.policy_dir)
        # The people first: the admin and audit clients are bound to them.
        console_users = await seed_demo_users(engine, hasher=console_hasher)
        existing = {c["client_id"] for c in await clients.list_clients(engine)}
        out_clients = []
        for demo in DEMO_CLIENTS:
            if demo.client_id in existing:
                creds = await clients.rotate_secret(engine, demo.client_id)
                await clients.bind_person(engine, demo.client_id, demo.person)
            else:
                creds = await clients.create_client(
                    engine,
                    name=demo.name,
                    agency=demo.agency,
                    scopes=demo.scopes,
                    client_id=demo.client_id,
                    person=demo.person,
                )
            out_clients.append(
                {
                    "name": demo.name,
                    "agency": demo.agency,
                    "client_id": creds.client_id,
                    "client_secret": creds.client_secret,
                    "scopes": list(demo.scopes),
                    **({"person": demo.person} if demo.person else {}),
                }
            )
    finally:
        await engine.dispose()
    summary = json.loads(
        (settings.data_dir / "sources" / "summary.json").read_text(encoding="utf-8")
    )
    return {
        "base_url": base_url,
        "clients": out_clients,
        "sample_niks": summary["sample_niks"],
        "sample_residents": summary["sample_residents"],
        "console": {"url": f"{base_url}/console", "users": console_users},
    }


def write_demo_clients(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    path.chmod(0o600)
