"""Generalising: replace a value by a coarser one (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from policies.age import age_on, parse_date
from policies.methods import LEVELS


def generalise_value(
    value: object,
    method: str,
    *,
    kind: str,
    record: Mapping[str, object] | None = None,
    today: date | None = None,
) -> object:
    """Generalise ``value`` (a field of ``kind``) with ``method``.

    - dates: ``year`` (``"1985"``), ``month`` (``"1985-06"``), ``age_band:N``
      (``"30-39"`` for N=10, relative to ``today``);
    - region codes: ``kelurahan``/``kecamatan``/``city``/``province`` keep that many
      segments of the dotted code; region names and addresses become the name of that
      region, taken from the same record (``kecamatan_name`` ...);
    - numbers: ``band:N`` (``"1000000-1999999"``); identifiers: ``region`` (the dotted
      registration region of a NIK).

    A value that cannot be generalised becomes ``None``: it is never passed through.
    """
    if value is None:
        return None
    if kind == "date":
        birth = parse_date(value)
        if birth is None:
            return None
        if method == "year":
            return f"{birth.year:04d}"
        if method == "month":
            return f"{birth.year:04d}-{birth.month:02d}"
        width = int(method.split(":")[1])
        age = age_on(birth, today or date.today())
        low = max(age, 0) // width * width
        return f"{low}-{low + width - 1}"
    if method in LEVELS:
        if kind == "region_code":
            if not isinstance(value, str):
                return None
            parts = value.split(".")
            return ".".join(parts[: LEVELS[method]]) if len(parts) > LEVELS[method] else None
        return (record or {}).get(f"{method}_name")
    if method.startswith("band:"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        width = int(method.split(":")[1])
        low = int(value // width * width)
        return f"{low}-{low + width - 1}"
    if method == "region":
        text = str(value)
        if len(text) < 6 or not text[:6].isdigit():
            return None
        return f"{text[0:2]}.{text[2:4]}.{text[4:6]}"
    return None
