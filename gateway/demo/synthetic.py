"""Synthetic source databases for the demo and the benchmarks.

:func:`generate_sources` writes three separate SQLite databases, one per source of
truth, the way a city's data actually sits in different agencies:

* ``civil.db``, table ``residents`` (the civil registry, source ``dukcapil``);
* ``welfare.db``, table ``welfare`` (the welfare registry, source ``dtks``), for about
  35 % of families, one row per family member;
* ``health.db``, table ``health`` (a health survey, source ``dinkes_survey``), for about
  20 % of residents;

and a ``sources.yaml`` that points the connectors at them. Residents live in Kota
Surabaya and Kota Denpasar with the real Kemendagri codes of their kecamatan and
kelurahan. Everything is generated from one seed: the same seed gives the same files.
All personal data is made up; names are assembled from name parts, never taken from
lists of real people.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from connectors.names import normalise_name
from gateway.demo import records
from gateway.demo.households import Households

__all__ = [
    "CIVIL_COLUMNS",
    "HEALTH_COLUMNS",
    "TOKEN_COLUMNS",
    "WELFARE_COLUMNS",
    "SyntheticSummary",
    "generate_sources",
]


CIVIL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("nik", "TEXT PRIMARY KEY"),
    ("kk_number", "TEXT NOT NULL"),
    ("full_name", "TEXT NOT NULL"),
    ("sex", "TEXT NOT NULL"),
    ("birth_place", "TEXT"),
    ("birth_date", "TEXT NOT NULL"),
    ("blood_type", "TEXT"),
    ("religion", "TEXT"),
    ("marital_status", "TEXT"),
    ("family_relation", "TEXT"),
    ("disability", "TEXT"),
    ("education", "TEXT"),
    ("occupation", "TEXT"),
    ("mother_nik", "TEXT"),
    ("mother_name", "TEXT"),
    ("father_nik", "TEXT"),
    ("father_name", "TEXT"),
    ("street", "TEXT"),
    ("rt", "TEXT"),
    ("rw", "TEXT"),
    ("kelurahan_code", "TEXT NOT NULL"),
    ("kelurahan_name", "TEXT"),
    ("kecamatan_code", "TEXT NOT NULL"),
    ("kecamatan_name", "TEXT"),
    ("city_code", "TEXT"),
    ("city_name", "TEXT"),
    ("province_code", "TEXT"),
    ("province_name", "TEXT"),
    ("name_key", "TEXT NOT NULL"),
)
WELFARE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("nik", "TEXT PRIMARY KEY"),
    ("welfare_decile", "INTEGER"),
    ("housing_ownership", "TEXT"),
    ("floor_type", "TEXT"),
    ("wall_type", "TEXT"),
    ("roof_type", "TEXT"),
    ("water_source", "TEXT"),
    ("sanitation", "TEXT"),
    ("pkh_member", "BOOLEAN"),
    ("bpnt_member", "BOOLEAN"),
    ("pbi_member", "BOOLEAN"),
    ("monthly_income", "INTEGER"),
)
HEALTH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("nik", "TEXT PRIMARY KEY"),
    ("bpjs_class", "TEXT"),
    ("chronic_conditions", "TEXT"),
    ("disability_support_needs", "TEXT"),
)
#: The search's token index: one row per distinctive name token of a resident.
TOKEN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("token", "TEXT NOT NULL"),
    ("kelurahan_code", "TEXT NOT NULL"),
    ("nik", "TEXT NOT NULL"),
)
_CIVIL_INDEXES = (
    ("ix_residents_block", "kelurahan_code, rt, rw"),
    ("ix_residents_kecamatan", "kecamatan_code"),
    ("ix_residents_kk", "kk_number"),
)
_CHUNK = 20_000


@dataclass(frozen=True)
class SyntheticSummary:
    """What :func:`generate_sources` wrote."""

    count: int
    sources_file: Path
    sample_niks: list[str] = field(default_factory=list)
    sample_residents: list[dict[str, str]] = field(default_factory=list)
    families: int = 0
    welfare_rows: int = 0
    health_rows: int = 0


def _create(path: Path, table: str, columns: tuple[tuple[str, str], ...]) -> sqlite3.Connection:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    cols = ", ".join(f"{name} {decl}" for name, decl in columns)
    conn.execute(f"CREATE TABLE {table} ({cols})")
    return conn


def _insert_sql(table: str, columns: tuple[tuple[str, str], ...]) -> str:
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} VALUES ({marks})"  # noqa: S608 - table names are constants


def _sources_yaml() -> str:
    return """\
# Sources of truth for satugate (SATUGATE_SOURCES_FILE). SQLite paths are relative to
# this file's folder. Field lists default to the datasets' fields of the data contract.
sources:
  - name: dukcapil
    kind: sql
    url: sqlite:///civil.db
    datasets: [civil_registry]
    table: residents
    key: nik
    primary: true
    region_system: kemendagri
    timeout_seconds: 2.0
    search:
      enabled: true
      name_key_column: name_key
      token_table: name_tokens
  - name: dtks
    kind: sql
    url: sqlite:///welfare.db
    datasets: [welfare]
    table: welfare
    key: nik
    region_system: kemendagri
    timeout_seconds: 2.0
  - name: dinkes_survey
    kind: sql
    url: sqlite:///health.db
    datasets: [health]
    table: health
    key: nik
    region_system: bps
    timeout_seconds: 2.0
"""


def generate_sources(out_dir: Path, *, residents: int = 10_000, seed: int = 7) -> SyntheticSummary:
    """Write ``civil.db``, ``welfare.db``, ``health.db`` and ``sources.yaml`` into ``out_dir``.

    Existing files of those names are replaced. ``residents`` is the exact number of
    rows in the civil registry (the last family is cut to fit). Deterministic for a seed.
    """
    if residents < 1:
        raise ValueError("residents must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = Households(seed)
    civil = _create(out_dir / "civil.db", "residents", CIVIL_COLUMNS)
    welfare = _create(out_dir / "welfare.db", "welfare", WELFARE_COLUMNS)
    health = _create(out_dir / "health.db", "health", HEALTH_COLUMNS)
    civil.execute(
        "CREATE TABLE name_tokens ("
        + ", ".join(f"{name} {decl}" for name, decl in TOKEN_COLUMNS)
        + ")"
    )
    token_sql = _insert_sql("name_tokens", TOKEN_COLUMNS)
    token_rows: list[tuple[object, ...]] = []
    civil_sql = _insert_sql("residents", CIVIL_COLUMNS)
    welfare_sql = _insert_sql("welfare", WELFARE_COLUMNS)
    health_sql = _insert_sql("health", HEALTH_COLUMNS)
    civil_rows: list[tuple[object, ...]] = []
    welfare_rows: list[tuple[object, ...]] = []
    health_rows: list[tuple[object, ...]] = []
    samples: list[tuple[object, ...]] = []
    sample_every = max(1, residents // 10)
    count = families = n_welfare = n_health = 0
    # A separate stream decides which families the welfare and health sources hold, so
    # that the civil data of a seed does not depend on those choices.
    pick = random.Random(seed * 7919 + 1)  # noqa: S311 - synthetic data
    try:
        while count < residents:
            home, kk, members, culture, rt, rw, street = gen.family()
            members = members[: residents - count]
            families += 1
            decile: int | None = None
            if pick.random() < 0.35:
                rows = list(records.welfare_rows(gen, members))
                decile = int(rows[0][1])  # type: ignore[call-overload]
                welfare_rows.extend(rows)
                n_welfare += len(rows)
            for person in members:
                row = records.civil_row(gen, person, home, kk, culture, rt, rw, street)
                civil_rows.append(row)
                token_rows.extend(
                    (token, home.code, person.nik) for token in set(gen.name_tokens(str(row[-1])))
                )
                if (
                    count >= len(samples) * sample_every
                    and len(samples) < 10
                    and normalise_name(str(row[2])).is_specific
                ):
                    samples.append(row)  # searchable by name and address alone
                count += 1
                if pick.random() < 0.2:
                    health_rows.append(records.health_row(gen, person, row[10], decile))
                    n_health += 1
            if len(civil_rows) >= _CHUNK:
                civil.executemany(civil_sql, civil_rows)
                civil.executemany(token_sql, token_rows)
                token_rows.clear()
                welfare.executemany(welfare_sql, welfare_rows)
                health.executemany(health_sql, health_rows)
                civil_rows.clear()
                welfare_rows.clear()
                health_rows.clear()
        civil.executemany(civil_sql, civil_rows)
        civil.executemany(token_sql, token_rows)
        welfare.executemany(welfare_sql, welfare_rows)
        health.executemany(health_sql, health_rows)
        civil.execute("CREATE INDEX ix_name_tokens ON name_tokens (token, kelurahan_code)")
        civil.execute("CREATE INDEX ix_name_tokens_region ON name_tokens (kelurahan_code, token)")
        for name, cols in _CIVIL_INDEXES:
            civil.execute(f"CREATE INDEX {name} ON residents ({cols})")
        for conn in (civil, welfare, health):
            conn.commit()
            conn.execute("ANALYZE")
    finally:
        for conn in (civil, welfare, health):
            conn.close()
    sources_file = out_dir / "sources.yaml"
    sources_file.write_text(_sources_yaml(), encoding="utf-8")
    columns = [name for name, _ in CIVIL_COLUMNS]
    sample_residents = [
        {
            k: str(dict(zip(columns, row, strict=True))[k])
            for k in ("nik", "full_name", "kelurahan_code", "rt", "rw")
        }
        for row in samples[:: max(1, len(samples) // 5)][:5]
    ]
    return SyntheticSummary(
        count=count,
        sources_file=sources_file,
        sample_niks=[str(row[0]) for row in samples],
        sample_residents=sample_residents,
        families=families,
        welfare_rows=n_welfare,
        health_rows=n_health,
    )
