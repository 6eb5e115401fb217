"""Search by name and address: match quality and latency beside exact normalised matching.

Quality: residents are drawn from a generated population and, for each, the queries an
officer types are built (the register name, names without titles, the other spelling
across the 1972 reform, Muhammad abbreviated differently or a name reduced to an
initial, a typo, RT/RW left out, Balinese markers dropped). Each query runs through
satugate's search and through the baseline, *exact normalised matching* (same blocking,
same normaliser, but only equal normalised names count). Reported: recall and precision
at 1 and 5, per system and per kind of variant.

Latency: p50/p95 of single searches over a large generated population on SQLite and on
PostgreSQL, both systems interleaved query by query.

``python -m benchmarks search [--quick] [--population N] [--latency-population N]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sqlite3
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from connectors.config import SearchConfig, SqlSourceConfig
from connectors.errors import QueryNotSpecific
from connectors.matching import THRESHOLD, check_query
from connectors.models import SearchQuery
from connectors.names import NormalisedName, normalise_name
from connectors.sql import SqlConnector, create_source_engine
from gateway.demo.load import copy_source
from gateway.demo.names import old_spelling
from gateway.demo.synthetic import generate_sources

KINDS = (
    "exact",
    "no_titles",
    "spelling",
    "abbreviation",
    "typo",
    "missing_rt_rw",
    "balinese",
)
_TITLE_PREFIX = re.compile(r"^(?:(?:H|HJ|DR|IR|DRS|DRA|PROF)\.\s*)+", re.IGNORECASE)
_MUHAMMADS = ("Muhammad", "Moh.", "M.", "Mochamad", "Muhamad", "Moch.", "Mohammad")
_MUHAMMAD_RE = re.compile(
    r"\b(MUHAMMAD|MUHAMAD|MOHAMMAD|MOHAMAD|MOCHAMAD|MOCHAMMAD|MOEHAMMAD|MUCHAMMAD|"
    r"MUKHAMMAD|MOHD\.|MOH\.|MOCH\.|MUH\.|M\.)(?=\s|$)",
    re.IGNORECASE,
)
_BALI_WORDS = frozenset(
    {
        "I",
        "NI",
        "LUH",
        "WAYAN",
        "PUTU",
        "GEDE",
        "MADE",
        "KADEK",
        "NENGAH",
        "NYOMAN",
        "KOMANG",
        "KETUT",
        "IDA",
        "BAGUS",
        "AYU",
        "ANAK",
        "AGUNG",
        "GUSTI",
        "NGURAH",
        "COKORDA",
        "ISTRI",
        "DEWA",
        "DESAK",
    }
)
_BALI_PREFIX = re.compile(
    r"^(?:I|NI)\s+(?:LUH\s+)?(?:WAYAN|PUTU|GEDE|MADE|KADEK|NENGAH|NYOMAN|NJOMAN|KOMANG|KETUT)\s+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Resident:
    nik: str
    full_name: str
    kelurahan_code: str
    rt: str
    rw: str
    birth_date: str


@dataclass
class Tally:
    queries: int = 0
    answered: int = 0
    refused: int = 0
    hit1: int = 0
    hit5: int = 0
    returned5: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    def add(self, kind: str, ranked: list[str] | None, target: str) -> None:
        self.queries += 1
        entry = self.by_kind[kind]
        entry[0] += 1
        if ranked is None:
            self.refused += 1
            return
        if ranked:
            self.answered += 1
        top5 = ranked[:5]
        self.returned5 += len(top5)
        if ranked and ranked[0] == target:
            self.hit1 += 1
            entry[1] += 1
        if target in top5:
            self.hit5 += 1
            entry[2] += 1

    def figures(self) -> dict[str, float | int]:
        q = max(self.queries, 1)
        return {
            "queries": self.queries,
            "recall_at_1": round(self.hit1 / q, 4),
            "recall_at_5": round(self.hit5 / q, 4),
            "precision_at_1": round(self.hit1 / max(self.answered, 1), 4),
            "precision_at_5": round(self.hit5 / max(self.returned5, 1), 4),
            "refused": self.refused,
        }


def _typo(rng: random.Random, name: str) -> str:
    words = name.split(" ")
    candidates = [
        i
        for i, w in enumerate(words)
        if len(w) >= 5
        and w.isalpha()
        and w.upper() not in {"WAYAN", "PUTU", "MADE", "KADEK", "NYOMAN", "KETUT"}
    ]
    if not candidates:
        return name
    i = rng.choice(candidates)
    w = words[i]
    pos = rng.randrange(1, len(w) - 1)
    op = rng.choice(("swap", "drop", "replace", "double"))
    if op == "swap":
        w = w[:pos] + w[pos + 1] + w[pos] + w[pos + 2 :]
    elif op == "drop":
        w = w[:pos] + w[pos + 1 :]
    elif op == "replace":
        w = w[:pos] + rng.choice("aeiounmrstkh") + w[pos + 1 :]
    else:
        w = w[:pos] + w[pos] + w[pos:]
    words[i] = w
    return " ".join(words)


def _typed(name: str) -> str:
    """How an officer types a register name: title case, titles and degrees left out."""
    head = name.split(",", 1)[0]
    head = _TITLE_PREFIX.sub("", head).strip()
    return " ".join(w.capitalize() for w in head.split())


def _other_spelling(name: str) -> str | None:
    if re.search(r"OE|DJ|TJ|NJ|SJ", name):
        modern = name
        for old, new in (("OE", "U"), ("DJ", "J"), ("TJ", "C"), ("NJ", "NY"), ("SJ", "SY")):
            modern = modern.replace(old, new)
        return _typed(modern)
    typed = _typed(name)
    old = old_spelling(typed)
    return old if old.lower() != typed.lower() else None


def _abbreviation(rng: random.Random, name: str) -> str | None:
    typed = _typed(name)
    match = _MUHAMMAD_RE.search(typed)
    if match:
        current = match.group(1).lower().rstrip(".")
        options = [m for m in _MUHAMMADS if m.lower().rstrip(".") != current]
        return typed[: match.start()] + rng.choice(options) + typed[match.end() :]
    words = typed.split()
    strong = [i for i, w in enumerate(words) if len(w) >= 3 and w.upper() not in _BALI_WORDS]
    if len(strong) < 2 or len(normalise_name(typed).strong_tokens) < 2:
        return None  # reduced to an initial, it would be refused as unspecific
    i = strong[-1] if rng.random() < 0.5 else strong[0]
    words[i] = words[i][0] + "."
    return " ".join(words)


def variants(rng: random.Random, r: Resident) -> list[tuple[str, SearchQuery]]:
    """The queries officers type for one resident."""
    # A name of common parts only ("Muhamad", "Siti") cannot be searched without the
    # birth date; the officer then asks for it.
    common = not normalise_name(r.full_name).is_specific

    def q(name: str, *, rt_rw: bool = True) -> SearchQuery:
        return SearchQuery(
            name=name,
            kelurahan_code=r.kelurahan_code,
            rt=r.rt if rt_rw else None,
            rw=r.rw if rt_rw else None,
            birth_date=r.birth_date if common else None,
        )

    out = [("exact", q(r.full_name)), ("no_titles", q(_typed(r.full_name)))]
    spelled = _other_spelling(r.full_name)
    if spelled:
        out.append(("spelling", q(spelled)))
    abbreviated = _abbreviation(rng, r.full_name)
    if abbreviated:
        out.append(("abbreviation", q(abbreviated)))
    typo = _typo(rng, _typed(r.full_name))
    if typo != _typed(r.full_name):
        out.append(("typo", q(typo)))
    out.append(("missing_rt_rw", q(_typed(r.full_name), rt_rw=False)))
    if _BALI_PREFIX.match(r.full_name):
        out.append(("balinese", q(_BALI_PREFIX.sub("", _typed(r.full_name)))))
    return out


class ExactBaseline:
    """Exact normalised matching: same block and normaliser, equal names only."""

    def __init__(self, url: str) -> None:
        self.engine = create_source_engine(url)
        t = sa.table(
            "residents", *(sa.column(c) for c in ("nik", "name_key", "kelurahan_code", "rt", "rw"))
        )
        self.table = t

    async def search(self, query: SearchQuery, *, limit: int) -> list[str]:
        name = normalise_name(query.name)
        t = self.table
        stmt = sa.select(t.c.nik, t.c.name_key).where(t.c.kelurahan_code == query.kelurahan_code)
        if query.rt and query.rw:
            stmt = stmt.where(t.c.rt == query.rt, t.c.rw == query.rw)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        text = name.text
        found = sorted(str(n) for n, k in rows if NormalisedName.from_key(str(k)).text == text)
        return found[:limit]

    async def aclose(self) -> None:
        await self.engine.dispose()


def _connector(url: str, threshold: float | None = None) -> SqlConnector:
    config = SqlSourceConfig(
        kind="sql",
        name="dukcapil",
        url=url,
        datasets=("civil_registry",),
        table="residents",
        key="nik",
        primary=True,
        timeout_seconds=30.0,
        search=SearchConfig(
            enabled=True, name_key_column="name_key", token_table="name_tokens", threshold=threshold
        ),
    )
    return SqlConnector.from_config(config)


def _sample(civil_db: Path, n: int, seed: int) -> list[Resident]:
    conn = sqlite3.connect(f"file:{civil_db}?mode=ro", uri=True)
    try:
        total = conn.execute("SELECT max(rowid) FROM residents").fetchone()[0]
        rng = random.Random(seed)
        rowids = rng.sample(range(1, total + 1), min(n, total))
        marks = ",".join("?" for _ in rowids)
        rows = conn.execute(
            "SELECT nik, full_name, kelurahan_code, rt, rw, birth_date FROM residents "
            f"WHERE rowid IN ({marks})",
            rowids,
        ).fetchall()
    finally:
        conn.close()
    residents = [Resident(*map(str, row)) for row in rows]
    residents.sort(key=lambda x: x.nik)
    rng.shuffle(residents)
    return residents


def _population(work: Path, size: int, seed: int) -> Path:
    """Generated sources of ``size`` residents, reused between runs."""
    # The cache is keyed by the code that shapes the data (generator and normaliser).
    import hashlib

    import connectors.names
    import gateway.demo.households
    import gateway.demo.name_parts
    import gateway.demo.names
    import gateway.demo.records
    import gateway.demo.synthetic

    digest = hashlib.sha256()
    for module in (
        connectors.names,
        gateway.demo.names,
        gateway.demo.name_parts,
        gateway.demo.households,
        gateway.demo.records,
        gateway.demo.synthetic,
    ):
        digest.update(Path(str(module.__file__)).read_bytes())
    folder = work / f"pop-{size}-{seed}-{digest.hexdigest()[:10]}"
    marker = folder / "done"
    if not marker.exists():
        started = time.perf_counter()
        generate_sources(folder, residents=size, seed=seed)
        marker.write_text(f"{time.perf_counter() - started:.1f}")
        print(f"  generated {size:,} residents in {marker.read_text()} s")
    return folder


async def _ours(connector: SqlConnector, query: SearchQuery) -> list[str] | None:
    try:
        return [c.nik for c in await connector.search(query, limit=5)]
    except QueryNotSpecific:
        return None


async def _base(baseline: ExactBaseline, query: SearchQuery) -> list[str] | None:
    try:
        check_query(query)
    except QueryNotSpecific:
        return None
    return await baseline.search(query, limit=5)


SWEEP = (0.55, 0.6, 0.65, 0.7, 0.72, 0.75, 0.8, 0.85, 0.9)


async def quality(folder: Path, n_residents: int, seed: int) -> tuple[dict[float, Tally], Tally]:
    """Tallies of satugate at each threshold of :data:`SWEEP`, and of the baseline."""
    url = f"sqlite:///{folder / 'civil.db'}"
    ours, base = _connector(url, threshold=min(SWEEP)), ExactBaseline(url)
    rng = random.Random(seed + 1)
    sweep = {t: Tally() for t in (*SWEEP, THRESHOLD)}
    baseline = Tally()
    try:
        for resident in _sample(folder / "civil.db", n_residents, seed):
            for kind, query in variants(rng, resident):
                try:
                    scored = [(c.nik, c.score) for c in await ours.search(query, limit=50)]
                except QueryNotSpecific:
                    scored = None
                for t, tally in sweep.items():
                    ranked = None if scored is None else [n for n, s in scored if s >= t][:5]
                    tally.add(kind, ranked, resident.nik)
                baseline.add(kind, await _base(base, query), resident.nik)
    finally:
        await ours.aclose()
        await base.aclose()
    return sweep, baseline


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


async def latency(url: str, residents: list[Resident], seed: int) -> dict[str, dict[str, float]]:
    ours, base = _connector(url), ExactBaseline(url)
    rng = random.Random(seed + 2)
    times: dict[str, list[float]] = {"satugate": [], "baseline": []}
    try:
        for r in residents[:5]:  # warm both pools and caches
            warm = SearchQuery(r.full_name, r.kelurahan_code)
            await _ours(ours, warm)
            await _base(base, warm)
        for i, r in enumerate(residents):
            _kind, query = rng.choice(variants(rng, r))
            labels = ("satugate", "baseline") if i % 2 == 0 else ("baseline", "satugate")
            for label in labels:
                started = time.perf_counter()
                if label == "satugate":
                    await _ours(ours, query)
                else:
                    await _base(base, query)
                times[label].append((time.perf_counter() - started) * 1000)
    finally:
        await ours.aclose()
        await base.aclose()
    return {
        label: {
            "p50_ms": round(statistics.median(v), 2),
            "p95_ms": round(_pct(v, 95), 2),
            "queries": len(v),
        }
        for label, v in times.items()
    }


def _pg_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    name = f"satugate_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def _print_quality(ours: Tally, base: Tally) -> None:
    print(f"{'':16}{'satugate':>22}{'exact-normalised':>22}")
    for key in ("recall_at_1", "recall_at_5", "precision_at_1", "precision_at_5", "refused"):
        print(f"{key:16}{ours.figures()[key]:>22}{base.figures()[key]:>22}")
    print(
        f"\n{'variant':16}{'queries':>9}{'ours r@1':>10}{'ours r@5':>10}{'base r@1':>10}"
        f"{'base r@5':>10}"
    )
    for kind in KINDS:
        o, b = ours.by_kind.get(kind), base.by_kind.get(kind)
        if not o or not b:
            continue
        print(
            f"{kind:16}{o[0]:>9}{o[1] / o[0]:>10.3f}{o[2] / o[0]:>10.3f}"
            f"{b[1] / b[0]:>10.3f}{b[2] / b[0]:>10.3f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks search")
    parser.add_argument("--quick", action="store_true", help="a tiny run that proves it works")
    parser.add_argument("--population", type=int, help="population for the quality part")
    parser.add_argument("--residents", type=int, help="residents whose variants are queried")
    parser.add_argument("--latency-population", type=int, help="population for latency")
    parser.add_argument("--latency-queries", type=int)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work-dir", type=Path, default=Path(".satugate/bench-search"))
    parser.add_argument(
        "--postgres-admin-url",
        default=os.environ.get(
            "SATUGATE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="skip the quality part (its figures print as zero)",
    )
    args = parser.parse_args(argv)
    population = args.population or (3_000 if args.quick else 200_000)
    n_residents = args.residents or (60 if args.quick else 1_000)
    lat_population = args.latency_population or (5_000 if args.quick else 1_000_000)
    lat_queries = args.latency_queries or (40 if args.quick else 400)
    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)

    print(
        f"search benchmark: quality on {n_residents:,} residents drawn from a population "
        f"of {population:,}; latency over {lat_population:,} residents"
    )
    if args.latency_only:
        sweep, base = {t: Tally() for t in (*SWEEP, THRESHOLD)}, Tally()
    else:
        folder = _population(work, population, args.seed)
        sweep, base = asyncio.run(quality(folder, n_residents, args.seed))
    ours = sweep[THRESHOLD]
    _print_quality(ours, base)
    print(f"\ncalibration of the threshold (in use: {THRESHOLD})")
    print(f"{'threshold':>10}{'r@1':>8}{'r@5':>8}{'p@1':>8}{'p@5':>8}")
    for t in SWEEP:
        f = sweep[t].figures()
        print(
            f"{t:>10}{f['recall_at_1']:>8}{f['recall_at_5']:>8}{f['precision_at_1']:>8}"
            f"{f['precision_at_5']:>8}"
        )

    lat_folder = _population(work, lat_population, args.seed)
    lat_residents = _sample(lat_folder / "civil.db", lat_queries, args.seed + 5)
    results: dict[str, dict[str, dict[str, float]]] = {}
    results["sqlite"] = asyncio.run(
        latency(f"sqlite:///{lat_folder / 'civil.db'}", lat_residents, args.seed)
    )
    if not args.no_postgres:
        try:
            pg_url, drop = _pg_database(args.postgres_admin_url)
        except Exception as exc:
            print(f"  PostgreSQL skipped: {type(exc).__name__}")
        else:
            try:
                started = time.perf_counter()
                copy_source(lat_folder, "civil.db", pg_url, chunk=20_000)
                print(
                    f"  loaded {lat_population:,} residents into PostgreSQL in "
                    f"{time.perf_counter() - started:.1f} s"
                )
                results["postgresql"] = asyncio.run(latency(pg_url, lat_residents, args.seed))
            finally:
                drop()
    print(f"\nlatency over {lat_population:,} residents, {lat_queries} queries (ms)")
    print(f"{'backend':12}{'satugate p50':>14}{'p95':>8}{'baseline p50':>14}{'p95':>8}")
    for backend, figures in results.items():
        s, b = figures["satugate"], figures["baseline"]
        print(f"{backend:12}{s['p50_ms']:>14}{s['p95_ms']:>8}{b['p50_ms']:>14}{b['p95_ms']:>8}")

    o, b = ours.figures(), base.figures()
    ratio = round(float(o["recall_at_5"]) / max(float(b["recall_at_5"]), 1e-9), 3)
    print(
        json.dumps(
            {
                "benchmark": "search",
                "satugate": {
                    **o,
                    "threshold": THRESHOLD,
                    "population": population,
                    "latency_population": lat_population,
                    "latency": {k: v["satugate"] for k, v in results.items()},
                },
                "baseline": {
                    "name": "exact-normalised",
                    **b,
                    "latency": {k: v["baseline"] for k, v in results.items()},
                },
                "ratio": ratio,
            }
        )
    )


if __name__ == "__main__":
    main()
