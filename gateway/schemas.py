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
