"""The NIK (Nomor Induk Kependudukan) as its own type, validated at the edge.

A ``Nik`` is not a ``str``: it prints masked, so that an accidental log line or error
message cannot carry a resident's identifier. Code that needs the digits asks for
``.value`` explicitly.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

# The 38 province codes (DOMAIN.md).
PROVINCES = frozenset(
    {
        "11", "12", "13", "14", "15", "16", "17", "18", "19", "21",
        "31", "32", "33", "34", "35", "36",
        "51", "52", "53",
        "61", "62", "63", "64", "65",
        "71", "72", "73", "74", "75", "76",
        "81", "82",
        "91", "92", "93", "94", "95", "96",
    }
)  # fmt: skip

_DIGITS = re.compile(r"[0-9]{16}")


class NikError(ValueError):
    """The value is not a well-formed NIK. The message never repeats the value."""


@dataclass(frozen=True, slots=True)
class Nik:
    value: str

    def __repr__(self) -> str:
        return f"Nik({self.value[:2]}**************)"

    __str__ = __repr__

    @property
    def region_prefix(self) -> str:
        """The registration region, dotted: ``35.78.08``."""
        v = self.value
        return f"{v[0:2]}.{v[2:4]}.{v[4:6]}"

    @property
    def is_female(self) -> bool:
        return int(self.value[6:8]) > 40


def parse_nik(raw: str) -> Nik:
    """Validate a NIK by DOMAIN.md's rules: 16 digits, known province, real birth date,
    serial never 0000. A region prefix missing from today's list is not checked here:
    that is a warning for the caller, never a rejection."""
    if not isinstance(raw, str) or not _DIGITS.fullmatch(raw):
        raise NikError("a NIK has exactly 16 digits")
    if raw[0:2] not in PROVINCES:
        raise NikError("the NIK's province code is not one of the 38 provinces")
    if raw[2:4] == "00" or raw[4:6] == "00":
        raise NikError("the NIK's regency or district code is zero")
    day, month, year2 = int(raw[6:8]), int(raw[8:10]), int(raw[10:12])
    if day > 40:
        day -= 40
    if not 1 <= month <= 12:
        raise NikError("the NIK's birth month is not 01-12")
    # Two-digit year: the day must exist in at least one of the two candidate centuries.
    last = max(
        calendar.monthrange(1900 + year2, month)[1], calendar.monthrange(2000 + year2, month)[1]
    )
    if not 1 <= day <= last:
        raise NikError("the NIK's birth day is not a real day")
    if raw[12:16] == "0000":
        raise NikError("the NIK's serial is 0000")
    return Nik(raw)


# Sixteen digits in a row, once the separators people type between groups are dropped.
_NIK_SHAPED = re.compile(r"[0-9]{16}")
_SEPARATORS = re.compile(r"[\s._:/\-]+")


def carries_nik(text: str | None) -> bool:
    """Whether free text holds something shaped like a NIK (16 digits, separators
    ignored). Security decision: such a value is refused, never stored or logged, whether
    or not it is a valid NIK: a header is no place for a resident's identifier."""
    if not text:
        return False
    return _NIK_SHAPED.search(_SEPARATORS.sub("", text)) is not None
