"""Cleaning source values: the shortcut for plain values agrees with ``clean_value``."""

from __future__ import annotations

from connectors.datasets import BOOL_FIELDS, INT_FIELDS, REGION_CODE_FIELDS
from connectors.values import changed_when_plain, clean_value

PLAIN = ("", "ya", "0", "12", "-3", " 7 ", "Siti Aminah", 0, 1, 42, -5, 2.5, None)


def test_only_the_named_fields_change_plain_values() -> None:
    fields = tuple(sorted(BOOL_FIELDS | INT_FIELDS | REGION_CODE_FIELDS | {"full_name"}))
    named = changed_when_plain(fields)
    assert set(named) == (BOOL_FIELDS | INT_FIELDS) & set(fields)
    for field in fields:
        if field in named:
            continue
        for value in PLAIN:
            assert clean_value(field, value) == value
            assert type(clean_value(field, value)) is type(value)
    changed = {
        field
        for field in named
        if any(type(clean_value(field, v)) is not type(v) for v in PLAIN if v is not None)
    }
    assert changed == set(named), "each named field does change some plain value"
