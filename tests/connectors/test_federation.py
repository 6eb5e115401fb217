"""Federation over the generated SQLite sources and a real HTTP upstream."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors import (
    Federation,
    QueryNotSpecific,
    SearchQuery,
    SourceUnavailable,
    UnknownFields,
    load_sources,
)
from gateway.demo.synthetic import SyntheticSummary
from tests.connectors.upstream import RunningUpstream, UpstreamState, serve_upstream


def _welfare_niks(sources_file: Path, limit: int = 5) -> list[str]:
    db = sources_file.parent / "welfare.db"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [
            r[0] for r in conn.execute("SELECT nik FROM welfare ORDER BY nik LIMIT ?", (limit,))
        ]
    finally:
        conn.close()


def _civil_only_niks(sources_file: Path, limit: int = 3) -> list[str]:
    folder = sources_file.parent
    conn = sqlite3.connect(f"file:{folder / 'civil.db'}?mode=ro", uri=True)
    conn.execute(f"ATTACH DATABASE 'file:{folder / 'welfare.db'}?mode=ro' AS w")
    try:
        return [
            r[0]
            for r in conn.execute(
                "SELECT nik FROM residents WHERE nik NOT IN (SELECT nik FROM w.welfare) "
                "ORDER BY nik LIMIT ?",
                (limit,),
            )
        ]
    finally:
        conn.close()


async def test_combines_civil_and_welfare_with_provenance(demo_sources: SyntheticSummary) -> None:
    federation = Federation(load_sources(demo_sources.sources_file))
    try:
        niks = _welfare_niks(demo_sources.sources_file)
        result = await federation.fetch(niks, ["nik", "full_name", "welfare_decile", "pkh_member"])
    finally:
        await federation.aclose()
    assert set(result.records) == set(niks)
    for nik in niks:
        record = result.records[nik]
        assert record["nik"] == nik
        assert isinstance(record["full_name"], str)
        assert 1 <= int(record["welfare_decile"]) <= 10  # type: ignore[call-overload]
        assert isinstance(record["pkh_member"], bool)
        assert result.provenance[nik] == {
            "nik": "dukcapil",
            "full_name": "dukcapil",
            "welfare_decile": "dtks",
            "pkh_member": "dtks",
        }
    assert result.unavailable == {}


async def test_unknown_nik_is_absent_and_missing_rows_leave_fields_out(
    demo_sources: SyntheticSummary,
) -> None:
    federation = Federation(load_sources(demo_sources.sources_file))
    civil_only = _civil_only_niks(demo_sources.sources_file)
    try:
        result = await federation.fetch(
            [*civil_only, "3578000101010001"], ["full_name", "welfare_decile"]
        )
    finally:
        await federation.aclose()
    assert "3578000101010001" not in result.records
    for nik in civil_only:
        assert set(result.records[nik]) == {"full_name"}  # no welfare row: field absent
        assert result.provenance[nik] == {"full_name": "dukcapil"}


async def test_only_the_sources_holding_the_fields_are_asked(
    sources_copy: Path, demo_sources: SyntheticSummary
) -> None:
    # With the health source broken, a lookup that needs no health field still works.
    (sources_copy.parent / "health.db").unlink()
    federation = Federation(load_sources(sources_copy))
    try:
        result = await federation.fetch(demo_sources.sample_niks, ["full_name", "welfare_decile"])
        assert result.unavailable == {}
        result = await federation.fetch(demo_sources.sample_niks, ["full_name", "bpjs_class"])
    finally:
        await federation.aclose()
    assert result.unavailable == {"bpjs_class": "dinkes_survey"}
    assert all("full_name" in r for r in result.records.values())
    assert all("bpjs_class" not in r for r in result.records.values())


async def test_a_failed_primary_fails_the_lookup(sources_copy: Path) -> None:
    (sources_copy.parent / "civil.db").unlink()
    federation = Federation(load_sources(sources_copy))
    try:
        with pytest.raises(SourceUnavailable) as info:
            await federation.fetch(["3578084101900001"], ["welfare_decile"])
    finally:
        await federation.aclose()
    assert info.value.source == "dukcapil"


async def test_unknown_fields_are_refused(demo_sources: SyntheticSummary) -> None:
    federation = Federation(load_sources(demo_sources.sources_file))
    try:
        with pytest.raises(UnknownFields):
            await federation.fetch(["3578084101900001"], ["password"])
    finally:
        await federation.aclose()
    assert "welfare_decile" in federation.fields


@pytest.fixture
def welfare_upstream(demo_sources: SyntheticSummary) -> Iterator[RunningUpstream]:
    db = demo_sources.sources_file.parent / "welfare.db"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        records = {r["nik"]: dict(r) for r in conn.execute("SELECT * FROM welfare")}
    finally:
        conn.close()
    with serve_upstream(UpstreamState(records=records)) as running:
        yield running


def _http_sources(folder: Path, base_url: str, sources_file: Path) -> Path:
    civil = sources_file.parent / "civil.db"
    path = folder / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  - {name: dukcapil, kind: sql, url: 'sqlite:///" + str(civil) + "',"
        " datasets: [civil_registry], table: residents, primary: true,"
        " search: {enabled: true, name_key_column: name_key}}\n"
        "  - {name: dtks_api, kind: http, base_url: '" + base_url + "', datasets: [welfare],"
        " retries: 0, read_timeout_seconds: 0.5, connect_timeout_seconds: 0.5}\n"
    )
    return path


async def test_http_upstream_joins_the_record(
    tmp_path: Path, welfare_upstream: RunningUpstream, demo_sources: SyntheticSummary
) -> None:
    sources = _http_sources(tmp_path, welfare_upstream.base_url, demo_sources.sources_file)
    federation = Federation(load_sources(sources))
    niks = _welfare_niks(demo_sources.sources_file, 3)
    try:
        result = await federation.fetch(niks, ["full_name", "welfare_decile", "pkh_member"])
    finally:
        await federation.aclose()
    assert all(result.provenance[n]["welfare_decile"] == "dtks_api" for n in niks)
    assert all(isinstance(result.records[n]["pkh_member"], bool) for n in niks)
    assert len(welfare_upstream.state.record_calls) == 1  # one request for the batch


async def test_stopped_upstream_marks_its_fields_unavailable(
    tmp_path: Path, welfare_upstream: RunningUpstream, demo_sources: SyntheticSummary
) -> None:
    sources = _http_sources(tmp_path, welfare_upstream.base_url, demo_sources.sources_file)
    federation = Federation(load_sources(sources))
    niks = _welfare_niks(demo_sources.sources_file, 3)
    try:
        welfare_upstream.stop()
        result = await federation.fetch(niks, ["full_name", "welfare_decile", "pkh_member"])
        health = await federation.health()
    finally:
        await federation.aclose()
    assert result.unavailable == {"welfare_decile": "dtks_api", "pkh_member": "dtks_api"}
    assert set(result.records) == set(niks)
    assert all(set(r) == {"full_name"} for r in result.records.values())
    assert health == {"dukcapil": True, "dtks_api": False}


async def test_slow_upstream_is_cut_by_the_federation_timeout(
    tmp_path: Path, welfare_upstream: RunningUpstream, demo_sources: SyntheticSummary
) -> None:
    welfare_upstream.state.delay_seconds = 2.0
    sources = _http_sources(tmp_path, welfare_upstream.base_url, demo_sources.sources_file)
    connectors = load_sources(sources)
    federation = Federation(connectors, timeout=0.3)
    try:
        result = await federation.fetch(
            _welfare_niks(demo_sources.sources_file, 1), ["welfare_decile"]
        )
    finally:
        await federation.aclose()
    assert result.unavailable == {"welfare_decile": "dtks_api"}


async def test_search_through_the_federation(demo_sources: SyntheticSummary) -> None:
    federation = Federation(load_sources(demo_sources.sources_file))
    resident = demo_sources.sample_residents[1]
    try:
        result = await federation.search(
            SearchQuery(
                name=str(resident["full_name"]).split(",")[0].lower(),
                kelurahan_code=resident["kelurahan_code"],
                rt=resident["rt"],
                rw=resident["rw"],
            ),
            limit=3,
        )
        with pytest.raises(QueryNotSpecific):
            await federation.search(
                SearchQuery(name="I Made", kelurahan_code="51.71.01.1001"), limit=3
            )
    finally:
        await federation.aclose()
    assert result.matches and result.matches[0].nik == resident["nik"]
    assert len(result.matches) <= 3
    assert result.unavailable == ()


async def test_search_with_its_source_down_is_unavailable(sources_copy: Path) -> None:
    (sources_copy.parent / "civil.db").unlink()
    federation = Federation(load_sources(sources_copy))
    try:
        with pytest.raises(SourceUnavailable):
            await federation.search(
                SearchQuery(name="Budi Santoso", kelurahan_code="35.78.08.1001"), limit=3
            )
    finally:
        await federation.aclose()


class _Remote:
    """A source that waits before it answers (a network source), recording overlap."""

    name = "remote"
    datasets = frozenset({"extra"})
    fields = frozenset({"extra_field"})
    region_system = "kemendagri"
    primary = False
    supports_search = False

    def __init__(self) -> None:
        self.started = 0.0
        self.cancelled = False

    async def fetch(self, niks: list[str], fields: list[str]) -> dict[str, dict[str, object]]:
        import asyncio
        import time

        self.started = time.perf_counter()
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return {n: {"extra_field": "x"} for n in niks}

    async def aclose(self) -> None:
        pass


async def test_local_sources_are_read_while_remote_ones_work(
    demo_sources: SyntheticSummary,
) -> None:
    import time

    sql = load_sources(demo_sources.sources_file)
    assert all(getattr(c, "local", False) for c in sql)  # SQLite files are read in place
    remote = _Remote()
    federation = Federation([*sql, remote])  # type: ignore[list-item]
    try:
        niks = _welfare_niks(demo_sources.sources_file, 2)
        started = time.perf_counter()
        result = await federation.fetch(niks, ["full_name", "welfare_decile", "extra_field"])
        elapsed = time.perf_counter() - started
    finally:
        await federation.aclose()
    assert remote.started - started < 0.05  # the remote source was asked first
    assert elapsed < 0.4  # one remote wait, not a wait after the local reads
    for nik in niks:
        assert result.records[nik]["extra_field"] == "x"
        assert result.provenance[nik]["welfare_decile"] == "dtks"


async def test_a_local_failure_that_is_not_an_outage_cancels_the_remote_call(
    demo_sources: SyntheticSummary, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = load_sources(demo_sources.sources_file)
    remote = _Remote()
    federation = Federation([*sql, remote])  # type: ignore[list-item]

    async def broken(*_args: object) -> dict[str, dict[str, object]]:
        raise RuntimeError("a bug in a connector")

    monkeypatch.setattr(federation.primary, "fetch", broken)
    try:
        with pytest.raises(RuntimeError):
            await federation.fetch(
                _welfare_niks(demo_sources.sources_file, 1), ["full_name", "extra_field"]
            )
        import asyncio

        await asyncio.sleep(0.05)
        assert remote.cancelled
    finally:
        await federation.aclose()
