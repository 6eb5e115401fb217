"""Federation: one resident record assembled from several sources, with provenance.

A lookup asks only the sources that hold the requested fields (plus the primary civil
registry, which decides whether a NIK exists), all at once, each bounded by a timeout,
and merges their answers by NIK. Every field of the result says which source gave it.
A failed source is never silent: its fields are listed as unavailable, and when the
primary source fails the whole lookup fails, since without it no NIK can be said to
exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import cast

from connectors.aggregate import CountQuery, CountRow
from connectors.errors import SearchNotSupported, SourceUnavailable, UnknownFields
from connectors.joined import SqlCounting, count_joined
from connectors.models import FederatedResult, Match, Record, SearchQuery, SearchResult
from connectors.protocol import Connector

__all__ = ["Federation"]

log = logging.getLogger(__name__)


_PLANS_KEPT = 256  # distinct field lists whose plans are kept


class Federation:
    """Several connectors seen as one source.

    ``timeout`` bounds each source call on top of the connectors' own timeouts. When a
    field is held by several sources, the first configured one serves it.
    """

    def __init__(self, connectors: Sequence[Connector], *, timeout: float = 5.0) -> None:
        if not connectors:
            raise ValueError("a federation needs at least one connector")
        names = [c.name for c in connectors]
        if len(set(names)) != len(names):
            raise ValueError("connector names must be unique")
        self.connectors: tuple[Connector, ...] = tuple(connectors)
        primaries = [c for c in connectors if getattr(c, "primary", False)]
        if not primaries:
            primaries = [c for c in connectors if "civil_registry" in c.datasets]
        self.primary: Connector = primaries[0] if primaries else connectors[0]
        self.fields: frozenset[str] = frozenset().union(*(c.fields for c in connectors)) | {"nik"}
        self._timeout = timeout
        self._by_name = {c.name: c for c in self.connectors}
        self._plans: dict[tuple[str, ...], dict[str, list[str]]] = {}
        self._owner: dict[str, Connector] = {}
        for connector in self.connectors:
            for field in sorted(connector.fields):
                self._owner.setdefault(field, connector)

    def _plan(self, fields: Sequence[str]) -> dict[str, list[str]]:
        """Which source serves which of ``fields`` (the primary always answers).

        Plans are kept per field list: a gateway asks for a handful of lists, over and
        over. Callers must not change the lists they get.
        """
        key = tuple(fields)
        plan = self._plans.get(key)
        if plan is None:
            plan = {self.primary.name: []}
            for field in dict.fromkeys(fields):
                if field == "nik":
                    continue
                plan.setdefault(self._owner[field].name, []).append(field)
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    async def _call(
        self, connector: Connector, niks: Sequence[str], fields: list[str]
    ) -> dict[str, Record] | SourceUnavailable:
        try:
            async with asyncio.timeout(self._timeout):
                return await connector.fetch(niks, fields)
        except TimeoutError:
            return SourceUnavailable(connector.name, "timed out")
        except SourceUnavailable as exc:
            return exc

    async def fetch(self, niks: Sequence[str], fields: Sequence[str]) -> FederatedResult:
        """The requested fields of the given NIKs, merged from the sources that hold them.

        Raises :class:`UnknownFields` for fields no source holds and
        :class:`SourceUnavailable` when the primary source fails.
        """
        unknown = frozenset(fields) - self.fields
        if unknown:
            raise UnknownFields(unknown)
        unique = list(dict.fromkeys(niks))
        if not unique:
            return FederatedResult(records={})
        plan = self._plan(fields)
        names = list(plan)
        # Remote sources are asked concurrently; local ones (a fetch that answers without
        # waiting, such as a SQLite file read in place) are read while the remote ones
        # work, with no task or timer of their own: they enforce their own timeout.
        local = [n for n in names if getattr(self._by_name[n], "local", False)]
        remote = [n for n in names if n not in local]
        pending = (
            asyncio.gather(*(self._call(self._by_name[n], unique, plan[n]) for n in remote))
            if remote
            else None
        )
        results: dict[str, dict[str, Record] | SourceUnavailable] = {}
        try:
            if pending is not None and local:
                await asyncio.sleep(0)  # let the remote calls go out first
            for name in local:
                try:
                    results[name] = await self._by_name[name].fetch(unique, plan[name])
                except SourceUnavailable as exc:
                    results[name] = exc
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        if pending is not None:
            results.update(zip(remote, await pending, strict=True))
        primary_answer = results[self.primary.name]
        if isinstance(primary_answer, SourceUnavailable):
            raise primary_answer
        want_nik = "nik" in fields
        records: dict[str, Record] = {}
        provenance: dict[str, dict[str, str]] = {}
        for nik in unique:
            if nik in primary_answer:
                records[nik] = {"nik": nik} if want_nik else {}
                provenance[nik] = {"nik": self.primary.name} if want_nik else {}
        unavailable: dict[str, str] = {}
        for name in names:
            answer = results[name]
            if isinstance(answer, SourceUnavailable):
                log.warning("source unavailable", extra={"source": name, "reason": answer.reason})
                for field in plan[name]:
                    unavailable[field] = name
                continue
            for nik, record in records.items():
                values = answer.get(nik)
                if values is None:
                    continue
                for field in plan[name]:
                    if field in values:
                        record[field] = values[field]
                        provenance[nik][field] = name
        return FederatedResult(records=records, provenance=provenance, unavailable=unavailable)

    async def search(self, query: SearchQuery, *, limit: int) -> SearchResult:
        """Ranked matches from every searchable source, best score per NIK, capped by ``limit``.

        :class:`QueryNotSpecific` from any source refuses the whole search. If every
        searchable source fails, :class:`SourceUnavailable` is raised; if some fail, the
        result names them in ``unavailable``.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        searchable = [c for c in self.connectors if c.supports_search]
        if not searchable:
            raise SearchNotSupported("no source supports search")

        async def one(c: Connector) -> list[Match] | SourceUnavailable:
            try:
                async with asyncio.timeout(self._timeout):
                    found = await c.search(query, limit=limit)
            except TimeoutError:
                return SourceUnavailable(c.name, "timed out")
            except SourceUnavailable as exc:
                return exc
            return [Match(x.nik, x.score, x.source) for x in found]

        answers = await asyncio.gather(*(one(c) for c in searchable))
        failed = [a for a in answers if isinstance(a, SourceUnavailable)]
        if len(failed) == len(answers):
            raise failed[0]
        best: dict[str, Match] = {}
        for answer in answers:
            if isinstance(answer, SourceUnavailable):
                continue
            for match in answer:
                held = best.get(match.nik)
                if held is None or match.score > held.score:
                    best[match.nik] = match
        ranked = sorted(best.values(), key=lambda m: (-m.score, m.nik))[:limit]
        return SearchResult(matches=ranked, unavailable=tuple(f.source for f in failed))

    async def count(self, dataset: str, query: CountQuery) -> list[CountRow]:
        """Grouped counts, computed by the SQL source of ``dataset`` that holds every field
        the query needs; or, when another SQL source holds the fields it lacks (the
        welfare registry's decile beside the civil registry), by the two joined by NIK
        (``connectors.joined``: in the database where it can). ``UnknownFields`` names
        what no such pair holds."""
        wanted = query.fields() | {"kk_number"}
        counters = [cast(SqlCounting, c) for c in self.connectors if hasattr(c, "count_plan")]
        owners = [c for c in counters if dataset in c.datasets and "kk_number" in c.fields]
        for connector in owners:
            if wanted <= connector.fields:
                return await self._bounded(connector, connector.count(query))
        for connector in owners:
            lacking = wanted - connector.fields
            for other in counters:
                if other is not connector and lacking <= other.fields:
                    return await self._bounded(connector, count_joined(connector, other, query))
        raise UnknownFields(frozenset(wanted - self.fields) or frozenset(wanted))

    async def _bounded(
        self, connector: SqlCounting, work: Awaitable[list[CountRow]]
    ) -> list[CountRow]:
        try:
            async with asyncio.timeout(self._timeout):
                return await work
        except TimeoutError:
            raise SourceUnavailable(connector.name, "timed out") from None

    async def health(self) -> dict[str, bool]:
        """Each source's health, asked concurrently."""
        states = await asyncio.gather(*(c.health() for c in self.connectors))
        return {c.name: ok for c, ok in zip(self.connectors, states, strict=True)}

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.connectors), return_exceptions=True)
