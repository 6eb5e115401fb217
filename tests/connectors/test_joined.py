"""Counts over the civil registry and the welfare registry joined by NIK: in SQL where the
two share a database (PostgreSQL, MariaDB) or are SQLite files (attached), and by the
gateway, page by page, where they do not. Every way gives the counts of the rows counted
by hand, and never lets a dominated cell pass."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors import Federation, SqlConnector
from connectors.aggregate import CountQuery, CountRow
from connectors.config import SqlSourceConfig
from connectors.errors import UnknownFields
from connectors.joined import count_joined

YEAR = 2026
KECAMATAN = ("35.78.01", "35.78.02", "35.78.03")


def _people(seed: int = 9) -> tuple[list[dict[str, str]], list[dict[str, object]]]:
    rng = random.Random(seed)
    civil: list[dict[str, str]] = []
    welfare: list[dict[str, object]] = []
    for family in range(120):
        kec = rng.choice(KECAMATAN)
        decile = rng.randint(1, 10) if rng.random() < 0.6 else None
        for member in range(rng.randint(1, 6)):
            nik = f"35780{family:05d}{member:06d}"
            born = f"{rng.randint(1940, 2024)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
            sex = rng.choice(["LAKI-LAKI", "PEREMPUAN"])
            civil.append({"nik": nik, "kk": f"kk{family}", "kec": kec, "sex": sex, "born": born})
            if decile is not None:
                welfare.append({"nik": nik, "decile": decile})
    # Residents the welfare registry knows and the civil registry does not.
    welfare.extend({"nik": f"9999{i:012d}", "decile": 1} for i in range(5))
    return civil, welfare


def _load(sync_url: str, civil: list[dict[str, str]], welfare: list[dict[str, object]]) -> None:
    engine = sa.create_engine(sync_url)
    meta = sa.MetaData()
    people = sa.Table(
        "people",
        meta,
        sa.Column("nik", sa.String(16), primary_key=True),
        *(sa.Column(c, sa.String(32)) for c in ("kk", "kec", "sex", "born")),
    )
    deciles = sa.Table(
        "welfare",
        meta,
        sa.Column("nik", sa.String(16), primary_key=True),
        sa.Column("decile", sa.Integer),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        if civil:
            conn.execute(people.insert(), civil)
        if welfare:
            conn.execute(deciles.insert(), welfare)
    engine.dispose()


def _civil(url: str) -> SqlConnector:
    return SqlConnector.from_config(
        SqlSourceConfig.model_validate(
            {
                "name": "dukcapil",
                "kind": "sql",
                "url": url,
                "datasets": ["civil_registry"],
                "fields": ["nik", "kk_number", "kecamatan_code", "sex", "birth_date"],
                "columns": {
                    "kk_number": "kk",
                    "kecamatan_code": "kec",
                    "birth_date": "born",
                },
                "table": "people",
                "primary": True,
            }
        )
    )


def _welfare(url: str) -> SqlConnector:
    return SqlConnector.from_config(
        SqlSourceConfig.model_validate(
            {
                "name": "dtks",
                "kind": "sql",
                "url": url,
                "datasets": ["welfare"],
                "fields": ["welfare_decile"],
                "columns": {"welfare_decile": "decile"},
                "table": "welfare",
            }
        )
    )


def _band(born: str) -> str:
    i = min((YEAR - int(born[:4])) // 5, 17)
    return "85+" if i == 17 else f"{i * 5}-{i * 5 + 4}"


QUERIES = [
    CountQuery(("kecamatan_code", "welfare_decile"), {}, "residents", YEAR),
    CountQuery(
        ("welfare_decile", "sex", "age_band"),
        {"kecamatan_code": ("35.78.01", "35.78.02"), "welfare_decile": ("1", "2", "3", "4")},
        "residents",
        YEAR,
    ),
    CountQuery(("welfare_decile",), {"age_band": ("20-24", "85+")}, "residents", YEAR),
]


def _expected(
    query: CountQuery, civil: list[dict[str, str]], welfare: list[dict[str, object]]
) -> tuple[Counter[tuple[str, ...]], Counter[tuple[tuple[str, ...], str]]]:
    deciles = {str(w["nik"]): str(w["decile"]) for w in welfare}
    counts: Counter[tuple[str, ...]] = Counter()
    households: Counter[tuple[tuple[str, ...], str]] = Counter()
    for r in civil:
        if r["nik"] not in deciles:
            continue
        values = {
            "kecamatan_code": r["kec"],
            "sex": r["sex"],
            "age_band": _band(r["born"]),
            "welfare_decile": deciles[r["nik"]],
        }
        if any(values[f] not in allowed for f, allowed in query.filters.items()):
            continue
        key = tuple(values[f] for f in query.group_by)
        counts[key] += 1
        households[(key, r["kk"])] += 1
    return counts, households


def _check(
    query: CountQuery,
    rows: list[CountRow],
    civil: list[dict[str, str]],
    welfare: list[dict[str, object]],
    *,
    exact: bool,
) -> None:
    counts, households = _expected(query, civil, welfare)
    got = {r.key: r for r in rows}
    assert {k: r.count for k, r in got.items()} == dict(counts)
    for key, row in got.items():
        top = max(n for (k, _), n in households.items() if k == key)
        if 2 * top > row.count:  # dominated: always seen, exactly where the database joined
            assert row.largest_household == top if exact else row.largest_household >= top
        elif exact:
            assert row.largest_household == 0


async def _run_all(civil_url: str, welfare_url: str, *, exact: bool, page: int = 5000) -> None:
    civil_rows, welfare_rows = _people()
    civil, welfare = _civil(civil_url), _welfare(welfare_url)
    try:
        for query in QUERIES:
            rows = await count_joined(civil, welfare, query, page=page)
            _check(query, rows, civil_rows, welfare_rows, exact=exact)
        via = await Federation([civil, welfare]).count("civil_registry", QUERIES[0])
        _check(QUERIES[0], via, civil_rows, welfare_rows, exact=exact)
    finally:
        await civil.aclose()
        await welfare.aclose()


async def test_two_sqlite_files_are_joined_in_sql(tmp_path: Path) -> None:
    civil_rows, welfare_rows = _people()
    _load(f"sqlite:///{tmp_path / 'civil.db'}", civil_rows, [])
    _load(f"sqlite:///{tmp_path / 'welfare.db'}", [], welfare_rows)
    await _run_all(
        f"sqlite:///{tmp_path / 'civil.db'}", f"sqlite:///{tmp_path / 'welfare.db'}", exact=True
    )
    # Attached for the statements and detached after: the civil file alone is unchanged.
    with sqlite3.connect(tmp_path / "civil.db") as conn:
        assert [r[1] for r in conn.execute("PRAGMA database_list")] == ["main"]


async def test_one_postgresql_database_joins_in_sql(postgres_url: str) -> None:
    civil_rows, welfare_rows = _people()
    _load(postgres_url.replace("postgresql://", "postgresql+psycopg://"), civil_rows, welfare_rows)
    await _run_all(postgres_url, postgres_url, exact=True)


async def test_one_mariadb_database_joins_in_sql(mariadb_url: str) -> None:
    civil_rows, welfare_rows = _people()
    _load(mariadb_url.replace("mysql://", "mysql+pymysql://"), civil_rows, welfare_rows)
    await _run_all(mariadb_url, mariadb_url, exact=True)


async def test_two_databases_are_joined_page_by_page(postgres_url: str, tmp_path: Path) -> None:
    civil_rows, welfare_rows = _people()
    _load(postgres_url.replace("postgresql://", "postgresql+psycopg://"), civil_rows, [])
    _load(f"sqlite:///{tmp_path / 'welfare.db'}", [], welfare_rows)
    # Pages of 7 NIKs: runs of one decile cross pages, households are split across them.
    await _run_all(postgres_url, f"sqlite:///{tmp_path / 'welfare.db'}", exact=False, page=7)


async def test_households_across_two_databases_are_not_counted(
    postgres_url: str, tmp_path: Path
) -> None:
    civil_rows, welfare_rows = _people()
    _load(postgres_url.replace("postgresql://", "postgresql+psycopg://"), civil_rows, [])
    _load(f"sqlite:///{tmp_path / 'welfare.db'}", [], welfare_rows)
    civil, welfare = _civil(postgres_url), _welfare(f"sqlite:///{tmp_path / 'welfare.db'}")
    query = CountQuery(("kecamatan_code", "welfare_decile"), {}, "households", YEAR)
    try:
        with pytest.raises(UnknownFields):
            await Federation([civil, welfare]).count("civil_registry", query)
    finally:
        await civil.aclose()
        await welfare.aclose()


async def test_households_in_one_database_are_counted_once(tmp_path: Path) -> None:
    civil_rows, welfare_rows = _people()
    _load(f"sqlite:///{tmp_path / 'civil.db'}", civil_rows, [])
    _load(f"sqlite:///{tmp_path / 'welfare.db'}", [], welfare_rows)
    civil, welfare = (
        _civil(f"sqlite:///{tmp_path / 'civil.db'}"),
        _welfare(f"sqlite:///{tmp_path / 'welfare.db'}"),
    )
    query = CountQuery(("kecamatan_code", "welfare_decile"), {}, "households", YEAR)
    try:
        rows = await Federation([civil, welfare]).count("civil_registry", query)
    finally:
        await civil.aclose()
        await welfare.aclose()
    deciles = {str(w["nik"]): str(w["decile"]) for w in welfare_rows}
    expected = Counter(
        (k, d)
        for k, d, _ in {
            (r["kec"], deciles[r["nik"]], r["kk"]) for r in civil_rows if r["nik"] in deciles
        }
    )
    assert {r.key: r.count for r in rows} == dict(expected)
