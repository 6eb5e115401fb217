"""Statistics: a three-dimension table for Surabaya (31 kecamatan x 2 sexes x 18 age
bands) with disclosure control, beside the same ``GROUP BY`` run directly on the source.

``python -m benchmarks statistics [--quick] [--residents N] [--queries N]``

The satugate side is what ``POST /v1/statistics`` does after the policy decision: the
count pushed down through the federation's SQL connector (the grouped statement with
the household sub-grouping for the dominance rule), then noise, primary and secondary
suppression. The baseline is a bare ``GROUP BY kecamatan, sex, birth year`` on the same
SQLite file through ``sqlite3``. The two are interleaved, query by query. HTTP, token
checks and the audit append are not in either side (the e2e benchmark measures those).
The last line is the result as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import time
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import connectors
from connectors.loader import load_sources
from gateway.demo.synthetic import generate_sources
from gateway.statistics.noise import OpenDPNoise
from policies.aggregate import AGE_BANDS
from policies.disclosure import protect

_BASELINE_SQL = (
    "SELECT kecamatan_code, sex, substr(birth_date, 1, 4) AS y, count(*) FROM residents"
    " WHERE city_code = '35.78' GROUP BY kecamatan_code, sex, y"
)


def _pct(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


async def _run(work: Path, residents: int, queries: int) -> dict[str, object]:
    sources = work / "sources"
    marker = sources / f"residents-{residents}"
    if not marker.exists():
        sources.mkdir(parents=True, exist_ok=True)
        generate_sources(sources, residents=residents, seed=7)
        marker.touch()
    federation = connectors.Federation(load_sources(sources / "sources.yaml"))
    with sqlite3.connect(f"file:{sources / 'civil.db'}?mode=ro", uri=True) as conn:
        kecamatan = tuple(
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT kecamatan_code FROM residents WHERE city_code = '35.78' ORDER BY 1"
            )
        )
    dims = ("kecamatan_code", "sex", "age_band")
    cats = [kecamatan, ("LAKI-LAKI", "PEREMPUAN"), AGE_BANDS]
    query = connectors.CountQuery(
        dims, {"kecamatan_code": kecamatan}, "residents", datetime.now(UTC).year
    )
    noise = OpenDPNoise()
    ours: list[float] = []
    bare: list[float] = []
    suppressed = 0
    bare_conn = sqlite3.connect(f"file:{sources / 'civil.db'}?mode=ro", uri=True)
    try:
        for i in range(queries + 2):
            t0 = time.perf_counter()
            rows = await federation.count("civil_registry", query)
            table = protect(
                dims,
                cats,
                {r.key: r.count for r in rows},
                min_cell=10,
                epsilon=Fraction(1, 2),
                noise=noise,
                largest_household={r.key: r.largest_household for r in rows},
            )
            t1 = time.perf_counter()
            bare_conn.execute(_BASELINE_SQL).fetchall()
            t2 = time.perf_counter()
            if i >= 2:  # the first two warm the caches
                ours.append(t1 - t0)
                bare.append(t2 - t1)
                suppressed = table.suppressed
    finally:
        bare_conn.close()
        await federation.aclose()
    return {
        "benchmark": "statistics",
        "engine": "sqlite",
        "residents": residents,
        "cells": len(kecamatan) * 2 * len(AGE_BANDS),
        "suppressed": suppressed,
        "queries": queries,
        "satugate": {
            "p50_ms": _pct(ours, 0.5),
            "p95_ms": _pct(ours, 0.95),
            "mean_ms": round(statistics.fmean(ours) * 1000, 2),
        },
        "baseline": {
            "p50_ms": _pct(bare, 0.5),
            "p95_ms": _pct(bare, 0.95),
            "mean_ms": round(statistics.fmean(bare) * 1000, 2),
        },
        "ratio_p95": round(_pct(ours, 0.95) / max(_pct(bare, 0.95), 0.001), 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks statistics")
    parser.add_argument("--quick", action="store_true", help="a tiny run that proves it works")
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--work-dir", type=Path, default=Path(".satugate/bench-statistics"))
    args = parser.parse_args(argv)
    residents, queries = (3000, 5) if args.quick else (args.residents, args.queries)
    result = asyncio.run(_run(args.work_dir, residents, queries))
    print(
        f"statistics, {result['residents']} residents, {result['cells']} cells:"
        f" satugate p50 {result['satugate']['p50_ms']} ms"  # type: ignore[index]
        f" p95 {result['satugate']['p95_ms']} ms;"  # type: ignore[index]
        f" bare GROUP BY p95 {result['baseline']['p95_ms']} ms"  # type: ignore[index]
    )
    print(json.dumps(result))
