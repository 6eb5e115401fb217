"""The console's pure parts: charts and the side-by-side diff."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.console.charts import day_chart, hbar_chart
from gateway.console.policy_diff import side_by_side
from tests.console.conftest import Console


def test_chart_labels_are_escaped() -> None:
    svg = str(hbar_chart([("<script>alert(1)</script>", 3), ("B & C", 0)], title='"t"'))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "B &amp; C" in svg
    assert svg.count("<rect") == 2 and 'aria-label="&#34;t&#34;"' in svg


def test_bars_are_scaled_to_the_largest_value() -> None:
    svg = str(hbar_chart([("a", 10), ("b", 5)], title="x", width=560))
    widths = [
        int(w) for w in __import__("re").findall(r'class="bar" x="\d+" y="\d+" width="(\d+)"', svg)
    ]
    assert widths[0] == 560 - 170 - 56 and widths[1] == widths[0] // 2
    days = str(day_chart([("01/11", 3, 1), ("02/11", 0, 0)], title="d", allowed="ok", denied="no"))
    assert days.count('class="bar-denied"') == 2 and ">4<" in days


def test_empty_charts_render() -> None:
    assert "<svg" in str(hbar_chart([], title="x")) and "<svg" in str(
        day_chart([], title="x", allowed="", denied="")
    )


def test_diff_pairs_changes_and_folds_unchanged_runs() -> None:
    old = "\n".join(f"line {i}" for i in range(20))
    new = old.replace("line 10", "line ten") + "\nline 20"
    rows = side_by_side(old, new)
    kinds = [r.kind for r in rows]
    assert kinds.count("change") == 1 and kinds.count("insert") == 1 and "skip" in kinds
    change = next(r for r in rows if r.kind == "change")
    assert (change.old_no, change.old, change.new_no, change.new) == (11, "line 10", 11, "line ten")
    assert sum(r.skipped for r in rows) + sum(1 for r in rows if r.kind == "equal") == 19


@given(
    st.lists(st.sampled_from(["a", "b", "c", ""]), max_size=30),
    st.lists(st.sampled_from(["a", "b", "d"]), max_size=30),
)
def test_diff_rows_rebuild_both_sides(old: list[str], new: list[str]) -> None:
    rows = side_by_side("\n".join(old), "\n".join(new), context=10**6)
    old_lines = "\n".join(old).splitlines()
    new_lines = "\n".join(new).splitlines()
    assert [r.old for r in rows if r.old_no is not None] == old_lines
    assert [r.new for r in rows if r.new_no is not None] == new_lines


async def test_overview_counts_a_capped_window(console_app: Console) -> None:
    from datetime import UTC, datetime, timedelta

    from gateway.console import stats
    from tests.console.events import lookup

    nik = console_app.demo["sample_niks"][0]
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    await lookup(console_app.services, nik, time=old)
    for _ in range(5):
        await lookup(console_app.services, nik, decision="error")
    figures = await stats.overview(console_app.services.audit)
    assert figures.lookups == 5 and figures.errors == 5 and figures.denial_rate == 1.0
    assert not figures.truncated
    capped = await stats.overview(console_app.services.audit, max_events=2, page_size=2)
    assert capped.truncated and capped.lookups == 2
    assert sum(ok + no for _, ok, no in figures.by_day) == 5 and len(figures.by_day) == 30
