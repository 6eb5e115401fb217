"""Region tables, NIK prefix checks, the BPS crosswalk and ``satugate regions import``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.crosswalk import Crosswalk
from connectors.regions import (
    RegionFormatError,
    RegionTable,
    iter_region_csv,
    nik_birth_date,
    region_level,
)


def test_demo_table_has_the_demo_cities() -> None:
    table = RegionTable.demo()
    assert table.name("35.78") == "Kota Surabaya"
    assert table.name("35.78.08") == "Gubeng"
    assert table.name("51.71") == "Kota Denpasar"
    assert len(table.children("35.78")) == 31
    assert len(table.children("51.71")) == 4
    kelurahan = [k for kec in table.children("35.78") for k in table.children(kec.code)]
    assert len(kelurahan) == 153
    assert sum(len(table.children(k.code)) for k in table.children("51.71")) == 43


def test_demo_table_is_an_extract_of_the_official_list(shared_dir: Path) -> None:
    official = {
        r.code: r.name for r in iter_region_csv(shared_dir / "data" / "wilayah-kemendagri-2025.csv")
    }
    demo = RegionTable.demo().names()
    assert all(official[code] == name for code, name in demo.items())


def test_streaming_the_national_list(shared_dir: Path) -> None:
    seen: list[int] = []
    count = sum(
        1
        for _ in iter_region_csv(
            shared_dir / "data" / "wilayah-kemendagri-2025.csv", progress=seen.append, every=10_000
        )
    )
    assert count == 91_599
    assert seen[-1] == count and seen[0] == 10_000


def test_nik_prefix_checks_warn_never_reject() -> None:
    table = RegionTable.demo()
    assert table.check_nik_prefix("3578084101900001") == []
    assert table.check_nik_prefix("3501014101900001") == []  # elsewhere in the province
    warnings = table.check_nik_prefix("3578994101900001")
    assert warnings == ["kecamatan 35.78.99 is not in the current region table"]
    assert "3578994101900001" not in " ".join(warnings)
    assert table.check_nik_prefix("9978084101900001") == ["province code 99 does not exist"]
    historical = RegionTable(RegionTable.demo().children("35"), historical={"35.78.99"})
    assert table.check_nik_prefix("3578994101900001") != historical.check_nik_prefix(
        "3578994101900001"
    )


def test_address_checks() -> None:
    table = RegionTable.demo()
    assert table.check_address("35.78.08.1001") == []
    assert table.check_address("35.78.08") == ["35.78.08 is a kecamatan code, not a kelurahan"]
    assert table.check_address("35.78.08.9999") == [
        "kelurahan 35.78.08.9999 is not in the current region table"
    ]
    assert table.check_address("x") == ["kelurahan code is malformed"]


def test_levels_and_nik_dates() -> None:
    assert [region_level(c) for c in ("35", "35.78", "35.78.08", "35.78.08.1001")] == [
        "province",
        "city",
        "kecamatan",
        "kelurahan",
    ]
    with pytest.raises(ValueError):
        region_level("35.7")
    born = nik_birth_date("3578084101900001")
    assert born is not None and born[0].isoformat() == "1990-01-01" and born[1] is True
    assert nik_birth_date("3578083202900001") is None  # 32 February


def test_malformed_csv_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("code,name\n35,Jawa Timur\n35.7x,Broken\n")
    with pytest.raises(RegionFormatError) as info:
        list(iter_region_csv(path))
    assert info.value.line == 3
    (tmp_path / "nohead.csv").write_text("35,Jawa Timur\n")
    with pytest.raises(RegionFormatError):
        list(iter_region_csv(tmp_path / "nohead.csv"))


def test_crosswalk_both_ways() -> None:
    crosswalk = Crosswalk.demo()
    assert crosswalk.to_bps("35.78.08") == "3578100"  # Gubeng
    assert crosswalk.to_kemendagri("3578100") == "35.78.08"
    assert crosswalk.to_bps("51.71.04") == "5171031"
    assert crosswalk.to_bps("35.78.99") is None
    table = RegionTable.demo()
    # Every kecamatan of the demo cities is in the crosswalk, and nothing else is.
    kecamatan = {k.code for city in ("35.78", "51.71") for k in table.children(city)}
    assert {c for c in kecamatan if crosswalk.to_bps(c)} == kecamatan
    assert len(crosswalk) == len(kecamatan) + 4
    with pytest.raises(ValueError):
        Crosswalk({"35.78.01": "3578010", "35.78.02": "3578010"})


def _stored(tmp_path: Path) -> dict[str, tuple[str, int, int, int | None]]:
    conn = sqlite3.connect(tmp_path / "data" / "gateway.db")
    try:
        return {
            r[0]: tuple(r[1:])
            for r in conn.execute("SELECT code, name, level, historical, list_year FROM gw_regions")
        }
    finally:
        conn.close()


def test_cli_import_keeps_retired_codes_as_historical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.cli.regions import app

    monkeypatch.delenv("SATUGATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("SATUGATE_DATABASE_URL_FILE", raising=False)
    monkeypatch.setenv("SATUGATE_DATA_DIR", str(tmp_path / "data"))
    first = tmp_path / "2024.csv"
    first.write_text(
        "code,name\n35,Jawa Timur\n35.78,Kota Surabaya\n35.78.08,Gubeng\n35.78.32,Kecamatan Lama\n"
    )
    second = tmp_path / "2025.csv"
    second.write_text(
        "code,name\n35,Jawa Timur\n35.78,Kota Surabaya\n35.78.08,Gubeng\n35.78.08.1001,Gubeng\n"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(first), "--year", "2024"])
    assert result.exit_code == 0, result.output
    assert "4 current region codes (4 new), 0 kept as historical" in result.output
    result = runner.invoke(app, ["import", str(second), "--year", "2025"])
    assert result.exit_code == 0, result.output
    assert "4 current region codes (1 new), 1 kept as historical" in result.output
    stored = _stored(tmp_path)
    assert stored["35.78.32"] == ("Kecamatan Lama", 3, 1, 2024)
    assert stored["35.78.08.1001"] == ("Gubeng", 4, 0, 2025)
    assert stored["35.78.08"] == ("Gubeng", 3, 0, 2025)


def test_cli_refuses_a_malformed_file_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.cli.regions import app

    monkeypatch.delenv("SATUGATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("SATUGATE_DATABASE_URL_FILE", raising=False)
    monkeypatch.setenv("SATUGATE_DATA_DIR", str(tmp_path / "data"))
    good = tmp_path / "good.csv"
    good.write_text("code,name\n35,Jawa Timur\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\n51,Bali\n51.x,Broken\n")
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(good)]).exit_code == 0
    result = runner.invoke(app, ["import", str(bad)])
    assert result.exit_code == 1
    assert "line 3" in result.output
    assert _stored(tmp_path) == {"35": ("Jawa Timur", 1, 0, None)}


@pytest.mark.slow
def test_cli_imports_the_national_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_dir: Path
) -> None:
    from gateway.cli.regions import app

    monkeypatch.delenv("SATUGATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("SATUGATE_DATABASE_URL_FILE", raising=False)
    monkeypatch.setenv("SATUGATE_DATA_DIR", str(tmp_path / "data"))
    path = shared_dir / "data" / "wilayah-kemendagri-2025.csv"
    result = CliRunner().invoke(app, ["import", str(path), "--year", "2025"])
    assert result.exit_code == 0, result.output
    assert "91599 current region codes (91599 new)" in result.output
    stored = _stored(tmp_path)
    assert stored["35.78.08"] == ("Gubeng", 3, 0, 2025)
    assert len(stored) == 91_599
