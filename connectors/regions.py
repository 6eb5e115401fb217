"""Kemendagri region codes: a lookup table, NIK prefix checks, and streaming import.

The official list changes every year (kecamatan are split and re-coded), so the project
ships no national copy: operators import the list of the year (``code,name`` CSV) with
``satugate regions import``. The demo carries a small table of its own cities
(``connectors/data/regions-demo.csv``).

Codes are dotted: province ``35``, city ``35.78``, kecamatan ``35.78.08``, kelurahan/desa
``35.78.08.1001`` (1xxx kelurahan, 2xxx desa).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

__all__ = [
    "DEMO_REGIONS_CSV",
    "Region",
    "RegionFormatError",
    "RegionTable",
    "iter_region_csv",
    "nik_birth_date",
    "nik_region_prefix",
    "region_level",
]

DEMO_REGIONS_CSV = Path(__file__).with_name("data") / "regions-demo.csv"

Level = Literal["province", "city", "kecamatan", "kelurahan"]
_CODE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53}
    | set(range(61, 66))
    | set(range(71, 77))
    | {81, 82}
    | set(range(91, 97))
)


class RegionFormatError(ValueError):
    """A row of a region CSV that is not ``code,name`` with a valid dotted code."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str

    @property
    def level(self) -> Level:
        return region_level(self.code)


def region_level(code: str) -> Level:
    """The administrative level of a dotted code (raises ``ValueError`` if malformed)."""
    if not _CODE.match(code):
        raise ValueError("not a dotted Kemendagri region code")
    levels: tuple[Level, ...] = ("province", "city", "kecamatan", "kelurahan")
    return levels[code.count(".")]


def nik_region_prefix(nik: str) -> str:
    """The kecamatan code (dotted) where the NIK was first registered: digits 1-6."""
    return f"{nik[0:2]}.{nik[2:4]}.{nik[4:6]}"


def iter_region_csv(
    path: Path, *, progress: Callable[[int], None] | None = None, every: int = 1000
) -> Iterator[Region]:
    """Stream the rows of a ``code,name`` region CSV as :class:`Region` values.

    Meant for the official national list (~92,000 rows): nothing is held in memory.
    ``progress`` is called with the number of rows read so far every ``every`` rows and
    once at the end. A malformed row raises :class:`RegionFormatError` with its line.
    """
    count = 0
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["code", "name"]:
            raise RegionFormatError(1, "expected the header 'code,name'")
        for line, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise RegionFormatError(line, "expected two columns")
            code, name = row[0].strip(), row[1].strip()
            if not _CODE.match(code):
                raise RegionFormatError(line, "not a dotted region code")
            if not name:
                raise RegionFormatError(line, "empty name")
            count += 1
            if progress is not None and count % every == 0:
                progress(count)
            yield Region(code, name)
    if progress is not None:
        progress(count)


class RegionTable:
    """An in-memory table of region codes and names.

    Current codes come from the list of the year; ``historical`` codes are ones that were
    valid once (e.g. before a kecamatan split) and are still accepted with a warning.
    """

    def __init__(self, regions: Iterable[Region], *, historical: Iterable[str] = ()) -> None:
        self._names: dict[str, str] = {r.code: r.name for r in regions}
        self._historical = frozenset(historical) - self._names.keys()

    @classmethod
    def from_csv(cls, path: Path) -> RegionTable:
        return cls(iter_region_csv(path))

    @classmethod
    def demo(cls) -> RegionTable:
        """The table of the demo cities (Kota Surabaya, Kota Denpasar and their provinces)."""
        return cls.from_csv(DEMO_REGIONS_CSV)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, code: object) -> bool:
        return code in self._names

    def name(self, code: str) -> str | None:
        return self._names.get(code)

    def names(self) -> Mapping[str, str]:
        return dict(self._names)

    def children(self, code: str) -> list[Region]:
        """Direct sub-regions of ``code``, sorted by code."""
        prefix = code + "."
        depth = code.count(".") + 1
        return sorted(
            (
                Region(c, n)
                for c, n in self._names.items()
                if c.startswith(prefix) and c.count(".") == depth
            ),
            key=lambda r: r.code,
        )

    def check_nik_prefix(self, nik: str) -> list[str]:
        """Warnings about the region part of a NIK; an empty list when all is well.

        A prefix missing from today's list is a warning, never a rejection: kecamatan are
        split and re-coded over the years, and a NIK keeps the code of its first
        registration. Messages carry region codes only, never the NIK.
        """
        warnings: list[str] = []
        if len(nik) < 6 or not nik[:6].isdigit():
            return ["NIK region part is not six digits"]
        province = nik[0:2]
        if int(province) not in _PROVINCES:
            warnings.append(f"province code {province} does not exist")
            return warnings
        if self._names and province not in self._names:
            warnings.append(f"province {province} is not in the region table")
        city = f"{nik[0:2]}.{nik[2:4]}"
        if city not in self._names:
            warnings.append(f"city {city} is not in the current region table")
            return warnings
        kecamatan = nik_region_prefix(nik)
        if kecamatan in self._historical:
            warnings.append(f"kecamatan {kecamatan} is a historical code")
        elif kecamatan not in self._names:
            warnings.append(f"kecamatan {kecamatan} is not in the current region table")
        return warnings

    def check_address(self, kelurahan_code: str) -> list[str]:
        """Warnings about an address's kelurahan code (unknown code, historical code)."""
        try:
            level = region_level(kelurahan_code)
        except ValueError:
            return ["kelurahan code is malformed"]
        if level != "kelurahan":
            return [f"{kelurahan_code} is a {level} code, not a kelurahan"]
        if kelurahan_code in self._historical:
            return [f"kelurahan {kelurahan_code} is a historical code"]
        if kelurahan_code not in self._names:
            return [f"kelurahan {kelurahan_code} is not in the current region table"]
        return []


def nik_birth_date(nik: str) -> tuple[date, bool] | None:
    """The birth date and sex (``True`` for women) encoded in a NIK, or ``None`` if invalid."""
    if len(nik) != 16 or not nik.isdigit():
        return None
    day, month, year2 = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    female = day > 40
    if female:
        day -= 40
    century = 2000 if year2 <= date.today().year % 100 else 1900
    try:
        return date(century + year2, month, day), female
    except ValueError:
        return None
