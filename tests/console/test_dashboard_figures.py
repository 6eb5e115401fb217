"""The dashboard's charts: no label cut, junk purposes counted once as not valid."""

from __future__ import annotations

import re

import policies
from gateway.console import charts
from gateway.console.pages.dashboard import _purposes
from gateway.console.wording import Wording
from gateway.platform.settings import DEFAULT_POLICY_DIR


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
    bundle = policies.load_bundle(DEFAULT_POLICY_DIR)
    counts = [("social_assistance", 5), ("xx", 2), ("-", 1), ("administration", 1)]
    rows = _purposes(counts, Wording("id", bundle), "tidak sah")
    assert dict(rows) == {"Bantuan sosial": 5, "tidak sah": 3, "administrasi": 1}
    rows = _purposes(counts, Wording("en", bundle), "not valid")
    assert dict(rows) == {"Social assistance": 5, "not valid": 3, "administration": 1}
