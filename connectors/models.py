"""Values exchanged with connectors: search queries, candidates, federated results."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Candidate", "FederatedResult", "Match", "Record", "SearchQuery", "SearchResult"]

#: One resident's fields, keyed by contract field names.
Record = dict[str, object]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A search by name and address.

    ``kelurahan_code``/``kecamatan_code`` are Kemendagri dotted codes; ``rt``/``rw`` are
    three-digit strings ("001"); ``birth_date`` is ISO ``YYYY-MM-DD``.
    """

    name: str
    kelurahan_code: str | None = None
    kecamatan_code: str | None = None
    rt: str | None = None
    rw: str | None = None
    street: str | None = None
    birth_date: str | None = None

    def __repr__(self) -> str:
        # Never print the name or the birth date (personal data) in logs or tracebacks.
        return (
            f"SearchQuery(name=***, kelurahan_code={self.kelurahan_code!r}, "
            f"kecamatan_code={self.kecamatan_code!r}, rt={self.rt!r}, rw={self.rw!r})"
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A resident one source proposes for a search, with its score in 0..1."""

    nik: str
    score: float
    source: str

    def __repr__(self) -> str:
        return f"Candidate(nik=***, score={self.score:.3f}, source={self.source!r})"


@dataclass(frozen=True, slots=True)
class Match:
    """A ranked search result of the federation."""

    nik: str
    score: float
    source: str

    def __repr__(self) -> str:
        return f"Match(nik=***, score={self.score:.3f}, source={self.source!r})"


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Matches best first, capped by the caller's limit.

    ``unavailable`` names searchable sources that failed: the result may be incomplete.
    """

    matches: list[Match]
    unavailable: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FederatedResult:
    """Records assembled from several sources.

    * ``records``: NIK -> fields, only for NIKs the primary (civil registry) source knows;
      a NIK absent here is unknown. A requested field absent from a record means the
      source holding it has no row for that resident.
    * ``provenance``: NIK -> field -> name of the source that gave the value.
    * ``unavailable``: field -> name of the source that failed; a failed source is never
      silent.
    """

    records: dict[str, Record]
    provenance: dict[str, dict[str, str]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
