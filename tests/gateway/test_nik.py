"""NIK validation at the edge (DOMAIN.md's rules) and a type that will not print itself."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.residents.nik import PROVINCES, NikError, parse_nik


@given(
    province=st.sampled_from(sorted(PROVINCES)),
    regency=st.integers(1, 99),
    district=st.integers(1, 99),
    birth=st.dates(dt.date(1930, 1, 1), dt.date(2025, 12, 31)),
    female=st.booleans(),
    serial=st.integers(1, 9999),
)
def test_every_rule_following_nik_is_accepted(
    province: str, regency: int, district: int, birth: dt.date, female: bool, serial: int
) -> None:
    day = birth.day + (40 if female else 0)
    raw = f"{province}{regency:02d}{district:02d}{day:02d}{birth:%m%y}{serial:04d}"
    nik = parse_nik(raw)
    assert nik.value == raw and nik.is_female is female
    assert raw not in repr(nik) and raw not in str(nik) and raw not in f"{nik}"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("357808010190000", "15 digits"),
        ("35780801019000011", "17 digits"),
        ("35780801019O0001", "a letter O"),
        ("".join(chr(0xFF10 + int(d)) for d in "3578080101900001"), "full-width digits"),
        ("9978080101900001", "unknown province 99"),
        ("3500080101900001", "regency 00"),
        ("3578083201900001", "day 32"),
        ("3578087201900001", "woman's day 72"),
        ("3578080113900001", "month 13"),
        ("3578083002900001", "30 February"),
        ("3578080101900000", "serial 0000"),
    ],
)
def test_malformed_niks_are_refused_without_echoing(raw: str, why: str) -> None:
    with pytest.raises(NikError) as info:
        parse_nik(raw)
    assert raw not in str(info.value), why


def test_leap_day_in_either_century() -> None:
    assert parse_nik("3578082902000001").value  # 29 Feb 2000
    assert parse_nik("3578086902040001").is_female  # 29 Feb 2004, a woman
