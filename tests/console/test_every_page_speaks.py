"""Every console page, as each role, in both languages: an Indonesian page carries no
English term of the policy or the log (purpose codes and names, treatments, roles, alert
texts, the simulation's sentences), and every region code stands beside its name."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.platform.settings import DEFAULT_POLICY_DIR
from policies import load_bundle
from tests.console.conftest import ADMIN_1, AUDITOR, Browser, Console
from tests.console.events import lookup

FIELDS = {"full_name": "mask", "religion": "withhold", "birth_date": "generalise",
          "nik": "pseudonymise", "gender": "clear"}  # fmt: skip
SIMULATIONS: tuple[dict[str, Any], ...] = (
    {"agency": "dinsos", "purpose": "social_assistance", "action": "read",
     "fields": ["religion", "full_name"]},
    {"agency": "dinsos", "purpose": "immunisation", "action": "read", "fields": ["religion"]},
    {"agency": "dinsos", "purpose": "case_management", "action": "resolve"},
    {"agency": "dinkes", "purpose": "health_insurance", "action": "search"},
)  # fmt: skip
COMMON = ("/console/", "/console/policies", "/console/proposals", "/console/simulate",
          "/console/checkpoint")  # fmt: skip
ADMIN_PAGES = ("/console/clients", "/console/clients/demo-dinkes/rotate",
               "/console/clients/demo-dinkes/revoke", "/console/policies/new",
               "/console/budgets", "/console/audit")  # fmt: skip
AUDITOR_PAGES = ("/console/audit", "/console/residents", "/console/alerts",
                 "/console/investigations", "/console/clients")  # fmt: skip
# Machine text shown as such (the leaf's bytes, YAML being edited, identifiers in <code>)
# is not a page's prose.
MACHINE_TEXT = re.compile(r"<(pre|textarea|code|style|script)\b.*?</\1>", re.S | re.I)
REGION_CODE = re.compile(r"(?<![\d.])\d{2}\.\d{2}(?:\.\d{2}(?:\.\d{4})?)?(?![\d.])")


def visible(page: str) -> str:
    text = re.sub(r"<[^>]+>", " ", MACHINE_TEXT.sub(" ", page))
    return re.sub(r"\s+", " ", html.unescape(text))


def english_terms() -> list[str]:
    bundle = load_bundle(DEFAULT_POLICY_DIR)
    purposes = [*bundle.purposes, "administration"]
    names = [p.name for p in bundle.purposes.values()]
    return [
        *purposes, *names,
        "pseudonymise", "pseudonymised", "mask", "masked", "generalise", "generalised",
        "withhold", "withheld", "in clear", "as is",
        "social_affairs", "data_steward", "social affairs", "data steward",
        "unusual volume", "outside office hours", "flagged resident", "own family",
        "residents looked up", "lookups",
        "Allowed", "Denied", "may read", "field(s)", "only residents of", "no grant",
        "policy_denied", "purpose_not_permitted", "denied by policy",
    ]  # fmt: skip


def english_on(text: str) -> list[str]:
    return [
        term for term in english_terms()
        # A dotted identifier or a scope (``statistics.query``, ``statistics:read``) is a
        # code, not prose.
        if re.search(rf"(?<![\w-])(?<!\w[.:]){re.escape(term)}(?![\w-]|[.:]\w)", text, re.I)
    ]  # fmt: skip


def bare_region_codes(text: str) -> list[str]:
    """Region codes not written as ``Name (code)``."""
    bare = []
    for found in REGION_CODE.finditer(text):
        before, after = text[: found.start()], text[found.end() :]
        if not (re.search(r"[A-Za-z]\S* \($", before) and after.startswith(")")):
            bare.append(text[max(0, found.start() - 30) : found.end() + 5])
    return bare


async def _seed(console: Console) -> int:
    nik = console.demo["sample_niks"][0]
    night = (datetime.now(UTC) - timedelta(days=1)).replace(hour=15, minute=0, microsecond=0)
    leaf = 0
    for minutes in (0, 5):
        at = (night + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
        leaf = await lookup(console.services, nik, officer="petugas.malam", time=at, fields=FIELDS)
    await lookup(console.services, nik, agency="dinkes", purpose="health_insurance",
                 decision="deny")  # fmt: skip
    return leaf


async def _pages(browser: Browser, role: str, lang: str, leaf: int, nik: str) -> dict[str, str]:
    """Every page the role can open, by its name, as the browser sees it in ``lang``."""
    suffix = f"?lang={lang}"
    bundle_id = 1
    paths = [*COMMON, f"/console/policies/{bundle_id}",
             *(ADMIN_PAGES if role == "admin" else AUDITOR_PAGES)]  # fmt: skip
    if role == "auditor":
        paths.append(f"/console/audit/events/{leaf}")
    pages = {}
    for path in paths:
        response = await browser.get(path + suffix)
        assert response.status_code in (200, 403), (path, response.status_code)
        pages[path] = response.text
    for n, form in enumerate(SIMULATIONS):
        response = await browser.post("/console/simulate" + suffix, form)
        assert response.status_code == 200, response.text
        pages[f"simulation {n}"] = response.text
    if role == "auditor":
        report = await browser.post("/console/residents" + suffix, {"nik": nik})
        pages["resident report"] = report.text
        search = await browser.post("/console/audit" + suffix, {"purpose": "social_assistance"})
        pages["audit search"] = search.text
    login = await browser.get("/console/login" + suffix)
    pages["login"] = login.text
    return pages


@pytest.mark.parametrize("user", [ADMIN_1, AUDITOR], ids=["admin", "auditor"])
async def test_every_page_speaks_the_language_asked_for(
    console_app: Console, user: tuple[str, str]
) -> None:
    leaf = await _seed(console_app)
    nik = console_app.demo["sample_niks"][0]
    role = "admin" if user == ADMIN_1 else "auditor"
    browser = await console_app.signed_in(user)
    indonesian = await _pages(browser, role, "id", leaf, nik)
    english = await _pages(browser, role, "en", leaf, nik)
    leaks = {name: english_on(visible(page)) for name, page in indonesian.items()}
    assert not {name: terms for name, terms in leaks.items() if terms}, leaks
    for pages in (indonesian, english):
        bare = {name: bare_region_codes(visible(page)) for name, page in pages.items()}
        assert not {name: codes for name, codes in bare.items() if codes}, bare
    # The English pages do speak English: the same terms are there.
    everything = " ".join(visible(page) for page in english.values())
    for term in ("Social assistance", "Allowed", "Denied", "withheld", "Kota Surabaya (35.78)"):
        assert term in everything, term
    said = " ".join(visible(page) for page in indonesian.values())
    for term in ("Bantuan sosial", "Diizinkan", "Ditolak", "tidak diberikan", "dipseudonimkan",
                 "Kota Surabaya (35.78)"):  # fmt: skip
        assert term in said, term
    if role == "auditor":
        alerts = visible(indonesian["/console/alerts"])
        assert "di luar jam kerja" in alerts and "pencarian di luar jam kerja" in alerts
        event = visible(indonesian[f"/console/audit/events/{leaf}"])
        for word in ("disamarkan", "digeneralisasi", "dipseudonimkan", "ditahan"):
            assert word in event, word


async def test_regions_are_named_with_their_code(console_app: Console) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    for lang in ("id", "en"):
        page = visible((await admin.get(f"/console/clients?lang={lang}")).text)
        assert "Kota Surabaya (35.78)" in page and "Kota Denpasar (51.71)" in page
        assert "Kota Surabaya (35.78), Kota Denpasar (51.71)" in page  # dinkes serves both
        assert not bare_region_codes(page)
    simulated = await admin.post("/console/simulate?lang=id", dict(SIMULATIONS[0]))
    text = visible(simulated.text)
    assert "hanya penduduk Kota Surabaya (35.78)" in text
    assert "Wilayah Kota Surabaya (35.78)" in text


def test_the_checks_catch_what_they_look_for() -> None:
    assert english_on("Tujuan: social_assistance") == ["social_assistance"]
    assert english_on("Kolom: nama (withheld)") == ["withheld"]
    assert not english_on("Bantuan sosial · <code>x</code> · tidak diberikan")
    (bare,) = bare_region_codes("Wilayah 35.78, Kota Denpasar (51.71)")
    assert "Wilayah 35.78" in bare
    assert "Statistics" in english_on("for Statistics.")
    assert not english_on("statistics.query statistics:read")
    assert visible("<p>a<code>social_assistance</code>b</p>").split() == ["a", "b"]
