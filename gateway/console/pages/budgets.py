"""Each agency's statistics privacy budget for the month: spent and remaining."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from fastapi import APIRouter
from starlette.responses import Response

from gateway.console.routing import AdminPage, ConsoleRoute
from gateway.statistics.privacy_budget import period_of

router = APIRouter(route_class=ConsoleRoute)


def _shown(value: Fraction | int) -> str:
    return f"{float(value):.4g}"


@router.get("/budgets")
async def budgets(page: AdminPage) -> Response:
    services = page.services
    policy = (await services.policies.current()).policy
    now = datetime.now(UTC)
    rows: list[dict[str, str]] = []
    ledger = services.privacy_budget
    for agency in sorted(policy.agencies.values(), key=lambda a: a.id):
        for grant in policy.bundle.grants:
            rule = grant.aggregate
            if rule is None or not grant.applies_to(agency):
                continue
            spent = await ledger.spent(agency.id, now) if ledger is not None else 0
            rows.append(
                {
                    "agency": agency.id,
                    "grant": grant.id,
                    "epsilon": _shown(rule.epsilon),
                    "budget": _shown(rule.budget),
                    "spent": _shown(spent),
                    "remaining": _shown(max(rule.budget - spent, Fraction(0))),
                }
            )
            break
    return page.render("budgets.html", rows=rows, period=period_of(now))
