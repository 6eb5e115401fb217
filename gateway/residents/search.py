"""Searching residents by name and address: ``POST /v1/residents/search``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import connectors
import policies
from gateway.auditing.recorder import Call
from gateway.limits.search_budget import Budget
from gateway.platform.errors import GatewayError, QueryNotSpecific, SourceUnavailable
from gateway.residents import steps


class SearchBudgetExhausted(GatewayError):
    status = 429
    code = "search_budget_exhausted"
    title = "The search budget of distinct residents is spent for now"


async def search_residents(
    call: Call, query: connectors.SearchQuery, limit: int | None
) -> dict[str, Any]:
    await steps.validated(call)
    policy, decision = await steps.decide(call, None)
    await steps.limited(call, decision)
    cap = min(limit or decision.cap or 10, decision.cap or 10, 50)
    try:
        found = await call.services.federation.search(query, limit=cap)
    except connectors.QueryNotSpecific as exc:
        raise await call.refuse(
            QueryNotSpecific(str(exc) or "add address elements or a fuller name"),
        ) from None
    except connectors.SourceUnavailable:
        raise await call.refuse(SourceUnavailable("the search source did not answer")) from None
    niks = [m.nik for m in found.matches]
    result = (
        await steps.fetch(call, decision, niks) if niks else connectors.FederatedResult({}, {}, {})
    )
    try:
        steps.check_unavailable(None, decision, result.unavailable)
    except SourceUnavailable as exc:
        raise await call.refuse(exc) from None
    matches: list[dict[str, Any]] = []
    released_niks: list[str] = []
    specific = False
    fields_released: dict[str, str] = {}
    # Matches the agency may not see are left out of its answer as if absent; the event
    # counts them, sealed.
    truth = {"outside_jurisdiction": 0, "specific_data_denied": 0}
    for match in found.matches:
        record = result.records.get(match.nik)
        if record is None:
            continue
        try:
            treated = await steps.treat(
                call, policy, decision, match.nik, record, result.provenance.get(match.nik, {})
            )
        except policies.RowFiltered:
            truth["outside_jurisdiction"] += 1
            continue
        except policies.SpecificDataDenied:
            truth["specific_data_denied"] += 1
            continue
        matches.append(
            {
                "score": round(match.score, 4),
                "subject": treated.subject,
                "record": treated.record,
                "treatments": treated.treatments,
            }
        )
        released_niks.append(match.nik)
        specific = specific or treated.specific_data
        fields_released.update(treated.treatments)
    region = _search_region(query)
    await _spend_search_budget(call, decision, released_niks, region)
    receipt = await call.record(
        decision="allow",
        status=200,
        fields=fields_released,
        result_count=len(matches),
        subject_niks=released_niks,
        specific_data=specific,
        sealed=call.seal(truth),
        detail={"region": region},
    )
    return {
        "matches": matches,
        "audit": receipt.to_dict(),
    }


def _search_region(query: connectors.SearchQuery) -> str:
    """The kecamatan a search looks in (``*`` when it names none)."""
    if query.kecamatan_code:
        return query.kecamatan_code
    if query.kelurahan_code:
        return query.kelurahan_code.rsplit(".", 1)[0]
    return "*"


async def _spend_search_budget(
    call: Call, decision: policies.Decision, niks: Sequence[str], region: str
) -> None:
    """Count the residents a search is about to return against the client's and the
    officer's budgets in ``region`` (``gateway.limits.search_budget``); refuse the whole answer
    when one would run out."""
    budget = call.services.search_budget
    if budget is None or not niks:
        return
    settings = call.services.settings
    principal = call.principal
    over = await budget.spend(
        [
            Budget(
                "client", f"client:{principal.client_id}:{region}", settings.search_budget_client
            ),
            Budget(
                "officer",
                f"officer:{principal.agency}:{call.officer}:{region}",
                settings.search_budget_officer,
            ),
        ],
        niks,
    )
    if over is not None:
        raise await call.refuse(
            SearchBudgetExhausted(
                f"the {over}'s budget of distinct residents found in this area is spent;"
                " narrow the search or wait for the next window",
                extra={"budget": over},
            ),
            detail={"region": region},
        )
