"""Statistics: counts by region and category, never records.

decide (``policies.aggregate``), spend the privacy budget (``gateway.statistics.privacy_budget``),
count in the source (``connectors.aggregate``), protect the table
(``policies.disclosure``), audit, respond — in that order. The answer carries no
subject; its event names the dimensions, filters, cells released and suppressed and the
budget spent, and nothing about any resident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import connectors
import policies
from gateway.auditing.recorder import Call
from gateway.platform.errors import (
    GatewayError,
    InvalidRequest,
    PolicyRefusal,
    RateLimiterUnavailable,
    SourceUnavailable,
)
from gateway.residents.steps import validated
from gateway.statistics.noise import OpenDPNoise
from policies.aggregate import AGE_BANDS, REGION_DIMENSIONS
from policies.disclosure import DOMINANCE_SHARE, ProtectedTable, protect

#: Categories of the dimensions that are not regions.
CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "sex": ("LAKI-LAKI", "PEREMPUAN"),
    "age_band": AGE_BANDS,
    "welfare_decile": tuple(str(i) for i in range(1, 11)),
    "religion": ("ISLAM", "KRISTEN", "KATOLIK", "HINDU", "BUDDHA", "KONGHUCU"),
    "disability": ("TIDAK", "YA"),
}
HOUSEHOLD_DIMENSIONS = frozenset({"kecamatan_code", "kelurahan_code", "welfare_decile"})
_LEVEL_DEPTH = {"kecamatan_code": 2, "kelurahan_code": 3}


class PrivacyBudgetExhausted(GatewayError):
    status = 429
    code = "privacy_budget_exhausted"
    title = "Privacy budget exhausted"


class DimensionNotAvailable(GatewayError):
    status = 422
    code = "dimension_not_available"
    title = "No source holds these dimensions together"


def _regions(call: Call, prefixes: Sequence[str], dimension: str) -> tuple[str, ...]:
    """Every region of ``dimension``'s level under the agency's jurisdiction."""
    table = call.services.regions or connectors.RegionTable.demo()
    depth = _LEVEL_DEPTH[dimension]
    out: list[str] = []
    frontier = list(prefixes)
    while frontier:
        code = frontier.pop()
        if code.count(".") == depth:
            out.append(code)
        elif code.count(".") < depth:
            frontier.extend(r.code for r in table.children(code))
    return tuple(sorted(out))


def _categories(
    call: Call, dim: str, filters: Mapping[str, tuple[str, ...]], region: Sequence[str]
) -> tuple[str, ...]:
    if dim in filters:
        return tuple(sorted(set(filters[dim])))
    if dim in REGION_DIMENSIONS:
        return _regions(call, region, dim)
    return CATEGORIES[dim]


async def query(
    call: Call,
    *,
    dataset: str,
    unit: str,
    group_by: tuple[str, ...],
    filters: Mapping[str, tuple[str, ...]],
) -> dict[str, Any]:
    await validated(call)
    now = datetime.now(UTC)
    asked = {
        "dataset": dataset,
        "unit": unit,
        "group_by": list(group_by),
        "filters": {k: list(v) for k, v in sorted(filters.items())},
    }
    active = await call.services.policies.current()
    decision = active.policy.decide_aggregate(
        policies.AggregateRequest(
            agency=call.principal.agency,
            purpose=call.purpose or "",
            dataset=dataset,
            unit=unit,
            group_by=group_by,
            filters=filters,
            at=now,
        )
    )
    audited: dict[str, Any] = {
        "rule_ids": decision.rule_ids,
        "policy_version": decision.policy_version,
    }
    if not decision.allowed:
        raise await call.refuse(
            PolicyRefusal(decision.code or "policy_denied", decision.explanation),
            detail=asked,
            **audited,
        )
    if unit == "households" and not set(group_by) | set(filters) <= HOUSEHOLD_DIMENSIONS:
        # A household is one unit only where all its members share the category: grouped
        # by a person's sex or age it would count in several cells, and one query would
        # cost more than its epsilon.
        raise await call.refuse(
            InvalidRequest("households are counted by region and welfare decile only"),
            detail=asked,
            **audited,
        )
    for dim, values in filters.items():
        allowed = CATEGORIES.get(dim)
        if allowed is not None and not set(values) <= set(allowed):
            raise await call.refuse(
                InvalidRequest(f"a value of the {dim} filter is not one of its categories"),
                detail=asked,
                **audited,
            )
    scoped = dict(filters)
    region = decision.jurisdiction
    if region and not any(d in scoped for d in REGION_DIMENSIONS):
        # Jurisdiction applies as for records: only the agency's own kecamatan are counted.
        scoped["kecamatan_code"] = _regions(call, region, "kecamatan_code")
    categories = [_categories(call, d, scoped, region) for d in group_by]
    if any(not c for c in categories) or len(categories) == 0:
        raise await call.refuse(
            InvalidRequest("group_by needs at least one dimension with categories"),
            detail=asked,
            **audited,
        )
    cells = 1
    for c in categories:
        cells *= len(c)
    if cells > 5000:
        raise await call.refuse(
            InvalidRequest(f"the table would have {cells} cells; at most 5000"),
            detail=asked,
            **audited,
        )
    budget = call.services.privacy_budget
    assert budget is not None, "the services build a privacy budget"
    try:
        spend = await budget.spend(call.principal.agency, decision.epsilon, decision.budget, now)
    except RateLimiterUnavailable as exc:  # no ledger, no answer: fail closed, on the record
        raise await call.refuse(exc, detail=asked, **audited) from None
    budget_view = {
        "epsilon": str(decision.epsilon),
        "spent": str(spend.spent),
        "remaining": str(spend.remaining),
        "period": spend.period,
    }
    if not spend.ok:
        raise await call.refuse(
            PrivacyBudgetExhausted(
                f"this query needs {decision.epsilon} of privacy budget; {spend.remaining}"
                f" remains for {spend.period}",
                extra={"privacy_budget": budget_view},
            ),
            detail={**asked, "privacy_budget": budget_view},
            **audited,
        )
    count_query = connectors.CountQuery(group_by, scoped, unit, now.year)
    try:
        rows = await call.services.federation.count(dataset, count_query)
    except connectors.UnknownFields:
        raise await call.refuse(
            DimensionNotAvailable(
                "no source, nor two sources joined by NIK, holds every dimension of this query"
            ),
            detail={**asked, "privacy_budget": budget_view},
            **audited,
        ) from None
    except connectors.SourceUnavailable:
        raise await call.refuse(
            SourceUnavailable("the source did not answer"),
            detail={**asked, "privacy_budget": budget_view},
            **audited,
        ) from None
    counts = {r.key: r.count for r in rows}
    # A source names a cell's largest household only where it holds over half of the
    # cell (``connectors.aggregate``): enough for a dominance share of a half or more.
    assert Fraction(1, 2) <= DOMINANCE_SHARE, "the sources answer for a share of 1/2 or more"
    largest = {r.key: r.largest_household for r in rows} if unit == "residents" else None
    table = protect(
        group_by,
        categories,
        counts,
        min_cell=decision.min_cell,
        epsilon=decision.epsilon,
        noise=OpenDPNoise(),
        largest_household=largest,
    )
    released = sum(1 for v in table.values if v is not None)
    receipt = await call.record(
        decision="allow",
        status=200,
        result_count=released,
        detail={
            **asked,
            "cells": table.structure.size,
            "released": released,
            "suppressed": table.suppressed,
            "privacy_budget": budget_view,
        },
        **audited,
    )
    return _answer(table, asked, decision, budget_view, receipt)


def _answer(
    table: ProtectedTable,
    asked: Mapping[str, Any],
    decision: policies.AggregateDecision,
    budget: Mapping[str, str],
    receipt: Any,
) -> dict[str, Any]:
    dims = table.structure.dimensions
    return {
        **asked,
        "cells": [
            {"key": dict(zip(dims, key, strict=True)), "count": v, "suppressed": v is None}
            for key, v in table.cells()
        ],
        "margins": [
            {"dimension": d, "value": value, "count": v, "suppressed": v is None}
            for d, value, v in table.margins()
        ],
        "total": {"count": table.total, "suppressed": table.total is None},
        "method": {
            "noise": "discrete_laplace",
            "noise_library": "opendp",
            "epsilon": str(decision.epsilon),
            "scale": str(1 / decision.epsilon),
            "min_cell": decision.min_cell,
            "dominance": f"one household over {DOMINANCE_SHARE} of a cell",
            "secondary": "complementary suppression until no suppressed value is determined",
            "margins": "sums of the noisy cells",
        },
        "privacy_budget": dict(budget),
        "rule_ids": list(decision.rule_ids),
        "policy_version": decision.policy_version,
        "audit": {"event_id": receipt.event_id, "leaf_index": receipt.leaf_index},
    }
