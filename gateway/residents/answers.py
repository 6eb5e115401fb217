"""The shapes of the resident API's answers that the routes render from plain dicts.

These models only document: the routes keep returning the service's dicts (no second
validation on the way out), and ``gateway.platform.openapi`` puts these schemas in the
document so that a generated client gets typed answers instead of free-form objects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.residents.schemas import Receipt


class CatalogPurpose(BaseModel):
    code: str
    name: str
    actions: list[str]
    legal_basis_required: list[str] = Field(
        description="Templates of the legal bases (X-Legal-Basis) the grants require"
    )
    reidentify: bool
    cap: int | None = Field(description="Residents per call at most; null: no cap")


class CatalogField(BaseModel):
    name: str
    sensitivity: str
    treatments: dict[str, str] = Field(description="purpose code -> treatment of this field")


class CatalogDataset(BaseModel):
    id: str
    fields: list[CatalogField]


class Catalog(BaseModel):
    agency: str
    policy_version: str
    purposes: list[CatalogPurpose]
    datasets: list[CatalogDataset]


class SearchMatch(BaseModel):
    score: float = Field(ge=0, le=1)
    subject: str
    record: dict[str, Any]
    treatments: dict[str, str]


class SearchResponse(BaseModel):
    matches: list[SearchMatch]
    audit: Receipt


class BatchResult(BaseModel):
    index: int = Field(ge=0, description="The NIK's position in the request")
    status: Literal["ok", "invalid", "not_found", "denied"]
    code: str | None = Field(
        default=None,
        description="Not ok: invalid_nik, resident_not_found, cap_exceeded, specific_data_denied",
    )
    subject: str | None = None
    record: dict[str, Any] | None = None
    treatments: dict[str, str] | None = None
    sources: dict[str, str] | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult]
    audit: Receipt
    cap: int | None = Field(default=None, description="The policy's cap, when NIKs went over it")
    unavailable: list[str] | None = None


ANSWERS: dict[tuple[str, str], type[BaseModel]] = {
    ("get", "/v1/catalog"): Catalog,
    ("post", "/v1/residents/search"): SearchResponse,
    ("post", "/v1/residents/batch"): BatchResponse,
}
"""The 200 answer's schema of each operation that renders a plain dict."""
