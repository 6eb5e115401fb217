"""The dashboard's charts: no label cut, junk purposes counted once as not valid."""

from __future__ import annotations

import re

from gateway.console import charts
from gateway.console.pages.dashboard import _purposes


def test_a_long_agency_name_fits_its_label_column() -> None:
    name = "Dinas Kependudukan dan Pencatatan Sipil Kota Surabaya"
    svg = str(charts.hbar_chart([(name, 7), ("Bappeda", 3)], title="per instansi"))
    label_x = float(re.findall(r'class="chart-label" x="([0-9.]+)"', svg)[0])
    assert label_x >= len(name) * charts.CHAR_WIDTH, "the right-aligned label starts at x >= 0"
    assert name in svg


def test_the_tallest_days_figure_is_below_the_top_edge() -> None:
    svg = str(charts.day_chart([("01/12", 40, 2), ("02/12", 3, 0)], title="t", allowed="a",
                               denied="d"))  # fmt: skip
    tops = [float(y) for y in re.findall(r'class="chart-value" x="[0-9.]+" y="(-?[0-9.]+)"', svg)]
    assert min(tops) >= 12, "the figure over the tallest bar is not clipped"


def test_malformed_purposes_are_counted_as_not_valid() -> None:
    rows = _purposes(
        [("social_assistance", 5), ("xx", 2), ("-", 1), ("audit", 1)],
        {"social_assistance": "Bantuan sosial"},
        "tidak sah",
    )
    assert dict(rows) == {"Bantuan sosial": 5, "tidak sah": 3, "audit": 1}
