"""Picking synthetic residents straight from the generated source database, for tests."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any


def pick(sources_dir: Path, *, city: str, adult: bool = True, n: int = 1) -> list[dict[str, Any]]:
    cutoff = date.today().replace(year=date.today().year - 18).isoformat()
    op = "<=" if adult else ">"
    with sqlite3.connect(sources_dir / "civil.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            f"SELECT * FROM residents WHERE city_code = ? AND birth_date {op} ? "
            "ORDER BY nik LIMIT ?",
            (city, cutoff, n),
        ).fetchall()
    assert len(rows) == n, f"the demo data has too few residents in {city}"
    return [dict(r) for r in rows]


def welfare_nik(sources_dir: Path, city: str) -> str:
    with sqlite3.connect(sources_dir / "welfare.db") as w:
        niks = [r[0] for r in w.execute("SELECT nik FROM welfare")]
    cutoff = date.today().replace(year=date.today().year - 18).isoformat()
    with sqlite3.connect(sources_dir / "civil.db") as conn:
        for nik in niks:
            row = conn.execute(
                "SELECT 1 FROM residents WHERE nik = ? AND city_code = ? AND birth_date <= ?",
                (nik, city, cutoff),
            ).fetchone()
            if row:
                return str(nik)
    raise AssertionError("no adult welfare member in the demo data")
