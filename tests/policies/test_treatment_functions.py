"""Masking and generalising, as pure functions."""

from __future__ import annotations

from datetime import date

import pytest

from policies import generalise_value, mask_value


@pytest.mark.parametrize(
    ("value", "method", "expected"),
    [
        ("3578081506850003", "keep:6:2", "357808********03"),
        ("Budi Santoso", "initials", "B. S."),
        ("I Gusti Ngurah Rai", "initials", "I. G. N. R."),
        ("M. Yusuf", "initials", "M. Y."),
        ("1985-06-15", "keep:4:0", "1985-**-**"),
        ("Jl. Karang Menjangan 12", "redact", "***"),
        ("AB", "keep:6:2", "**"),  # too short to hide anything: hide it all
        (2_500_000, "keep:1:0", "2******"),
        (None, "initials", None),
    ],
)
def test_mask_value(value: object, method: str, expected: str | None) -> None:
    assert mask_value(value, method) == expected


RECORD = {"kelurahan_name": "AIRLANGGA", "kecamatan_name": "GUBENG", "city_name": "KOTA SURABAYA"}


@pytest.mark.parametrize(
    ("value", "method", "kind", "expected"),
    [
        ("1985-06-15", "year", "date", "1985"),
        ("1985-06-15", "month", "date", "1985-06"),
        ("1985-06-15", "age_band:10", "date", "40-49"),
        ("1985-06-02", "age_band:5", "date", "40-44"),
        ("2020-07-01", "age_band:10", "date", "0-9"),
        ("not a date", "year", "date", None),
        ("35.78.08.1001", "kecamatan", "region_code", "35.78.08"),
        ("35.78.08.1001", "city", "region_code", "35.78"),
        ("35.78", "kecamatan", "region_code", None),
        ("AIRLANGGA", "kecamatan", "region_name", "GUBENG"),
        ("Jl. Karang Menjangan 12", "kelurahan", "address", "AIRLANGGA"),
        ("Jl. Karang Menjangan 12", "city", "address", "KOTA SURABAYA"),
        (2_350_000, "band:1000000", "number", "2000000-2999999"),
        (7, "band:2", "number", "6-7"),
        (True, "band:2", "number", None),
        ("3578081506850003", "region", "identifier", "35.78.08"),
    ],
)
def test_generalise_value(value: object, method: str, kind: str, expected: object) -> None:
    assert (
        generalise_value(value, method, kind=kind, record=RECORD, today=date(2026, 6, 1))
        == expected
    )
