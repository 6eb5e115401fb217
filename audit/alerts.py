"""Snooping flags: patterns in officers' lookups that an auditor should look at.

Four rules, each per officer (within an agency) over a time window, and ``volume`` per
client too (``client_volume``, against the other clients), and ``search_enumeration``:
many searches of one officer in one area that keep finding residents not found before.

* ``volume``: far more lookups than the officer's peers in the same agency (more than
  ``volume_factor`` times their median, and at least ``volume_min``);
* ``off_hours``: lookups outside office hours (local time, working days);
* ``flagged_subject``: repeated lookups of a resident flagged as sensitive (a public
  figure, a protected witness, a fellow officer);
* ``family_card``: lookups of residents on the officer's own family card, when the
  officer's family has been registered.

Denied attempts count as much as allowed ones: trying is the signal. The flags are
prompts for review, not verdicts; each carries the leaf indexes it is based on.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from audit.events import LOOKUP_ACTIONS, format_time, parse_time
from audit.models import Alert
from audit.schema import event_subjects, events, flagged_subjects, officer_family

MAX_EVIDENCE = 50


@dataclass(frozen=True, slots=True)
class AlertRules:
    """Thresholds of the snooping flags. Office hours default to WIB (UTC+7)."""

    utc_offset_hours: float = 7.0
    office_start: time = time(7, 0)
    office_end: time = time(17, 0)
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    volume_factor: float = 3.0
    volume_min: int = 20
    min_peers: int = 2
    flagged_repeat: int = 2
    # Searches (and distinct residents found) in one area before enumeration is flagged,
    # and the share of residents found that were new.
    enumeration_min: int = 20
    enumeration_fresh: float = 0.8

    def off_hours(self, moment: datetime) -> bool:
        local = moment.astimezone(timezone(timedelta(hours=self.utc_offset_hours)))
        if local.weekday() not in self.workdays:
            return True
        return not self.office_start <= local.time() < self.office_end


@dataclass(slots=True)
class _Group:
    indexes: list[int]
    times: list[str]
    residents: int = 0  # a batch of N residents counts N

    def add(self, leaf_index: int, at: str, residents: int) -> None:
        self.indexes.append(leaf_index)
        self.times.append(at)
        self.residents += residents

    def alert(self, kind: str, agency: str, officer: str, detail: str, **facts: object) -> Alert:
        return Alert(
            kind=kind,
            agency=agency,
            officer=officer,
            count=self.residents or len(self.indexes),
            first_time=min(self.times),
            last_time=max(self.times),
            detail=detail,
            leaf_indexes=tuple(sorted(self.indexes)[:MAX_EVIDENCE]),
            facts=facts,
        )


def _group() -> _Group:
    return _Group([], [])


def _window(now: datetime, window: timedelta) -> tuple[Any, ...]:
    return (
        events.c.time >= format_time(now - window),
        events.c.time < format_time(now),
        events.c.action.in_(sorted(LOOKUP_ACTIONS)),
        events.c.officer.is_not(None),
        events.c.agency.is_not(None),
    )


async def evaluate(
    conn: AsyncConnection, *, now: datetime, window: timedelta, rules: AlertRules | None
) -> list[Alert]:
    """All flags raised by the lookups in ``[now - window, now)``."""
    rules = rules or AlertRules()
    where = _window(now, window)
    out: list[Alert] = []

    per_officer: dict[tuple[str, str], _Group] = defaultdict(_group)
    off_hours: dict[tuple[str, str], _Group] = defaultdict(_group)
    per_client: dict[tuple[str, str], _Group] = defaultdict(_group)
    searches: dict[tuple[str, str, str], _Group] = defaultdict(_group)
    found: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    stmt = select(
        events.c.leaf_index,
        events.c.agency,
        events.c.officer,
        events.c.time,
        events.c.leaf,
        events.c.client_id,
    )
    for leaf_index, agency, officer, at, leaf, client in await conn.execute(stmt.where(*where)):
        key = (agency, officer)
        # Volume counts residents, not calls: every resident a call asked about.
        stored = json.loads(bytes(leaf))
        subjects = stored.get("subjects") or ()
        residents = max(1, len(subjects))
        per_officer[key].add(int(leaf_index), at, residents)
        per_client[agency, str(client)].add(int(leaf_index), at, residents)
        if stored.get("action") == "resident.search":
            detail = stored.get("detail") if isinstance(stored.get("detail"), dict) else {}
            area = (agency, officer, str(detail.get("region") or "*"))
            searches[area].add(int(leaf_index), at, len(subjects))
            found[area].update(subjects)
        if rules.off_hours(parse_time(at)):
            off_hours[key].add(int(leaf_index), at, residents)

    by_agency: dict[str, dict[str, int]] = defaultdict(dict)
    for (agency, officer), group in per_officer.items():
        by_agency[agency][officer] = group.residents
    for (agency, officer), group in sorted(per_officer.items()):
        peers = [n for o, n in by_agency[agency].items() if o != officer]
        count = group.residents
        if len(peers) < rules.min_peers or count < rules.volume_min:
            continue
        baseline = statistics.median(peers)
        if count > rules.volume_factor * baseline:
            detail = f"{count} residents looked up against a peer median of {baseline:g}"
            out.append(group.alert("volume", agency, officer, detail, median=baseline))

    # Enumeration: many searches of one officer in one area, returning mostly residents
    # not seen before (few repeats): a neighbourhood walked through, name by name.
    for (agency, officer, region), group in sorted(searches.items()):
        distinct = len(found[agency, officer, region])
        if len(group.indexes) < rules.enumeration_min or distinct < rules.enumeration_min:
            continue
        if distinct >= rules.enumeration_fresh * group.residents:
            detail = (
                f"{len(group.indexes)} searches in {region} returned {distinct} distinct residents"
            )
            out.append(
                group.alert(
                    "search_enumeration", agency, officer, detail,
                    searches=len(group.indexes), region=region, distinct=distinct,
                )
            )  # fmt: skip

    # The same per client, against the other clients: officers invented one per call
    # each stay below their peers, their client does not.
    for (agency, client), group in sorted(per_client.items()):
        peers = [g.residents for k, g in per_client.items() if k != (agency, client)]
        if len(peers) < rules.min_peers or group.residents < rules.volume_min:
            continue
        baseline = statistics.median(peers)
        if group.residents > rules.volume_factor * baseline:
            detail = (
                f"{group.residents} residents looked up by one client against a peer"
                f" median of {baseline:g}"
            )
            out.append(
                group.alert("client_volume", agency, f"client:{client}", detail, median=baseline)
            )

    for (agency, officer), group in sorted(off_hours.items()):
        out.append(group.alert("off_hours", agency, officer, "lookups outside office hours"))

    flagged: dict[tuple[str, str, str], _Group] = defaultdict(_group)
    reasons: dict[str, str] = {}
    subject: str
    reason: str
    stmt = (
        select(
            events.c.leaf_index,
            events.c.agency,
            events.c.officer,
            events.c.time,
            flagged_subjects.c.subject,
            flagged_subjects.c.reason,
        )
        .join(event_subjects, event_subjects.c.leaf_index == events.c.leaf_index)
        .join(flagged_subjects, flagged_subjects.c.subject == event_subjects.c.subject)
        .where(*where)
    )
    for leaf_index, agency, officer, at, subject, reason in await conn.execute(stmt):
        group = flagged[agency, officer, subject]
        group.indexes.append(int(leaf_index))
        group.times.append(at)
        reasons[subject] = reason
    for (agency, officer, subject), group in sorted(flagged.items()):
        if len(group.indexes) >= rules.flagged_repeat:
            detail = f"repeated lookups of a flagged resident ({reasons[subject]})"
            out.append(
                group.alert("flagged_subject", agency, officer, detail, reason=reasons[subject])
            )

    family: dict[tuple[str, str], _Group] = defaultdict(_group)
    stmt = (
        select(events.c.leaf_index, events.c.agency, events.c.officer, events.c.time)
        .join(event_subjects, event_subjects.c.leaf_index == events.c.leaf_index)
        .join(
            officer_family,
            (officer_family.c.subject == event_subjects.c.subject)
            & (officer_family.c.agency == events.c.agency)
            & (officer_family.c.officer == events.c.officer),
        )
        .where(*where)
        .distinct()
    )
    for leaf_index, agency, officer, at in await conn.execute(stmt):
        family[agency, officer].indexes.append(int(leaf_index))
        family[agency, officer].times.append(at)
    for (agency, officer), group in sorted(family.items()):
        detail = "lookups of residents on the officer's own family card"
        out.append(group.alert("family_card", agency, officer, detail))
    return out
