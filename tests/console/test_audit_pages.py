"""The auditor's pages: search with filters and paging, the resident report, alerts."""

from __future__ import annotations

import re

import pytest

from tests.console.conftest import AUDITOR, BOTH_STORES, Console
from tests.console.events import lookup

ROW_RE = re.compile(r'<tr class="d-(allow|deny|error)">')


def rows(html: str) -> int:
    return len(ROW_RE.findall(html))


@BOTH_STORES
async def test_search_filters_and_pages(console_app: Console) -> None:
    services = console_app.services
    nik_a, nik_b = console_app.demo["sample_niks"][:2]
    for i in range(30):
        await lookup(services, nik_a, agency="dinsos", officer=f"petugas.{i % 3}")
    for _ in range(25):
        await lookup(services, nik_b, agency="dinkes", purpose="health_insurance", decision="deny")
    auditor = await console_app.signed_in(AUDITOR)

    latest = await auditor.get("/console/audit")
    assert latest.status_code == 200
    assert rows(latest.text) == 50 and 'id="next-page"' in latest.text

    by_agency = await auditor.post("/console/audit", {"agency": "dinkes"})
    assert rows(by_agency.text) == 25 and "dinsos</td>" not in by_agency.text
    denied = await auditor.post(
        "/console/audit", {"decision": "deny", "purpose": "health_insurance"}
    )
    assert rows(denied.text) == 25
    officer = await auditor.post("/console/audit", {"officer": "petugas.1"})
    assert rows(officer.text) == 10

    by_nik = await auditor.post("/console/audit", {"nik": nik_a})
    assert rows(by_nik.text) == 30
    assert nik_a in by_nik.text, "the auditor's own filter stays in the form"

    first = await auditor.post("/console/audit", {"action": "resident.read"})
    assert rows(first.text) == 50
    cursor = re.search(r'name="cursor" value="(\d+)"', first.text).group(1)  # type: ignore[union-attr]
    second = await auditor.post("/console/audit", {"action": "resident.read", "cursor": cursor})
    assert rows(second.text) == 5 and 'id="next-page"' not in second.text

    dated = await auditor.post(
        "/console/audit", {"date_from": "2001-01-01", "date_to": "2001-12-31"}
    )
    assert rows(dated.text) == 0 and "Tidak ada peristiwa" in dated.text


async def test_every_search_is_recorded_with_the_subject_blinded(console_app: Console) -> None:
    nik = console_app.demo["sample_niks"][0]
    auditor = await console_app.signed_in(AUDITOR)
    await auditor.post("/console/audit", {"nik": nik, "agency": "dinsos"})
    reads = await console_app.events(action="audit.read")
    assert len(reads) == 1
    read = reads[0]
    assert read["officer"] == AUDITOR[0] and read["agency"] == "inspektorat"
    assert read["detail"]["filters"] == ["agency", "nik"]
    assert nik not in str(read)
    assert read["subjects"] == [console_app.services.audit.blind_index(nik, "inspektorat")]


async def test_a_malformed_nik_is_refused_without_echo(console_app: Console) -> None:
    auditor = await console_app.signed_in(AUDITOR)
    bad = "3578999999999999"
    for path in ("/console/audit", "/console/residents"):
        response = await auditor.post(path, {"nik": bad})
        assert response.status_code == 422
        assert "NIK tidak valid" in response.text and bad not in response.text


@BOTH_STORES
async def test_resident_access_report(console_app: Console) -> None:
    services = console_app.services
    nik, other = console_app.demo["sample_niks"][:2]
    await lookup(
        services, nik, agency="dinsos", officer="petugas.07", fields={"full_name": "clear"}
    )
    await lookup(services, nik, agency="dinkes", purpose="health_insurance", decision="deny")
    await lookup(services, other, agency="bappeda", purpose="statistics")
    auditor = await console_app.signed_in(AUDITOR)

    report = await auditor.post("/console/residents", {"nik": nik})
    assert report.status_code == 200
    assert nik not in report.text and nik[:6] + "*" * 10 in report.text
    assert rows(report.text) == 2
    assert "petugas.07" in report.text and "full_name" in report.text
    assert "bappeda" not in report.text

    reports = await console_app.events(action="subject.report")
    assert len(reports) == 1 and reports[0]["officer"] == AUDITOR[0]
    assert reports[0]["subjects"] == [services.audit.blind_index(nik, "inspektorat")]

    again = await auditor.post("/console/residents", {"nik": nik})
    assert rows(again.text) == 3, "the auditor's own look at the report is in the report"
    assert "subject.report" in again.text


async def test_alerts_page_lists_open_flags(console_app: Console) -> None:
    auditor = await console_app.signed_in(AUDITOR)
    response = await auditor.get("/console/alerts")
    assert response.status_code == 200
    assert "Peringatan penyalahgunaan" in response.text
    assert (await console_app.events(action="audit.read"))[0]["detail"] == {"view": "alerts"}


async def test_logs_carry_no_nik(console_app: Console, capfd: pytest.CaptureFixture[str]) -> None:
    nik = console_app.demo["sample_niks"][0]
    await lookup(console_app.services, nik)
    auditor = await console_app.signed_in(AUDITOR)
    capfd.readouterr()
    await auditor.post("/console/audit", {"nik": nik})
    await auditor.post("/console/residents", {"nik": nik})
    await auditor.post("/console/residents", {"nik": nik[:-1] + "x"})
    out, err = capfd.readouterr()
    assert '"event": "request"' in out, "the access log was captured"
    assert nik not in out and nik not in err
    assert nik[:-1] not in out and nik[:-1] not in err


async def test_a_cursor_that_is_not_a_leaf_index_is_a_422_page(console_app: Console) -> None:
    auditor = await console_app.signed_in(AUDITOR)
    for cursor in ("²", "9" * 100):
        r = await auditor.post("/console/audit", {"cursor": cursor})
        assert r.status_code == 422 and rows(r.text) == 0
