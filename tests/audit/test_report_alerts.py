"""The resident access report (with delayed notice) and the snooping flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import audit
from tests.audit.conftest import lookup

RESIDENT = "3578084101900001"  # synthetic
OTHER = "3578084101900002"
SISTER = "3578084101900003"
MONDAY_10_WIB = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 10:00 in Surabaya (UTC+7)


def at(moment: datetime) -> str:
    return moment.isoformat()


async def test_subject_report_lists_accesses_and_hides_investigations(log: audit.AuditLog) -> None:
    t0 = MONDAY_10_WIB
    await log.append(lookup("ana", time=at(t0)), subject_niks=[RESIDENT])
    await log.append(lookup("budi", time=at(t0 + timedelta(minutes=1))), subject_niks=[OTHER])
    hidden_until = t0 + timedelta(days=30)
    await log.append(
        lookup(
            "penyidik",
            agency="inspektorat",
            time=at(t0 + timedelta(minutes=2)),
            hidden_until=at(hidden_until),
            purpose="case_management",
        ),
        subject_niks=[RESIDENT],
    )
    await log.append(
        lookup("citra", decision="deny", status=403, time=at(t0 + timedelta(minutes=3))),
        subject_niks=[RESIDENT],
    )

    resident_view = await log.subject_accesses(
        RESIDENT, include_hidden=False, now=t0 + timedelta(days=1)
    )
    assert [e["officer"] for e in resident_view] == ["ana", "citra"]
    assert resident_view[1]["decision"] == "deny"
    assert resident_view[0]["fields"] == {"full_name": "clear", "nik": "pseudonymised"}
    assert {"agency", "officer", "purpose", "fields", "time", "decision", "action"} <= set(
        resident_view[0]
    )

    auditor_view = await log.subject_accesses(
        RESIDENT, include_hidden=True, now=t0 + timedelta(days=1)
    )
    assert [e["officer"] for e in auditor_view] == ["ana", "penyidik", "citra"]

    later = await log.subject_accesses(
        RESIDENT, include_hidden=False, now=hidden_until + timedelta(seconds=1)
    )
    assert [e["officer"] for e in later] == ["ana", "penyidik", "citra"]
    assert await log.subject_accesses("3578084101909999", include_hidden=True, now=t0) == []


async def test_search_filters_and_pages(log: audit.AuditLog) -> None:
    t0 = MONDAY_10_WIB
    for i in range(12):
        await log.append(
            lookup(
                f"o{i % 3}",
                time=at(t0 + timedelta(minutes=i)),
                decision="deny" if i % 4 == 0 else "allow",
            ),
            subject_niks=[RESIDENT if i % 2 else OTHER],
        )
    await log.append(lookup("o0", agency="bappeda", action="resident.search"))

    everything: list[int] = []
    cursor = None
    while True:
        page = await log.search(audit.EventQuery(agency="dinsos", cursor=cursor, limit=5))
        everything += [e["leaf_index"] for e in page.events]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert everything == list(range(11, -1, -1))

    page = await log.search(audit.EventQuery(subject_nik=RESIDENT, officer="o1"))
    assert [e["leaf_index"] for e in page.events] == [7, 1]
    page = await log.search(audit.EventQuery(decision="deny"))
    assert [e["leaf_index"] for e in page.events] == [8, 4, 0]
    page = await log.search(
        audit.EventQuery(time_from=t0 + timedelta(minutes=3), time_to=t0 + timedelta(minutes=5))
    )
    assert [e["leaf_index"] for e in page.events] == [4, 3]
    page = await log.search(audit.EventQuery(action="resident.search"))
    assert [e["agency"] for e in page.events] == ["bappeda"]


async def test_volume_flag_against_peers(log: audit.AuditLog) -> None:
    t0 = MONDAY_10_WIB
    for officer, count in (("ana", 3), ("budi", 4), ("citra", 3), ("dedi", 30)):
        for i in range(count):
            await log.append(
                lookup(officer, time=at(t0 + timedelta(seconds=i))), subject_niks=[OTHER]
            )
    alerts = await log.alerts(now=t0 + timedelta(hours=1))
    volume = [a for a in alerts if a.kind == "volume"]
    assert [(a.officer, a.count) for a in volume] == [("dedi", 30)]
    assert not [a for a in alerts if a.kind == "off_hours"]
    assert volume[0].to_dict()["leaf_indexes"] == list(range(10, 40))


async def test_off_hours_flag(log: audit.AuditLog) -> None:
    night = MONDAY_10_WIB + timedelta(hours=13)  # 23:00 WIB
    saturday = MONDAY_10_WIB + timedelta(days=5)
    await log.append(lookup("ana", time=at(MONDAY_10_WIB)), subject_niks=[OTHER])
    await log.append(lookup("budi", time=at(night)), subject_niks=[OTHER])
    await log.append(lookup("citra", time=at(saturday)), subject_niks=[OTHER])
    await log.append(lookup("dedi", action="policy.approve", time=at(night)))  # not a lookup
    alerts = await log.alerts(now=saturday + timedelta(hours=1))
    assert sorted(a.officer for a in alerts if a.kind == "off_hours") == ["budi", "citra"]


async def test_flagged_subject_and_family_card_flags(log: audit.AuditLog) -> None:
    t0 = MONDAY_10_WIB
    # No event of the agency yet: the flag names it.
    await log.flag_subject(RESIDENT, "protected witness", agencies=["dinsos"])
    await log.register_officer_family("dinsos", "ana", [SISTER, "3578084101900004"])
    await log.append(lookup("ana", time=at(t0)), subject_niks=[SISTER])
    await log.append(lookup("budi", time=at(t0)), subject_niks=[SISTER])  # not budi's family
    for i in range(2):
        await log.append(
            lookup("citra", time=at(t0 + timedelta(minutes=i))), subject_niks=[RESIDENT]
        )
    await log.append(lookup("dedi", time=at(t0)), subject_niks=[RESIDENT])  # once: no flag
    alerts = await log.alerts(now=t0 + timedelta(hours=1))
    assert [(a.kind, a.officer, a.count) for a in alerts] == [
        ("flagged_subject", "citra", 2),
        ("family_card", "ana", 1),
    ]
    assert "protected witness" in alerts[0].detail
    assert RESIDENT not in repr(alerts) and SISTER not in repr(alerts)
    # outside the window nothing is flagged
    assert await log.alerts(now=t0 + timedelta(days=30)) == []
