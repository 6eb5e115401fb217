"""The SQL connector on real SQLite files from the generator."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from connectors import (
    QueryNotSpecific,
    SearchQuery,
    SourceUnavailable,
    SqlConnector,
    UnknownFields,
    load_sources,
)
from connectors.config import SearchConfig, SqlSourceConfig
from connectors.crosswalk import Crosswalk
from connectors.sql import async_url, create_source_engine
from gateway.demo.names import old_spelling
from gateway.demo.synthetic import SyntheticSummary

CIVIL = ("civil_registry",)
_connect = sqlite3.connect  # the tests' own reads, never counted as the connector's


def _civil_config(db: Path, **overrides: Any) -> SqlSourceConfig:
    values: dict[str, Any] = {
        "kind": "sql",
        "name": "dukcapil",
        "url": f"sqlite:///{db}",
        "datasets": CIVIL,
        "table": "residents",
        "key": "nik",
        "primary": True,
        "search": SearchConfig(enabled=True, name_key_column="name_key", token_table="name_tokens"),
    }
    values.update(overrides)
    return SqlSourceConfig(**values)


class QueryCounter:
    """Every SELECT a connector sends to its SQLite file, whichever connection carries
    it (the async driver's, or the one it opens for keyed fetches)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.statements: list[str] = []

        def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn: sqlite3.Connection = _connect(*args, **kwargs)
            conn.set_trace_callback(self._traced)
            return conn

        monkeypatch.setattr(sqlite3, "connect", traced)

    def _traced(self, statement: str) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.statements.append(statement)


@pytest.fixture
async def civil(
    demo_sources: SyntheticSummary, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[SqlConnector, QueryCounter]]:
    db = demo_sources.sources_file.parent / "civil.db"
    config = _civil_config(db)
    engine = create_source_engine(config.resolved_url())
    counter = QueryCounter(monkeypatch)
    connector = SqlConnector(config, engine)
    yield connector, counter
    await connector.aclose()


def _resident(summary: SyntheticSummary, where: str = "1=1") -> dict[str, Any]:
    conn = _connect(f"file:{summary.sources_file.parent / 'civil.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(f"SELECT * FROM residents WHERE {where} ORDER BY nik LIMIT 1").fetchone()
        return dict(row)
    finally:
        conn.close()


async def test_fetch_is_one_query_for_a_batch(
    civil: tuple[SqlConnector, QueryCounter], demo_sources: SyntheticSummary
) -> None:
    connector, counter = civil
    niks = [*demo_sources.sample_niks, "3578000101010001"]
    records = await connector.fetch(niks, ["nik", "full_name", "birth_date", "rt"])
    assert len(counter.statements) == 1
    assert " IN " in counter.statements[0].upper()
    assert set(records) == set(demo_sources.sample_niks)  # the unknown NIK is absent
    for nik, record in records.items():
        assert record["nik"] == nik
        assert set(record) == {"nik", "full_name", "birth_date", "rt"}
        assert isinstance(record["birth_date"], str) and len(str(record["birth_date"])) == 10


async def test_fetch_returns_only_requested_fields(
    civil: tuple[SqlConnector, QueryCounter], demo_sources: SyntheticSummary
) -> None:
    connector, _ = civil
    records = await connector.fetch(demo_sources.sample_niks[:2], ["religion"])
    assert all(set(r) == {"religion"} for r in records.values())


async def test_unknown_fields_are_refused(civil: tuple[SqlConnector, QueryCounter]) -> None:
    connector, counter = civil
    with pytest.raises(UnknownFields) as info:
        await connector.fetch(["3578000101010001"], ["welfare_decile"])
    assert info.value.fields == frozenset({"welfare_decile"})
    assert counter.statements == []


async def test_empty_batch_asks_nothing(civil: tuple[SqlConnector, QueryCounter]) -> None:
    connector, counter = civil
    assert await connector.fetch([], ["full_name"]) == {}
    assert counter.statements == []


async def test_sqlite_sources_are_opened_read_only(demo_sources: SyntheticSummary) -> None:
    db = demo_sources.sources_file.parent / "civil.db"
    url = async_url(f"sqlite:///{db}")
    assert url.drivername == "sqlite+aiosqlite"
    assert url.query["mode"] == "ro"
    engine = create_source_engine(f"sqlite:///{db}")
    try:
        async with engine.connect() as conn:
            with pytest.raises(OperationalError, match="readonly"):
                await conn.execute(sa.text("DELETE FROM residents"))
    finally:
        await engine.dispose()


def test_plain_urls_get_async_drivers() -> None:
    assert async_url("postgresql://u@h:5432/d").drivername == "postgresql+asyncpg"
    assert async_url("mysql://root@h:3306/d").drivername == "mysql+aiomysql"
    assert async_url("mariadb://root@h:3306/d").drivername == "mysql+aiomysql"
    assert async_url("sqlite:///x.db").database == "file:x.db"


async def test_missing_file_is_unavailable_not_created(tmp_path: Path) -> None:
    db = tmp_path / "absent.db"
    connector = SqlConnector.from_config(_civil_config(db))
    try:
        with pytest.raises(SourceUnavailable) as info:
            await connector.fetch(["3578000101010001"], ["full_name"])
        assert info.value.source == "dukcapil"
        assert "3578000101010001" not in str(info.value)
        assert info.value.__cause__ is None
        assert await connector.health() is False
    finally:
        await connector.aclose()
    assert not db.exists()


async def test_a_keyed_fetch_that_outlives_the_timeout_is_interrupted(
    demo_sources: SyntheticSummary, tmp_path: Path
) -> None:
    """Keyed fetches from SQLite run on the caller's thread; the source's timeout still
    stops them (SQLite's progress handler), and the connector answers afterwards."""
    db = demo_sources.sources_file.parent / "civil.db"
    with _connect(f"file:{db}?mode=ro", uri=True) as conn:
        niks = [r[0] for r in conn.execute("SELECT nik FROM residents LIMIT 3000")]
    slow = SqlConnector.from_config(_civil_config(db, timeout_seconds=1e-9))
    try:
        with pytest.raises(SourceUnavailable) as info:
            await slow.fetch(niks, ["full_name", "birth_date"])
        assert info.value.__cause__ is None
    finally:
        await slow.aclose()
    connector = SqlConnector.from_config(_civil_config(db))
    try:
        assert len(await connector.fetch(niks, ["full_name"])) == len(niks)
    finally:
        await connector.aclose()


async def test_a_source_file_removed_while_serving_is_unavailable(
    demo_sources: SyntheticSummary, tmp_path: Path
) -> None:
    db = tmp_path / "civil.db"
    db.write_bytes((demo_sources.sources_file.parent / "civil.db").read_bytes())
    connector = SqlConnector.from_config(_civil_config(db))
    try:
        nik = demo_sources.sample_niks[0]
        assert nik in await connector.fetch([nik], ["full_name"])
        db.unlink()
        with pytest.raises(SourceUnavailable):
            await connector.fetch([nik], ["full_name"])
    finally:
        await connector.aclose()


def _one_resident_source(path: Path, name: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE penduduk (no_nik TEXT PRIMARY KEY, nama_lengkap TEXT, tgl_lahir DATE)"
    )
    conn.execute("INSERT INTO penduduk VALUES ('3578084101900001', ?, '1990-01-01')", (name,))
    conn.commit()
    conn.close()


async def test_a_source_file_replaced_while_serving_is_read_anew(tmp_path: Path) -> None:
    """A new snapshot moved over the source file is what the next query reads: keyed
    fetches (the inline connection) and the pool (search, health) alike."""
    db = tmp_path / "siak.db"
    _one_resident_source(db, "SITI AMINAH")
    config = SqlSourceConfig(
        kind="sql",
        name="siak",
        url=f"sqlite:///{db}",
        datasets=CIVIL,
        table="penduduk",
        key="no_nik",
        fields=("full_name",),
        columns={"full_name": "nama_lengkap"},
    )
    nik = "3578084101900001"
    names: sa.Select[Any] = sa.select(sa.column("nama_lengkap")).select_from(sa.table("penduduk"))
    connector = SqlConnector.from_config(config)
    try:
        assert (await connector.fetch([nik], ["full_name"]))[nik]["full_name"] == "SITI AMINAH"
        assert [r[0] for r in await connector._rows(names)] == ["SITI AMINAH"]
        snapshot = tmp_path / "siak.next.db"
        _one_resident_source(snapshot, "SITI AMINAH HARAHAP")
        os.replace(snapshot, db)
        fetched = await connector.fetch([nik], ["full_name"])
        assert fetched[nik]["full_name"] == "SITI AMINAH HARAHAP"
        assert [r[0] for r in await connector._rows(names)] == ["SITI AMINAH HARAHAP"]
        assert await connector.health()
    finally:
        await connector.aclose()


async def test_found_by_name_variant_kelurahan_and_rt_rw(
    civil: tuple[SqlConnector, QueryCounter], demo_sources: SyntheticSummary
) -> None:
    connector, _ = civil
    for resident in demo_sources.sample_residents:
        name = str(resident["full_name"]).split(",")[0].title()
        typed = old_spelling(name)
        query = SearchQuery(
            name=typed,
            kelurahan_code=resident["kelurahan_code"],
            rt=resident["rt"],
            rw=resident["rw"],
        )
        try:
            found = await connector.search(query, limit=5)
        except QueryNotSpecific:
            continue  # a name of common parts only needs a birth date
        assert found, typed
        assert found[0].nik == resident["nik"]
        assert 0.0 < found[0].score <= 1.0
        assert found[0].source == "dukcapil"


async def test_found_with_title_typo_and_without_rt_rw(
    civil: tuple[SqlConnector, QueryCounter], demo_sources: SyntheticSummary
) -> None:
    connector, _ = civil
    r = _resident(
        demo_sources,
        "full_name LIKE '% %' AND length(full_name) > 14 "
        "AND full_name NOT LIKE '%.%' AND full_name NOT LIKE 'I %' "
        "AND full_name NOT LIKE 'NI %'",
    )
    words = str(r["full_name"]).title().split()
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    w = words[longest]
    words[longest] = w[:2] + w[3] + w[2] + w[4:]  # transposed letters
    typed = "H. " + " ".join(words) + ", S.E."
    found = await connector.search(
        SearchQuery(name=typed, kelurahan_code=str(r["kelurahan_code"])), limit=3
    )
    assert [c.nik for c in found][:1] == [r["nik"]]


async def test_scores_are_ranked_and_capped(
    civil: tuple[SqlConnector, QueryCounter], demo_sources: SyntheticSummary
) -> None:
    connector, _ = civil
    r = _resident(demo_sources, "full_name LIKE '% % %' AND full_name NOT LIKE 'I %'")
    last = str(r["full_name"]).split()[-1].split(",")[0]
    query = SearchQuery(
        name=f"{str(r['full_name']).split()[0]} {last}", kelurahan_code=str(r["kelurahan_code"])
    )
    found = await connector.search(query, limit=1)
    assert len(found) <= 1
    many = await connector.search(query, limit=10)
    scores = [c.score for c in many]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    "query",
    [
        SearchQuery(name="I Made", kelurahan_code="51.71.01.1001"),
        SearchQuery(name="Ni Luh Putu", kecamatan_code="51.71.01"),
        SearchQuery(name="H. Muhammad", kelurahan_code="35.78.08.1001"),
        SearchQuery(name="Budi Santoso"),  # no region
        SearchQuery(name="Budi Santoso", rt="001", rw="002"),  # RT/RW without a region
        SearchQuery(name="Budi Santoso", street="JL. MAWAR"),
    ],
)
async def test_unspecific_queries_are_refused(
    civil: tuple[SqlConnector, QueryCounter], query: SearchQuery
) -> None:
    connector, counter = civil
    with pytest.raises(QueryNotSpecific):
        await connector.search(query, limit=5)
    assert counter.statements == []  # refused before touching the source


async def test_common_name_is_searchable_with_a_birth_date(
    civil: tuple[SqlConnector, QueryCounter], demo_sources: SyntheticSummary
) -> None:
    connector, _ = civil
    r = _resident(demo_sources)
    query = SearchQuery(
        name="Siti", kelurahan_code=str(r["kelurahan_code"]), birth_date=str(r["birth_date"])
    )
    found = await connector.search(query, limit=5)  # accepted: the birth date narrows it
    assert all(0 < c.score <= 1 for c in found)


async def test_a_name_matching_half_the_block_is_refused(tmp_path: Path) -> None:
    """Anti-enumeration at block level: "Wayan Sudarma" where everyone is one."""
    db = tmp_path / "civil.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE residents (nik TEXT PRIMARY KEY, full_name TEXT, name_key TEXT,"
        " kelurahan_code TEXT, kecamatan_code TEXT, rt TEXT, rw TEXT, birth_date TEXT)"
    )
    from connectors.names import normalise_name

    rows = [
        (
            f"51710101019{i:05d}",
            f"I Wayan Sudarma {suffix}",
            normalise_name(f"I Wayan Sudarma {suffix}").key,
            "51.71.01.1001",
            "51.71.01",
            "001",
            "001",
            "1990-01-01",
        )
        for i, suffix in enumerate(f"{a}{b}" for a in "bcdfgklm" for b in "aiueo")
    ]
    conn.executemany("INSERT INTO residents VALUES (?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()
    connector = SqlConnector.from_config(
        _civil_config(db, search=SearchConfig(enabled=True, name_key_column="name_key"))
    )
    try:
        with pytest.raises(QueryNotSpecific):
            await connector.search(
                SearchQuery(name="Wayan Sudarma", kelurahan_code="51.71.01.1001"), limit=5
            )
        exact = await connector.search(
            SearchQuery(name="I Wayan Sudarma Gu", kelurahan_code="51.71.01.1001"), limit=5
        )
        assert exact[0].nik == rows[[r[1] for r in rows].index("I Wayan Sudarma gu")][0]
    finally:
        await connector.aclose()


async def test_column_mapping_and_field_subset(tmp_path: Path) -> None:
    db = tmp_path / "siak.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE penduduk (no_nik TEXT PRIMARY KEY, nama_lengkap TEXT, tgl_lahir DATE)"
    )
    conn.execute("INSERT INTO penduduk VALUES ('3578084101900001', 'SITI AMINAH', '1990-01-01')")
    conn.commit()
    conn.close()
    config = SqlSourceConfig(
        kind="sql",
        name="siak",
        url=f"sqlite:///{db}",
        datasets=CIVIL,
        table="penduduk",
        key="no_nik",
        fields=("full_name", "birth_date"),
        columns={"full_name": "nama_lengkap", "birth_date": "tgl_lahir"},
    )
    connector = SqlConnector.from_config(config)
    try:
        assert connector.fields == frozenset({"full_name", "birth_date"})
        records = await connector.fetch(["3578084101900001"], ["nik", "full_name", "birth_date"])
        assert records == {
            "3578084101900001": {
                "nik": "3578084101900001",
                "full_name": "SITI AMINAH",
                "birth_date": "1990-01-01",
            }
        }
        with pytest.raises(UnknownFields):
            await connector.fetch(["3578084101900001"], ["religion"])
    finally:
        await connector.aclose()


async def test_bps_coded_source_answers_in_kemendagri_codes(tmp_path: Path) -> None:
    db = tmp_path / "survey.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE survey (nik TEXT PRIMARY KEY, kecamatan_code TEXT, city_code TEXT)")
    conn.execute("INSERT INTO survey VALUES ('3578084101900001', '3578100', '3578')")
    conn.execute("INSERT INTO survey VALUES ('3578084101900002', '3578999', '3578')")
    conn.commit()
    conn.close()
    config = SqlSourceConfig(
        kind="sql",
        name="survey",
        url=f"sqlite:///{db}",
        datasets=CIVIL,
        table="survey",
        fields=("kecamatan_code", "city_code"),
        region_system="bps",
    )
    connector = SqlConnector.from_config(config, crosswalk=Crosswalk.demo())
    try:
        records = await connector.fetch(
            ["3578084101900001", "3578084101900002"], ["kecamatan_code", "city_code"]
        )
    finally:
        await connector.aclose()
    assert records["3578084101900001"] == {"kecamatan_code": "35.78.08", "city_code": "35.78"}
    # A code the crosswalk does not know is dropped, never passed on in the wrong system.
    assert records["3578084101900002"]["kecamatan_code"] is None


async def test_load_sources_reads_the_generated_file(demo_sources: SyntheticSummary) -> None:
    connectors = load_sources(demo_sources.sources_file)
    try:
        assert [c.name for c in connectors] == ["dukcapil", "dtks", "dinkes_survey"]
        assert connectors[0].primary and connectors[0].supports_search
        assert "welfare_decile" in connectors[1].fields
        assert connectors[2].region_system == "bps"
        assert all([await c.health() for c in connectors])
    finally:
        for c in connectors:
            await c.aclose()


async def test_token_index_narrows_the_block(
    civil: tuple[SqlConnector, QueryCounter], demo_sources: SyntheticSummary
) -> None:
    connector, counter = civil
    r = _resident(
        demo_sources,
        "full_name LIKE '% %' AND full_name NOT LIKE '%.%' "
        "AND full_name NOT LIKE 'I %' AND full_name NOT LIKE 'NI %' "
        "AND length(full_name) > 12",
    )
    found = await connector.search(
        SearchQuery(name=str(r["full_name"]).title(), kelurahan_code=str(r["kelurahan_code"])),
        limit=3,
    )
    assert found[0].nik == r["nik"]
    assert len(counter.statements) == 1
    assert "name_tokens" in counter.statements[0]


async def test_single_token_with_a_typo_is_found_through_near_tokens(
    civil: tuple[SqlConnector, QueryCounter], demo_sources: SyntheticSummary
) -> None:
    connector, counter = civil
    r = _resident(
        demo_sources,
        "full_name NOT LIKE '% %' AND length(full_name) >= 7 "
        "AND full_name NOT IN ('SITI', 'SITTI', 'MUHAMMAD', 'MUHAMAD')",
    )
    name = str(r["full_name"]).title()
    typo = name[:3] + name[4] + name[3] + name[5:]
    found = await connector.search(
        SearchQuery(
            name=typo, kelurahan_code=str(r["kelurahan_code"]), birth_date=str(r["birth_date"])
        ),
        limit=3,
    )
    assert r["nik"] in [c.nik for c in found]
    # The exact token found no one; the region's token vocabulary gave the near
    # spellings; the residents having them were scored. Never the whole region.
    assert len(counter.statements) == 3
    assert all("name_tokens" in s for s in counter.statements)
