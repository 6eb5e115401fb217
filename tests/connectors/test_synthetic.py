"""The synthetic demo sources: NIK rules, families, regions, determinism."""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from datetime import date
from pathlib import Path

import yaml

from connectors.names import normalise_name
from connectors.regions import RegionTable
from gateway.demo.synthetic import SyntheticSummary, generate_sources


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _residents(summary: SyntheticSummary) -> list[dict[str, object]]:
    conn = sqlite3.connect(f"file:{summary.sources_file.parent / 'civil.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM residents")]
    finally:
        conn.close()


def test_counts_and_files(demo_sources: SyntheticSummary) -> None:
    folder = demo_sources.sources_file.parent
    assert demo_sources.count == 3_000
    assert _rows(folder / "civil.db", "SELECT count(*) FROM residents") == [(3_000,)]
    welfare = int(str(_rows(folder / "welfare.db", "SELECT count(*) FROM welfare")[0][0]))
    health = int(str(_rows(folder / "health.db", "SELECT count(*) FROM health")[0][0]))
    assert 0.2 * 3_000 < welfare < 0.5 * 3_000
    assert 0.12 * 3_000 < health < 0.28 * 3_000
    config = yaml.safe_load(demo_sources.sources_file.read_text())
    assert [s["name"] for s in config["sources"]] == ["dukcapil", "dtks", "dinkes_survey"]
    assert len(demo_sources.sample_niks) == 10
    assert len(demo_sources.sample_residents) == 5


def test_niks_follow_the_rules(demo_sources: SyntheticSummary) -> None:
    table = RegionTable.demo()
    seen: set[str] = set()
    for r in _residents(demo_sources):
        nik = str(r["nik"])
        assert len(nik) == 16 and nik.isdigit()
        assert nik not in seen
        seen.add(nik)
        assert nik[12:] != "0000"
        day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
        birth = date.fromisoformat(str(r["birth_date"]))
        female = r["sex"] == "PEREMPUAN"
        assert day == birth.day + (40 if female else 0)
        assert (month, yy) == (birth.month, birth.year % 100)
        # The prefix is a real kecamatan of the same province (first registration).
        assert table.check_nik_prefix(nik) == []
        assert nik[:2] == str(r["province_code"])


def test_some_residents_were_registered_elsewhere(demo_sources: SyntheticSummary) -> None:
    residents = _residents(demo_sources)

    def home(r: dict[str, object]) -> str:
        return str(r["kecamatan_code"]).replace(".", "")

    elsewhere = [r for r in residents if str(r["nik"])[:6] != home(r)]
    assert 0.03 * len(residents) < len(elsewhere) < 0.3 * len(residents)
    other_province_city = [r for r in elsewhere if str(r["nik"])[:4] != home(r)[:4]]
    assert other_province_city  # some come from elsewhere in the province
    # Children were born, and so registered, where they live.
    assert all(r["family_relation"] != "ANAK" for r in elsewhere)


def test_regions_are_real_codes(demo_sources: SyntheticSummary) -> None:
    table = RegionTable.demo()
    residents = _residents(demo_sources)
    cities = Counter(str(r["city_code"]) for r in residents)
    assert set(cities) == {"35.78", "51.71"}
    for r in residents:
        assert table.check_address(str(r["kelurahan_code"])) == []
        assert str(r["kelurahan_code"]).startswith(str(r["kecamatan_code"]) + ".")
        assert str(table.name(str(r["kecamatan_code"]))).upper() == r["kecamatan_name"]
        assert len(str(r["rt"])) == 3 and len(str(r["rw"])) == 3


def test_families_share_a_kk_and_children_link_to_parents(demo_sources: SyntheticSummary) -> None:
    residents = _residents(demo_sources)
    by_nik = {r["nik"]: r for r in residents}
    families: dict[object, list[dict[str, object]]] = {}
    for r in residents:
        families.setdefault(r["kk_number"], []).append(r)
    assert len(families) < len(residents) / 2
    heads = 0
    for members in families.values():
        kk = str(members[0]["kk_number"])
        assert len(kk) == 16 and kk.isdigit()
        assert len({(m["kelurahan_code"], m["rt"], m["rw"], m["street"]) for m in members}) == 1
        heads += sum(m["family_relation"] == "KEPALA KELUARGA" for m in members)
    assert heads >= len(families) - 1  # the last family may be cut short
    linked = 0
    for r in residents:
        if r["family_relation"] == "ANAK" and r["mother_nik"] in by_nik:
            mother = by_nik[r["mother_nik"]]
            assert mother["sex"] == "PEREMPUAN"
            assert mother["kk_number"] == r["kk_number"]
            assert str(mother["birth_date"]) < str(r["birth_date"])
            linked += 1
    assert linked > 300


def test_children_and_adults_exist(demo_sources: SyntheticSummary) -> None:
    births = [str(r["birth_date"]) for r in _residents(demo_sources)]
    minors = sum(b > "2007-07-01" for b in births)
    assert 0.15 * len(births) < minors < 0.5 * len(births)


def test_names_carry_register_variants(demo_sources: SyntheticSummary) -> None:
    names = [str(r["full_name"]) for r in _residents(demo_sources)]
    joined = "\n".join(names)
    assert all(n == n.upper() for n in names)
    assert any(n.startswith(("I ", "NI ")) for n in names)  # Balinese
    assert "H." in joined or "HJ." in joined  # religious titles
    assert any(t in joined for t in ("S.PD.", "S.H.", "S.E.", "S.KOM.", "M.M.", "A.MD."))
    assert any(t in joined for t in ("MOH.", "MOCH.", "M. ", "MOCHAMAD", "MUHAMAD"))
    assert any(t in joined for t in ("OE", "DJ", "TJ"))  # spellings from before 1972


def test_name_key_column_is_the_normalised_name(demo_sources: SyntheticSummary) -> None:
    for r in _residents(demo_sources)[:500]:
        assert r["name_key"] == normalise_name(str(r["full_name"])).key


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for name, table in (
        ("civil.db", "residents"),
        ("welfare.db", "welfare"),
        ("health.db", "health"),
    ):
        for row in _rows(folder / name, f"SELECT * FROM {table} ORDER BY nik"):
            h.update(repr(row).encode())
    return h.hexdigest()


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = generate_sources(tmp_path / "a", residents=400, seed=3)
    b = generate_sources(tmp_path / "b", residents=400, seed=3)
    c = generate_sources(tmp_path / "c", residents=400, seed=4)
    assert a.sample_niks == b.sample_niks
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    assert a.sample_residents == b.sample_residents
    assert set(c.sample_residents[0]) == {"nik", "full_name", "kelurahan_code", "rt", "rw"}


def test_regenerating_replaces_the_files(tmp_path: Path) -> None:
    generate_sources(tmp_path, residents=300, seed=1)
    summary = generate_sources(tmp_path, residents=120, seed=1)
    assert _rows(tmp_path / "civil.db", "SELECT count(*) FROM residents") == [(120,)]
    assert summary.count == 120
