"""The one small interface every source of truth implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from connectors.models import Candidate, Record, SearchQuery

__all__ = ["Connector"]


@runtime_checkable
class Connector(Protocol):
    """A source of truth: fetch residents' fields by NIK, optionally search by name.

    * ``fields``: the contract fields it holds; ``datasets``: the datasets they belong to.
    * ``region_system``: ``"kemendagri"`` or ``"bps"``; records leave a connector in
      Kemendagri codes whatever the source's own system.
    * ``primary``: the civil registry, whose answer decides which NIKs exist.
    * ``supports_search``: whether :meth:`search` is offered.
    * ``local`` (optional, default false): :meth:`fetch` answers without waiting on
      anything (a local file read in place) and enforces its own timeout, so a federation
      calls it directly instead of in a task under a timer.
    """

    name: str
    datasets: frozenset[str]
    fields: frozenset[str]
    region_system: str
    primary: bool
    supports_search: bool

    async def fetch(self, niks: Sequence[str], fields: Sequence[str]) -> dict[str, Record]:
        """NIK -> {field: value} for the NIKs the source holds, in ONE query per call."""
        ...

    async def search(self, query: SearchQuery, *, limit: int) -> list[Candidate]:
        """Candidates for a name-and-address query, best first (searchable sources only)."""
        ...

    async def health(self) -> bool:
        """Whether the source can answer now."""
        ...

    async def aclose(self) -> None:
        """Release pools and clients."""
        ...
