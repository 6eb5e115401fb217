"""Request and response bodies of the public API (pydantic), validated at the edge."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Address(Strict):
    kelurahan_code: str | None = Field(default=None, pattern=r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")
    kecamatan_code: str | None = Field(default=None, pattern=r"^\d{2}\.\d{2}\.\d{2}$")
    rt: str | None = Field(default=None, pattern=r"^\d{1,3}$")
    rw: str | None = Field(default=None, pattern=r"^\d{1,3}$")
    street: str | None = Field(default=None, min_length=1, max_length=200)


class SearchRequest(Strict):
    name: str = Field(min_length=1, max_length=120)
    address: Address
    birth_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    limit: int | None = Field(default=None, ge=1, le=50)


class BatchRequest(Strict):
    niks: list[str] = Field(min_length=1, max_length=1000)
    fields: list[str] | None = Field(default=None, max_length=100)


class ResolveRequest(Strict):
    pseudonym: str = Field(min_length=1, max_length=512)


class Receipt(BaseModel):
    event_id: str
    leaf_index: int


class ResidentResponse(BaseModel):
    subject: str
    record: dict[str, Any]
    treatments: dict[str, str]
    sources: dict[str, str]
    unavailable: list[str] | None = None
    warnings: list[str] | None = None
    audit: Receipt


class Problem(BaseModel):
    """An RFC 9457 problem. A refusal that was audited carries its receipt (``audit``),
    so that the caller can prove it was refused."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    audit: Receipt | None = None
    limit: str | None = Field(
        default=None,
        description="429 rate_limited: which limit (client, officer, batch_concurrency)",
    )
    budget: str | None = Field(
        default=None, description="429 search_budget_exhausted: which budget (client, officer)"
    )


def problems(**described: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route, ``s404="..."`` and so on: problem+json bodies."""
    return {
        int(status.removeprefix("s")): {
            "model": Problem,
            "description": text,
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for status, text in described.items()
    }
