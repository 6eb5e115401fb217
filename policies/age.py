"""Ages, for the children's-data rule and for age bands."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

ADULT_AGE = 18


def parse_date(value: object) -> date | None:
    """An ISO ``YYYY-MM-DD`` text or a ``date``; ``None`` for anything else."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def birth_date_from_nik(nik: object, today: date) -> date | None:
    """The birth date encoded in a NIK (digits 7-12, day + 40 for women).

    The two-digit year is read as the most recent possible century, i.e. the youngest
    reading, so that a doubt counts towards the protection of children.
    """
    if not isinstance(nik, str) or len(nik) != 16 or not nik.isdigit():
        return None
    day, month, year = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    if day > 40:
        day -= 40
    century = 2000 if 2000 + year <= today.year else 1900
    try:
        return date(century + year, month, day)
    except ValueError:
        return None


def is_child(record: Mapping[str, object], today: date) -> bool:
    """Whether the record is a child's (under 18 on ``today``).

    Security: the birth date comes from ``birth_date``, else from the NIK; a record whose
    age cannot be told counts as a child's, so that it needs the explicit grant.
    """
    birth = parse_date(record.get("birth_date")) or birth_date_from_nik(record.get("nik"), today)
    return birth is None or age_on(birth, today) < ADULT_AGE
