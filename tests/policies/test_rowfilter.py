"""The row-filter expression language."""

from __future__ import annotations

import pytest

from policies.rowfilter import all_of, parse_row_filter

FIELDS = ("decile", "kelurahan_code", "pkh_member", "sex")


@pytest.mark.parametrize(
    ("text", "record", "expected"),
    [
        ("decile <= 4", {"decile": 4}, True),
        ("decile <= 4", {"decile": 5}, False),
        ("decile <= 4", {}, False),
        ("decile <= 4", {"decile": "3"}, False),
        ("decile != 4", {}, False),
        ("decile == null", {}, True),
        ("decile != null", {"decile": 1}, True),
        ('kelurahan_code startswith "35.78.08"', {"kelurahan_code": "35.78.08.1001"}, True),
        ("sex in ['PEREMPUAN', 'LAKI-LAKI']", {"sex": "PEREMPUAN"}, True),
        (
            "pkh_member == true and not (decile > 4 or decile < 1)",
            {"pkh_member": True, "decile": 2},
            True,
        ),
        ("pkh_member == true", {"pkh_member": 1}, False),
        ("decile < 2 or decile > 8", {"decile": 9}, True),
    ],
)
def test_row_filters(text: str, record: dict[str, object], expected: bool) -> None:
    assert parse_row_filter(text, FIELDS)(record) is expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("decile <=", "expected"),
        ("shoe == 1", "unknown field"),
        ("decile == 1 and", "expected"),
        ("__import__('os')", "unknown field"),
        ("decile == 1)", "unexpected"),
        ("decile ~ 1", "unexpected character"),
    ],
)
def test_invalid_row_filters(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_row_filter(text, FIELDS)


def test_all_of_is_a_conjunction() -> None:
    both = all_of(
        [parse_row_filter("decile <= 4", FIELDS), parse_row_filter("sex == 'PEREMPUAN'", FIELDS)]
    )
    assert both is not None
    assert both({"decile": 1, "sex": "PEREMPUAN"}) and not both({"decile": 1, "sex": "LAKI-LAKI"})
    assert both.fields == {"decile", "sex"}
    assert all_of([]) is None
