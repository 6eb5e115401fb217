"""Statistics: a three-dimension table for Surabaya (31 kecamatan x 2 sexes x 18 age
bands) with disclosure control, beside the same ``GROUP BY`` run directly on the source,
on SQLite and on PostgreSQL.

``python -m benchmarks statistics [--quick] [--residents N] [--queries N]
[--engines sqlite,postgresql] [--postgres-url URL]``

The satugate side is what ``POST /v1/statistics`` does after the policy decision: the
count pushed down through the federation's SQL connector (the grouped count, and the
households that could dominate a cell), then OpenDP noise, primary and secondary
suppression. The baseline is the very statement of the count (the same SQL text, the
same indexes) run directly through the database's own driver (``sqlite3``, ``asyncpg``):
the ``GROUP BY`` and nothing else. The two are interleaved, query by query. HTTP, token
checks and the audit append are not in either side (the e2e benchmark measures those).

The sources are seeded once per size and kept in the work directory (SQLite) and in a
schema of their own (PostgreSQL); see ``benchmarks.statistics_sources``. The last line
is the result as JSON; ``ratio`` is the bare query's p95 over satugate's (above 1:
satugate ahead), ``times_bare`` its inverse.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteDialect

import connectors
from benchmarks.statistics_sources import postgres_sources, sqlite_sources
from connectors.aggregate import CountPlan
from connectors.config import SqlSourceConfig
from gateway.statistics.noise import OpenDPNoise
from policies.aggregate import AGE_BANDS
from policies.disclosure import protect

DIMS = ("kecamatan_code", "sex", "age_band")
FIELDS = ("nik", "kk_number", "sex", "birth_date", "kelurahan_code", "kecamatan_code")
COLUMNS = {"kecamatan_code": "kecamatan_code", "sex": "sex", "birth_date": "birth_date"}


def _pct(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def _steal() -> int | None:
    """Hypervisor steal so far, in clock ticks (Linux), to report how shared the CPU was."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            return int(f.readline().split()[8])
    except (OSError, IndexError, ValueError):
        return None


def _connector(engine: str, url: str, schema: str | None) -> connectors.SqlConnector:
    config = SqlSourceConfig.model_validate(
        {
            "name": f"dukcapil_{engine}",
            "kind": "sql",
            "url": url,
            "datasets": ["civil_registry"],
            "fields": list(FIELDS),
            "table": "residents",
            "schema": schema,
            "primary": True,
            "timeout_seconds": 120.0,
        }
    )
    return connectors.SqlConnector.from_config(config)


async def _measure(
    federation: connectors.Federation,
    query: connectors.CountQuery,
    categories: list[tuple[str, ...]],
    bare: Callable[[], Awaitable[None]],
    queries: int,
) -> dict[str, Any]:
    noise = OpenDPNoise()
    ours: list[float] = []
    plain: list[float] = []
    suppressed = 0
    for i in range(queries + 2):
        t0 = time.perf_counter()
        rows = await federation.count("civil_registry", query)
        table = protect(
            DIMS,
            categories,
            {r.key: r.count for r in rows},
            min_cell=10,
            epsilon=Fraction(1, 2),
            noise=noise,
            largest_household={r.key: r.largest_household for r in rows},
        )
        t1 = time.perf_counter()
        await bare()
        t2 = time.perf_counter()
        if i >= 2:  # the first two warm the caches
            ours.append(t1 - t0)
            plain.append(t2 - t1)
            suppressed = table.suppressed
    p95, bare_p95 = _pct(ours, 0.95), _pct(plain, 0.95)
    return {
        "suppressed": suppressed,
        "satugate": {
            "p50_ms": _pct(ours, 0.5),
            "p95_ms": p95,
            "mean_ms": round(statistics.fmean(ours) * 1000, 2),
        },
        "baseline": {
            "name": "bare GROUP BY",
            "p50_ms": _pct(plain, 0.5),
            "p95_ms": bare_p95,
            "mean_ms": round(statistics.fmean(plain) * 1000, 2),
        },
        "ratio": round(bare_p95 / max(p95, 0.001), 2),
        "times_bare": round(p95 / max(bare_p95, 0.001), 2),
    }


async def _run(
    work: Path, residents: int, queries: int, engines: list[str], pg_url: str
) -> dict[str, Any]:
    sources = sqlite_sources(work, residents)
    civil = sources / "civil.db"
    with closing(sqlite3.connect(f"file:{civil}?mode=ro", uri=True)) as conn:
        kecamatan = tuple(
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT kecamatan_code FROM residents WHERE city_code = '35.78' ORDER BY 1"
            )
        )
    query = connectors.CountQuery(
        DIMS, {"kecamatan_code": kecamatan}, "residents", datetime.now(UTC).year
    )
    categories = [kecamatan, ("LAKI-LAKI", "PEREMPUAN"), AGE_BANDS]
    plan = CountPlan("residents", {**COLUMNS, "kk_number": "kk_number"}, "kk_number", query)
    out: dict[str, Any] = {}
    for engine in engines:
        if engine == "sqlite":
            connector = _connector(engine, f"sqlite:///{civil}", None)
            sql = str(plan.counts().compile(dialect=SQLiteDialect(), compile_kwargs=_LITERAL))
            raw = sqlite3.connect(f"file:{civil}?mode=ro", uri=True)

            async def bare_sqlite(sql: str = sql, raw: sqlite3.Connection = raw) -> None:
                raw.execute(sql).fetchall()

            bare: Callable[[], Awaitable[None]] = bare_sqlite
            close: Callable[[], Awaitable[None]] = _closer(raw.close)
        else:
            schema = await postgres_sources(pg_url, sources, residents)
            connector = _connector(engine, pg_url, schema)
            pg_plan = CountPlan(
                "residents",
                {**COLUMNS, "kk_number": "kk_number"},
                "kk_number",
                query,
                schema=schema,
            )
            dialect = PGDialect()  # type: ignore[no-untyped-call]
            sql = str(pg_plan.counts().compile(dialect=dialect, compile_kwargs=_LITERAL))
            pg = await asyncpg.connect(pg_url)

            async def bare_pg(sql: str = sql, pg: asyncpg.Connection = pg) -> None:
                await pg.fetch(sql)

            bare, close = bare_pg, _closer_async(pg)
        federation = connectors.Federation([connector], timeout=120.0)
        try:
            out[engine] = await _measure(federation, query, categories, bare, queries)
        finally:
            await federation.aclose()
            await close()
    return out


_LITERAL = {"literal_binds": True}


def _closer_async(conn: asyncpg.Connection) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        await conn.close()

    return close


def _closer(fn: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        fn()

    return close


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks statistics")
    parser.add_argument("--quick", action="store_true", help="a tiny run that proves it works")
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "SATUGATE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--work-dir", type=Path, default=Path(".satugate/bench-statistics"))
    args = parser.parse_args(argv)
    residents, queries = (3000, 5) if args.quick else (args.residents, args.queries)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    steal0, load0 = _steal(), os.getloadavg()[0]
    by_engine = asyncio.run(_run(args.work_dir, residents, queries, engines, args.postgres_url))
    steal1 = _steal()
    first = by_engine[engines[0]]
    for engine, r in by_engine.items():
        print(
            f"statistics on {engine}, {residents} residents, {len(AGE_BANDS) * 2 * 31} cells"
            f" ({r['suppressed']} suppressed): satugate p50 {r['satugate']['p50_ms']} ms"
            f" p95 {r['satugate']['p95_ms']} ms; bare GROUP BY p50 {r['baseline']['p50_ms']} ms"
            f" p95 {r['baseline']['p95_ms']} ms; satugate p95 = {r['times_bare']} x bare"
        )
    steal = None if steal0 is None or steal1 is None else steal1 - steal0
    print(f"load average {load0:.2f} at the start, hypervisor steal {steal} ticks during the run")
    result = {
        "benchmark": "statistics",
        "engine": engines[0],
        "residents": residents,
        "cells": len(AGE_BANDS) * 2 * 31,
        "queries": queries,
        "suppressed": first["suppressed"],
        "satugate": first["satugate"],
        "baseline": first["baseline"],
        "ratio": first["ratio"],
        "times_bare": first["times_bare"],
        "engines": by_engine,
        "load_average": round(load0, 2),
        "steal_ticks": steal,
    }
    print(json.dumps(result))
