"""Turning values read from a source into the contract's plain JSON-able types."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from decimal import Decimal

from connectors.crosswalk import Crosswalk
from connectors.datasets import BOOL_FIELDS, INT_FIELDS, REGION_CODE_FIELDS

__all__ = ["changed_when_plain", "clean_value", "to_kemendagri_codes"]


def clean_value(field: str, value: object) -> object:
    """A source value as the contract expects it (ISO dates, bools, ints, strings)."""
    if value is None:
        return None
    if field in BOOL_FIELDS:
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "t", "yes", "y", "ya"}
        return bool(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if field.endswith("_date") else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if field in INT_FIELDS and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return value


@functools.lru_cache(maxsize=256)
def changed_when_plain(fields: tuple[str, ...]) -> tuple[str, ...]:
    """Those of ``fields`` whose plain values (text, numbers, null) ``clean_value`` may
    still change: booleans, and numbers stored as text. The others pass unchanged."""
    return tuple(f for f in fields if f in BOOL_FIELDS or f in INT_FIELDS)


def to_kemendagri_codes(record: Mapping[str, object], crosswalk: Crosswalk) -> dict[str, object]:
    """Translate BPS region codes of a record into Kemendagri codes.

    A code the crosswalk does not know is dropped (set to ``None``) rather than passed on
    in the wrong coding system, where it would silently mean another region.
    """
    out = dict(record)
    for field in REGION_CODE_FIELDS & out.keys():
        value = out[field]
        if value is not None:
            out[field] = crosswalk.to_kemendagri(str(value))
    return out
