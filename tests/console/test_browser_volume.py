"""The auditor's working day in headless Chromium at 1366x768: the audit log with
10,000 events stays compact and quick, an event's page proves the event, exports are on
the record, and an investigation hides entries from the resident's own report.

Measured numbers are printed (``-s`` shows them): page heights in CSS pixels and the
server's time to answer, as the browser's Navigation Timing reports it.
"""

from __future__ import annotations

import re
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.console.browser import Served, sign_in
from tests.console.conftest import ADMIN_1, ADMIN_2, AUDITOR, Opener

if TYPE_CHECKING:
    from playwright.sync_api import Page, ViewportSize

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

playwright_sync = pytest.importorskip("playwright.sync_api")
VOLUME = 10_000
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}


@pytest.fixture(scope="module")
def browser_volume() -> int:
    return VOLUME


@pytest.fixture(scope="module")
def browser_viewport() -> ViewportSize:
    return VIEWPORT


@pytest.fixture(scope="module")
def browser_timeout_ms() -> int:
    return 20_000


def _size(page: Page) -> tuple[int, int]:
    size = page.evaluate(
        "[document.documentElement.scrollHeight, document.documentElement.scrollWidth]"
    )
    return int(size[0]), int(size[1])


def _server_ms(page: Page) -> float:
    """From the request's start to the last byte of the answer (Navigation Timing)."""
    entry = page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " return [n.requestStart, n.responseEnd]; })()"
    )
    return float(entry[1]) - float(entry[0])


def test_the_audit_log_with_10000_events(open_page: Opener, served: Served) -> None:
    expect = playwright_sync.expect
    page = open_page()
    sign_in(page, AUDITOR)
    timings = []
    for _ in range(5):
        page.goto("/console/audit")
        timings.append(_server_ms(page))
    height, width = _size(page)
    median = statistics.median(timings)
    print(f"\naudit log, {VOLUME}+ events, 1366x768: height {height}px, width {width}px; "
          f"server answer median {median:.0f} ms (of {[round(t) for t in timings]})")  # fmt: skip
    expect(page.locator("table.events tbody tr")).to_have_count(50)
    expect(page.locator("table.events tbody tr").first).to_contain_text("WIB")
    assert height < 2000, height
    assert width <= VIEWPORT["width"], "no sideways overflow"
    assert median < 300, timings

    # Filters like the API's, and paging by cursor.
    page.get_by_label("Petugas").fill("petugas.5")
    page.get_by_role("button", name="Cari", exact=True).click()
    expect(page.locator("table.events tbody tr").first).to_contain_text("petugas.5")
    first = page.locator("table.events tbody tr td a").first.inner_text()
    page.locator("#next-page").click()
    expect(page.locator("table.events tbody tr").first).to_contain_text("petugas.5")
    assert int(page.locator("table.events tbody tr td a").first.inner_text()) < int(first)
    height, _ = _size(page)
    assert height < 2000, height

    # One event: its leaf, its treatments in words with a legend, its proof, the command.
    page.locator("table.events tbody tr td a").first.click()
    page.wait_for_url(re.compile(r".*/console/audit/events/\d+$"))
    expect(page.locator("#treatments")).to_contain_text("ditahan")
    expect(page.locator("#treatments")).to_contain_text("religion")
    expect(page.locator("#legend")).to_contain_text("tidak dirilis sama sekali")
    expect(page.locator("#proof [role=status]")).to_contain_text("Terverifikasi")
    expect(page.locator("#verify-command")).to_contain_text(
        f"satugate audit verify --url {served.base_url} --key"
    )
    expect(page.locator("#leaf")).to_contain_text('"action":"resident.read"')
    height, width = _size(page)
    print(f"event page: height {height}px, width {width}px")
    assert width <= VIEWPORT["width"]

    # Exports of a search, each on the record.
    page.goto("/console/audit")
    page.get_by_label("Petugas").fill("petugas.5")
    for button, marker in (("Ekspor CSV", "leaf_index,event_id"), ("Ekspor JSON Lines", "{")):
        with page.expect_download() as download:
            page.get_by_role("button", name=button).click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        assert text.startswith(marker)
        rows = text.strip().split("\n")
        assert len(rows) >= 100 and all("petugas.5" in r for r in rows[1:]), len(rows)
    page.goto("/console/audit")
    page.get_by_label("Tindakan").select_option("audit.export")
    page.get_by_role("button", name="Cari", exact=True).click()
    expect(page.locator("table.events tbody tr")).to_have_count(2)


def _api_token(served: Served, client_id: str) -> str:
    secret = next(c["client_secret"] for c in served.demo["clients"] if c["client_id"] == client_id)
    r = httpx.post(
        f"{served.base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _resident_report(served: Served, nik: str) -> list[dict[str, Any]]:
    auditor = {
        "Authorization": f"Bearer {_api_token(served, 'demo-auditor')}",
        "X-On-Behalf-Of": "desk.officer",
    }
    issued = httpx.post(f"{served.base_url}/audit/subjects/{nik}/report-token", headers=auditor)
    assert issued.status_code == 200, issued.text
    mine = httpx.get(
        f"{served.base_url}/v1/me/accesses",
        headers={"Authorization": f"Bearer {issued.json()['report_token']}"},
    )
    assert mine.status_code == 200, mine.text
    return list(mine.json()["accesses"])


def test_an_investigation_hides_entries_from_the_residents_report(
    open_page: Opener, served: Served
) -> None:
    expect = playwright_sync.expect
    nik = served.demo["sample_niks"][1]
    assert "dinsos" in {a["agency"] for a in _resident_report(served, nik)}

    page = open_page()
    sign_in(page, AUDITOR)
    page.get_by_role("link", name="Investigasi").click()
    page.get_by_label("NIK").fill(nik)
    until = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    page.get_by_label("Disembunyikan sampai").fill(until)
    page.get_by_label("Alasan").fill("Pemeriksaan 9/2026")
    page.get_by_role("button", name="Buka investigasi").click()
    expect(page.get_by_role("status")).to_contain_text("berjalan")
    expect(page.locator("#investigations tbody tr")).to_have_count(1)
    assert nik not in page.content()

    report = _resident_report(served, nik)
    assert {a["agency"] for a in report} <= {"resident"}, report

    # The auditor still sees every entry, marked.
    page.get_by_role("link", name="Laporan penduduk").click()
    page.get_by_label("NIK").fill(nik)
    page.get_by_role("button", name="Tampilkan laporan").click()
    expect(page.locator("#report .investigation").first).to_contain_text("investigasi #")

    page.get_by_role("link", name="Investigasi").click()
    page.get_by_label("Catatan").fill("selesai")
    page.get_by_role("button", name="Tutup").click()
    expect(page.get_by_role("status")).to_contain_text("ditutup")
    assert "dinsos" in {a["agency"] for a in _resident_report(served, nik)}


def test_an_alert_acknowledged_then_closed_with_notes(open_page: Opener) -> None:
    expect = playwright_sync.expect
    page = open_page()
    sign_in(page, AUDITOR)
    page.get_by_role("navigation").get_by_role("link", name="Peringatan").click()
    row = page.locator("#alerts tr", has_text="petugas.malam").filter(has_text="jam kerja")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("terbuka")
    # Its evidence links to the events.
    row.locator("td.evidence a").first.click()
    page.wait_for_url(re.compile(r".*/console/audit/events/\d+$"))
    expect(page.locator("#leaf")).to_contain_text("petugas.malam")
    page.go_back()
    row = page.locator("#alerts tr", has_text="petugas.malam").filter(has_text="jam kerja")
    row.get_by_label("Catatan").fill("Ditinjau bersama atasan")
    row.get_by_role("button", name="Akui").click()
    expect(page.get_by_role("status")).to_contain_text("diakui")
    row = page.locator("#alerts tr", has_text="petugas.malam").filter(has_text="jam kerja")
    expect(row).to_contain_text("auditor.satu: Ditinjau bersama atasan")
    row.get_by_label("Catatan").fill("Tugas piket malam, sah")
    row.get_by_role("button", name="Tutup").click()
    expect(page.get_by_role("status")).to_contain_text("ditutup")
    row = page.locator("#alerts tr", has_text="petugas.malam").filter(has_text="jam kerja")
    expect(row).to_contain_text("ditutup")
    expect(row.get_by_role("button")).to_have_count(0)
    page.get_by_role("link", name="Log audit").click()
    page.get_by_label("Tindakan").select_option("alert.close")
    page.get_by_role("button", name="Cari", exact=True).click()
    expect(page.locator("table.events tbody tr")).to_have_count(1)


def test_an_administrator_signs_in_and_has_no_investigations(open_page: Opener) -> None:
    expect = playwright_sync.expect
    page = open_page()
    sign_in(page, ADMIN_1)
    expect(page.get_by_role("navigation")).not_to_contain_text("Investigasi")
    for path in ("/console/investigations", "/console/audit/events/0"):
        response = page.goto(path)
        assert response is not None and response.status == 403

    # "Ganti rahasia" asks first, as "Cabut" does: nothing is proposed until confirmed.
    page.goto("/console/clients")
    row = page.locator("tr", has_text="demo-dinkes")
    row.get_by_role("link", name="Ganti rahasia").click()
    expect(page.get_by_role("heading", name="Ganti rahasia klien?")).to_be_visible()
    page.get_by_role("link", name="Batal").click()
    page.get_by_role("navigation").get_by_role("link", name="Usulan perubahan").click()
    expect(page.locator("main")).not_to_contain_text("demo-dinkes")
    page.goto("/console/clients")
    page.locator("tr", has_text="demo-dinkes").get_by_role("link", name="Ganti rahasia").click()
    page.get_by_role("button", name="Ya, usulkan rahasia baru").click()
    page.get_by_role("navigation").get_by_role("link", name="Usulan perubahan").click()
    expect(page.locator("main")).to_contain_text("demo-dinkes")


def test_the_policy_history_keeps_each_versions_changes_in_aligned_panes(
    open_page: Opener,
) -> None:
    expect = playwright_sync.expect
    proposer = open_page()
    sign_in(proposer, ADMIN_1)
    proposer.get_by_role("navigation").get_by_role("link", name="Kebijakan").click()
    proposer.get_by_role("link", name="Usulkan versi baru").click()
    purposes = proposer.get_by_label("purposes.yaml")
    text = purposes.input_value()
    purposes.fill(text.replace("Producing sectoral statistics", "City statistics"))
    proposer.get_by_label("Keterangan").fill("Uraian tujuan statistik")
    proposer.get_by_role("button", name="Kirim usulan").click()
    proposer.wait_for_url(re.compile(r".*/console/policies/\d+$"))
    version_url = proposer.url

    approver = open_page()
    sign_in(approver, ADMIN_2)
    approver.goto(version_url)
    approver.get_by_role("button", name="Setujui dan aktifkan").click()
    expect(approver.get_by_role("status")).to_contain_text("sekarang aktif")
    # After approval the version still shows what it changed, against what it replaced.
    approver.goto(version_url)
    expect(approver.locator("h2").first).to_contain_text("versi yang digantikannya")
    change = approver.locator("table.diff tr.change")
    expect(change).to_have_count(1)
    expect(change.locator("td.new")).to_contain_text("City statistics")
    expect(change.locator("td.old")).to_contain_text("Producing sectoral statistics")
    old = change.locator("td.old").bounding_box()
    new = change.locator("td.new").bounding_box()
    numbers = change.locator("td.no").first.bounding_box()
    head = approver.locator("table.diff th").first.bounding_box()
    assert old and new and numbers and head
    print(
        f"\npolicy diff panes: old {old['width']:.0f}px at x={old['x']:.0f}, new"
        f" {new['width']:.0f}px at x={new['x']:.0f}; line numbers {numbers['width']:.0f}px"
    )
    assert abs(old["width"] - new["width"]) <= 2 and abs(old["y"] - new["y"]) <= 1
    assert numbers["width"] < 80
    assert abs(head["x"] - numbers["x"]) <= 2, "the header spans its own pane"
