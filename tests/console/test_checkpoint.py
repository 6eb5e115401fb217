"""Checkpoint status and 'verify now'."""

from __future__ import annotations

import hashlib
import html
import re

from tests.console.conftest import ADMIN_1, AUDITOR, BOTH_STORES, Console
from tests.console.events import lookup

NOTE_RE = re.compile(r'<pre class="note" id="checkpoint-note">(.*?)</pre>', re.S)


@BOTH_STORES
async def test_verify_now_proves_the_log_grew_consistently(console_app: Console) -> None:
    services = console_app.services
    nik = console_app.demo["sample_niks"][0]
    for _ in range(5):
        await lookup(services, nik)
    auditor = await console_app.signed_in(AUDITOR)
    page = await auditor.get("/console/checkpoint")
    assert page.status_code == 200
    note = html.unescape(NOTE_RE.search(page.text).group(1))  # type: ignore[union-attr]
    assert note.splitlines()[1] == str(await services.audit.size())
    assert services.audit.signer.verifier_key() in page.text

    for _ in range(7):
        await lookup(services, nik)
    result = await auditor.post("/console/checkpoint/verify", {"previous": note})
    assert result.status_code == 200
    assert "Log audit utuh" in result.text
    assert result.text.count('<li class="pass">') == 4, result.text
    size = await services.audit.size()
    assert f"{int(note.splitlines()[1])} → {size}" in result.text


async def test_verify_now_without_an_earlier_checkpoint(console_app: Console) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    result = await admin.post("/console/checkpoint/verify")
    assert "Log audit utuh" in result.text
    assert '<li class="skip">' in result.text


async def test_a_forked_checkpoint_is_caught(console_app: Console) -> None:
    services = console_app.services
    nik = console_app.demo["sample_niks"][0]
    for _ in range(4):
        await lookup(services, nik)
    size = await services.audit.size()
    # Validly signed, but for a tree of the same size with another root: a fork.
    forked = services.audit.signer.sign(size - 1, hashlib.sha256(b"another history").digest())
    await lookup(services, nik)
    auditor = await console_app.signed_in(AUDITOR)
    result = await auditor.post("/console/checkpoint/verify", {"saved": forked})
    assert "Verifikasi GAGAL" in result.text
    assert '<li class="fail">' in result.text

    unsigned = forked.rsplit("\u2014", 1)[0] + "\u2014 satugate AAAA\n"
    result = await auditor.post("/console/checkpoint/verify", {"saved": unsigned})
    assert "Verifikasi GAGAL" in result.text


async def test_the_browser_remembers_what_it_verified(console_app: Console) -> None:
    services = console_app.services
    nik = console_app.demo["sample_niks"][0]
    await lookup(services, nik)
    auditor = await console_app.signed_in(AUDITOR)
    first = await auditor.post("/console/checkpoint/verify")
    assert "Log audit utuh" in first.text
    witnessed = html.unescape(NOTE_RE.search(first.text).group(1))  # type: ignore[union-attr]
    size = int(witnessed.splitlines()[1])
    assert "satugate_console_checkpoint=" in first.headers["set-cookie"]

    for _ in range(3):
        await lookup(services, nik)
    page = await auditor.get("/console/checkpoint")
    assert f"(ukuran {size})" in page.text
    found = re.search(r'name="previous" value="([^"]*)"', page.text, re.S)
    assert found is not None
    previous = html.unescape(found.group(1))
    assert previous.replace("\r\n", "\n") == witnessed
    again = await auditor.post("/console/checkpoint/verify", {"previous": previous})
    assert (
        "Log audit utuh" in again.text and f"{size} → {await services.audit.size()}" in again.text
    )

    auditor.client.cookies.set("satugate_console_checkpoint", "bm90IGEgbm90ZQ==", path="/console")
    assert "(ukuran" not in (await auditor.get("/console/checkpoint")).text
