"""The dashboard's figures and the two languages."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.console import i18n
from tests.console.conftest import ADMIN_1, AUDITOR, BOTH_STORES, Console
from tests.console.events import lookup

TEMPLATES = Path(__file__).resolve().parents[2] / "gateway" / "console" / "templates"


@BOTH_STORES
async def test_dashboard_counts_lookups(console_app: Console) -> None:
    services = console_app.services
    nik = console_app.demo["sample_niks"][0]
    for _ in range(6):
        await lookup(services, nik, agency="dinsos")
    for _ in range(2):
        await lookup(services, nik, agency="dinkes", purpose="health_insurance", decision="deny")
    admin = await console_app.signed_in(ADMIN_1)
    page = await admin.get("/console/")
    assert page.status_code == 200
    text = page.text
    assert '<span class="figure">8</span>' in text
    assert "25.0%" in text
    assert text.count("<svg") == 4  # per day, agency, purpose, refusal reason
    assert "Dinas Sosial Kota Surabaya</text>" in text and "Dinas Kesehatan</text>" in text
    assert "Jaminan kesehatan</text>" in text
    english = await admin.get("/console/?lang=en")
    assert "Health insurance</text>" in english.text
    assert not await console_app.events(action="audit.read"), "counts only: not an audit read"


async def test_indonesian_by_default_english_on_request(console_app: Console) -> None:
    browser = console_app.browser()
    assert "Masuk ke konsol" in (await browser.get("/console/login")).text
    english = await browser.get("/console/login?lang=en")
    assert "Sign in to the console" in english.text and 'lang="en"' in english.text
    assert "satugate_lang=en" in english.headers["set-cookie"]
    assert "Sign in to the console" in (await browser.get("/console/login")).text
    auditor = await console_app.signed_in(AUDITOR)
    auditor.client.cookies.set("satugate_lang", "en", path="/console")
    assert "Audit log" in (await auditor.get("/console/audit")).text
    admin = await console_app.signed_in(ADMIN_1)
    refused = await admin.get("/console/audit?lang=en")
    assert refused.status_code == 403 and "for auditors only" in refused.text


def test_every_message_exists_in_both_languages() -> None:
    assert set(i18n.MESSAGES["id"]) == set(i18n.MESSAGES["en"])
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""(?<![\w.])t\(["']([a-z_.0-9]+)["']\)""", template.read_text()))
    source = "".join(p.read_text() for p in (TEMPLATES.parent).rglob("*.py"))
    used |= set(re.findall(r'"((?:error|policy|clients|audit|verify)\.[a-z_]+)"', source))
    used = {k for k in used if not k.endswith(".html")}
    used -= {"audit.read", "policy.propose", "policy.approve"}
    missing = sorted(k for k in used if k not in i18n.MESSAGES["id"])
    assert not missing, missing
