"""Statistics endpoint: thin, one call into ``gateway.statistics``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from gateway.auditing.recorder import Call
from gateway.residents.routes import CALL_HEADERS, CALLERS
from gateway.residents.schemas import problems
from gateway.statistics import service as statistics

router = APIRouter(prefix="/v1", tags=["statistics"])

_NAME = r"^[a-z][a-z0-9_]{0,63}$"
_VALUE = r"^[A-Za-z0-9.+\- ]{1,32}$"


class StatisticsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(pattern=_NAME, examples=["civil_registry"])
    unit: Literal["residents", "households"] = "residents"
    group_by: list[Annotated[str, Field(pattern=_NAME)]] = Field(
        min_length=1, max_length=4, examples=[["kecamatan_code", "sex", "age_band"]]
    )
    filters: dict[
        Annotated[str, Field(pattern=_NAME)],
        Annotated[list[Annotated[str, Field(pattern=_VALUE)]], Field(min_length=1, max_length=200)],
    ] = Field(default_factory=dict, max_length=6, examples=[{"kecamatan_code": ["35.78.08"]}])


@router.post(
    "/statistics",
    summary="Counts by region and category, with disclosure control",
    description="Counts of residents or households grouped by the dimensions the policy's"
    " aggregate grant allows, in the agency's jurisdiction. Every cell carries discrete"
    " Laplace noise (epsilon from the grant, spent from the agency's monthly privacy"
    " budget); cells, margins and the total under min_cell, and cells dominated by one"
    " household, are suppressed (count null, suppressed true), and enough others besides"
    " that no suppressed value can be recomputed. No subject is returned or recorded.",
    openapi_extra=CALL_HEADERS,
    responses=problems(
        s403="Denied: purpose_not_permitted, dimension_not_permitted,"
        " filter_outside_jurisdiction, insufficient_scope, officer_not_registered",
        s422="Malformed input: invalid_request, invalid_purpose, invalid_officer,"
        " dimension_not_available (no source, nor two joined by NIK, holds the dimensions)",
        s429="privacy_budget_exhausted (the agency's budget for the month)",
    ),
)
async def query_statistics(
    body: StatisticsRequest,
    call: Annotated[Call, Depends(CALLERS["/v1/statistics"])],
) -> dict[str, Any]:
    return await statistics.query(
        call,
        dataset=body.dataset,
        unit=body.unit,
        group_by=tuple(dict.fromkeys(body.group_by)),
        filters={k: tuple(v) for k, v in body.filters.items()},
    )
