"""End to end in headless Chromium: both roles do their work, neither can do the other's.

Chromium is the Debian package (``/usr/bin/chromium``); Playwright never downloads a
browser here. A failing test leaves a screenshot in ``test-artifacts/``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.console.browser import Served, sign_in
from tests.console.conftest import ADMIN_1, ADMIN_2, AUDITOR, Opener

if TYPE_CHECKING:
    pass

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

playwright_sync = pytest.importorskip("playwright.sync_api")


def test_propose_as_one_admin_and_approve_as_another(open_page: Opener) -> None:
    expect = playwright_sync.expect
    proposer = open_page()
    sign_in(proposer, ADMIN_1)
    proposer.get_by_role("link", name="Kebijakan").click()
    proposer.get_by_role("link", name="Usulkan versi baru").click()
    purposes = proposer.get_by_label("purposes.yaml")
    purposes.fill(
        purposes.input_value().replace("Producing sectoral statistics", "Producing city statistics")
    )
    proposer.get_by_label("Keterangan").fill("Perbarui uraian tujuan statistik")
    proposer.get_by_role("button", name="Kirim usulan").click()
    proposer.wait_for_url(re.compile(r".*/console/policies/\d+$"))
    expect(proposer.locator("table.diff tr.change")).to_have_count(1)
    expect(proposer.locator("tr.change td.new")).to_contain_text("Producing city statistics")
    proposal_url = proposer.url

    proposer.get_by_role("button", name="Setujui dan aktifkan").click()
    expect(proposer.get_by_role("alert")).to_contain_text(
        "tidak dapat menyetujui usulan Anda sendiri"
    )

    approver = open_page()
    sign_in(approver, ADMIN_2)
    approver.goto(proposal_url)
    approver.get_by_role("button", name="Setujui dan aktifkan").click()
    expect(approver.get_by_role("status")).to_contain_text("sekarang aktif")
    approver.get_by_role("link", name="Kebijakan").click()
    expect(approver.locator("tr.active").first).to_contain_text("admin.dua")


def test_auditor_searches_the_log_and_opens_a_resident_report(
    open_page: Opener, served: Served
) -> None:
    expect = playwright_sync.expect
    page = open_page()
    sign_in(page, AUDITOR)
    page.get_by_role("link", name="Log audit").click()
    page.get_by_label("Instansi").select_option("dinkes")
    page.get_by_label("Keputusan").select_option("deny")
    page.get_by_role("button", name="Cari").click()
    expect(page.locator("table.events tbody tr")).to_have_count(5)
    expect(page.locator("table.events tbody")).not_to_contain_text("dinsos")

    nik = served.demo["sample_niks"][0]
    page.get_by_role("link", name="Laporan penduduk").click()
    page.get_by_label("NIK").fill(nik)
    page.get_by_role("button", name="Tampilkan laporan").click()
    report = page.locator("#report")
    expect(report).to_contain_text(nik[:6] + "**********")
    expect(report).to_contain_text("petugas.0")
    expect(report.locator("tbody tr")).to_have_count(4 + 5)  # the dinsos and dinkes lookups
    assert nik not in page.content()


def test_an_admin_is_refused_the_audit_pages(open_page: Opener) -> None:
    expect = playwright_sync.expect
    page = open_page()
    sign_in(page, ADMIN_1)
    expect(page.get_by_role("navigation")).not_to_contain_text("Log audit")
    for path in ("/console/audit", "/console/residents"):
        response = page.goto(path)
        assert response is not None and response.status == 403
        expect(page.get_by_role("alert")).to_contain_text("hanya untuk auditor")


def test_simulation_and_english(open_page: Opener) -> None:
    expect = playwright_sync.expect
    page = open_page()
    sign_in(page, AUDITOR)
    page.get_by_role("link", name="EN", exact=True).click()
    page.get_by_role("link", name="Simulation").click()
    page.get_by_label("Agency").select_option("dinsos")
    page.get_by_label("Purpose").select_option("social_assistance")
    page.get_by_label("religion", exact=True).check()
    page.get_by_label("full_name", exact=True).check()
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#result")).to_contain_text("withheld: religion")
    expect(page.locator("#result h2")).to_have_text("Allowed")
