"""The dashboard: lookups per agency, purpose and day, denial rate, open alerts."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter
from starlette.responses import Response

from gateway.console import charts, i18n, stats
from gateway.console.routing import AnyUser, ConsoleRoute
from gateway.console.wording import Wording

router = APIRouter(route_class=ConsoleRoute)


def _purposes(counts: list[tuple[str, int]], words: Wording, invalid: str) -> list[tuple[str, int]]:
    """Known purposes by name, in the page's language; whatever a malformed request
    carried (``xx``, ``-``, an unknown code) is counted once, as not valid, never charted
    as a category."""
    known = {*words.bundle.purposes, "administration", "audit"}
    rows: Counter[str] = Counter()
    for code, n in counts:
        rows[words.purpose(code) if code in known else invalid] += n
    return rows.most_common()


@router.get("/")
async def dashboard(page: AnyUser) -> Response:
    state = page.request.app.state
    cache: stats.OverviewCache | None = getattr(state, "console_overview", None)
    if cache is None:
        cache = state.console_overview = stats.OverviewCache()
    figures = await cache.get(page.services.audit)
    t = i18n.translator(page.lang)
    active = await page.services.policies.current()
    names = {a.id: a.name for a in active.policy.agencies.values()}
    words = Wording(page.lang, active.policy.bundle, page.services.regions)
    return page.render(
        "dashboard.html",
        figures=figures,
        agency_chart=charts.hbar_chart(
            [(names.get(a, a), n) for a, n in figures.by_agency], title=t("dash.by_agency")
        ),
        purpose_chart=charts.hbar_chart(
            _purposes(figures.by_purpose, words, t("dash.invalid_purpose")),
            title=t("dash.by_purpose"),
        ),
        reason_chart=charts.hbar_chart(
            [(words.reason(r), n) for r, n in figures.by_reason], title=t("dash.by_reason")
        ),
        day_chart=charts.day_chart(
            [(d.strftime("%d/%m"), ok, no) for d, ok, no in figures.by_day],
            title=t("dash.by_day"),
            allowed=t("decision.allow"),
            denied=t("dash.refused"),
        ),
        policy_version=active.policy.version,
        bundle_id=active.bundle_id,
    )
