"""The sources file (``SATUGATE_SOURCES_FILE``): which connector serves which datasets.

Format (YAML)::

    sources:
      - name: dukcapil                 # source name, shown in provenance
        kind: sql                      # sql | http
        url: sqlite:///civil.db        # any SQLAlchemy URL; relative SQLite paths are
                                       # resolved against this file's folder.
        # url_env: DUKCAPIL_URL        # or: read the URL from an environment variable
        # url_file: /run/secrets/url   # or: from a file (a mounted secret)
        datasets: [civil_registry]
        table: residents
        schema: null                   # optional database schema
        key: nik                       # key column
        primary: true                  # the civil registry: decides which NIKs exist
        region_system: kemendagri      # kemendagri | bps
        fields: [...]                  # optional; default: all fields of the datasets
        columns: {full_name: nama}     # optional field -> column where they differ
        timeout_seconds: 2.0
        pool_size: 5
        search:                        # optional: search by name and address
          enabled: true
          name_key_column: name_key    # precomputed normalised name (else full_name
                                       # is normalised on the fly, slower)
          token_table: name_tokens     # optional token index (token, kelurahan_code, nik)
      - name: dtks_api
        kind: http
        base_url: https://dtks.example.go.id/api
        datasets: [welfare]
        region_system: kemendagri
        auth: {kind: bearer, token_env: DTKS_TOKEN}      # or token_file
        # auth: {kind: mtls, cert_file: ..., key_file: ..., ca_file: ...}
        connect_timeout_seconds: 1.0
        read_timeout_seconds: 3.0
        retries: 2
        backoff_seconds: 0.1
        breaker: {failure_threshold: 5, reset_seconds: 30}
        max_batch: 500

Secrets (database passwords, tokens) belong in ``url_env``/``url_file``/``token_env``/
``token_file``, never in the file itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.datasets import DATASET_FIELDS
from connectors.errors import SourceConfigError

__all__ = [
    "BreakerConfig",
    "HttpAuth",
    "HttpSourceConfig",
    "SearchConfig",
    "SourceConfig",
    "SourcesFile",
    "SqlSourceConfig",
    "read_sources_file",
]

RegionSystem = Literal["kemendagri", "bps"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchConfig(_Model):
    enabled: bool = False
    name_key_column: str | None = None
    name_column: str = "full_name"
    #: Optional token index (columns ``token``, ``kelurahan_code``, ``nik``: one row per
    #: distinctive normalised name token). Without it every search scans its whole block.
    token_table: str | None = None
    #: Minimum score of a returned candidate; default: the calibrated ``THRESHOLD``.
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class _SourceBase(_Model):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9_.-]+$")
    datasets: tuple[str, ...] = Field(min_length=1)
    fields: tuple[str, ...] | None = None
    region_system: RegionSystem = "kemendagri"
    primary: bool = False
    timeout_seconds: float = Field(default=3.0, gt=0)

    @model_validator(mode="after")
    def _known_datasets(self) -> _SourceBase:
        unknown = set(self.datasets) - DATASET_FIELDS.keys()
        if unknown:
            raise ValueError(f"unknown datasets: {sorted(unknown)}")
        if self.fields is not None:
            allowed = {f for d in self.datasets for f in DATASET_FIELDS[d]}
            stray = set(self.fields) - allowed
            if stray:
                raise ValueError(f"fields outside the source's datasets: {sorted(stray)}")
        return self

    def held_fields(self) -> frozenset[str]:
        """The contract fields this source holds."""
        if self.fields is not None:
            return frozenset(self.fields)
        return frozenset(f for d in self.datasets for f in DATASET_FIELDS[d])


class SqlSourceConfig(_SourceBase):
    kind: Literal["sql"]
    url: str | None = None
    url_env: str | None = None
    url_file: Path | None = None
    table: str
    schema_: str | None = Field(default=None, alias="schema")
    key: str = "nik"
    columns: dict[str, str] = Field(default_factory=dict)
    pool_size: int = Field(default=5, ge=1, le=100)
    search: SearchConfig = SearchConfig()

    @model_validator(mode="after")
    def _one_url(self) -> SqlSourceConfig:
        given = [x for x in (self.url, self.url_env, self.url_file) if x]
        if len(given) != 1:
            raise ValueError("give exactly one of url, url_env, url_file")
        return self

    def resolved_url(self) -> str:
        if self.url:
            return self.url
        if self.url_env:
            value = os.environ.get(self.url_env)
            if not value:
                raise SourceConfigError(f"source {self.name}: {self.url_env} is not set")
            return value
        assert self.url_file is not None
        return self.url_file.read_text(encoding="utf-8").strip()

    def column(self, field: str) -> str:
        return self.columns.get(field, field)


class HttpAuth(_Model):
    kind: Literal["none", "bearer", "mtls"] = "none"
    token_env: str | None = None
    token_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> HttpAuth:
        if self.kind == "bearer" and not (self.token_env or self.token_file):
            raise ValueError("bearer auth needs token_env or token_file")
        if self.kind == "mtls" and not (self.cert_file and self.key_file):
            raise ValueError("mtls auth needs cert_file and key_file")
        return self


class BreakerConfig(_Model):
    failure_threshold: int = Field(default=5, ge=1)
    reset_seconds: float = Field(default=30.0, gt=0)


class HttpSourceConfig(_SourceBase):
    kind: Literal["http"]
    base_url: str
    auth: HttpAuth = HttpAuth()
    ca_file: Path | None = None
    connect_timeout_seconds: float = Field(default=1.0, gt=0)
    read_timeout_seconds: float = Field(default=3.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    backoff_seconds: float = Field(default=0.1, ge=0)
    breaker: BreakerConfig = BreakerConfig()
    max_batch: int = Field(default=500, ge=1, le=5000)


SourceConfig = Annotated[SqlSourceConfig | HttpSourceConfig, Field(discriminator="kind")]


class SourcesFile(_Model):
    sources: tuple[SourceConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SourcesFile:
        names = [s.name for s in self.sources]
        if len(names) != len(set(names)):
            raise ValueError("source names must be unique")
        if sum(s.primary for s in self.sources) > 1:
            raise ValueError("at most one source can be primary")
        return self


def _resolve_paths(raw: dict[str, object], base: Path) -> dict[str, object]:
    """Make SQLite file paths and secret files relative to the sources file absolute."""
    url = raw.get("url")
    if isinstance(url, str) and url.startswith("sqlite") and ":///" in url:
        head, _, path = url.partition(":///")
        if path and not path.startswith("/") and not path.startswith(":memory:"):
            raw["url"] = f"{head}:///{(base / path).resolve()}"
    for key in ("url_file",):
        value = raw.get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            raw[key] = str((base / value).resolve())
    auth = raw.get("auth")
    if isinstance(auth, dict):
        for key in ("token_file", "cert_file", "key_file", "ca_file"):
            value = auth.get(key)
            if isinstance(value, str) and not Path(value).is_absolute():
                auth[key] = str((base / value).resolve())
    return raw


def read_sources_file(path: Path) -> SourcesFile:
    """Parse and validate a sources file; raises :class:`SourceConfigError`."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SourceConfigError(f"cannot read sources file: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise SourceConfigError("sources file must hold a 'sources' list")
    base = path.resolve().parent
    data["sources"] = [
        _resolve_paths(dict(s), base) if isinstance(s, dict) else s for s in data["sources"]
    ]
    try:
        return SourcesFile.model_validate(data)
    except ValidationError as exc:
        raise SourceConfigError(f"invalid sources file: {exc}") from exc
