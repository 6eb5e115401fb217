"""Checkpoint and verification status, with a 'verify now' button.

The browser acts as a small witness: after a successful verification it keeps the
checkpoint it verified (in a cookie), and the next 'verify now' proves that the log grew
consistently from there. A log rewritten in between cannot produce that proof.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter
from starlette.responses import Response

from gateway.console import sessions
from gateway.console.routing import AnyUser, ConsoleRoute, Page
from gateway.console.verification import MAX_NOTE_LENGTH, verify_now

router = APIRouter(route_class=ConsoleRoute)

WITNESS_COOKIE = "satugate_console_checkpoint"
WITNESS_SECONDS = 365 * 86400


def _witnessed(page: Page) -> str | None:
    """The checkpoint this browser verified last. Its signature is checked before use,
    so a cookie edited by hand can only make a verification fail, never pass."""
    raw = page.request.cookies.get(WITNESS_COOKIE, "")
    if not raw or len(raw) > 2 * MAX_NOTE_LENGTH:
        return None
    try:
        return base64.urlsafe_b64decode(raw.encode()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


@router.get("/checkpoint")
async def checkpoint(page: AnyUser) -> Response:
    log = page.services.audit
    note = await log.checkpoint()
    witnessed = _witnessed(page)
    return page.render(
        "checkpoint.html",
        note=note,
        previous=witnessed or note,
        witnessed_size=_size_of(witnessed),
        size=await log.size(),
        verifier_key=log.signer.verifier_key(),
        result=None,
    )


def _size_of(note: str | None) -> str:
    lines = (note or "").split("\n")
    return lines[1] if len(lines) > 2 and lines[1].isdigit() else ""


@router.post("/checkpoint/verify")
async def verify(page: AnyUser) -> Response:
    """Verify the log against the checkpoint the page showed (or one the user pasted).

    The checkpoint comes from the browser, but that is safe: it counts only if its
    signature checks against the log's key."""
    form = await page.form()
    pasted = form.get("saved")
    shown = form.get("previous")
    previous = pasted if isinstance(pasted, str) and pasted.strip() else shown
    result = await verify_now(
        page.services.audit,
        page.services.engine,
        previous[: MAX_NOTE_LENGTH + 1] if isinstance(previous, str) else None,
    )
    response = page.render(
        "checkpoint.html",
        note=result.latest_note,
        previous=result.latest_note,
        witnessed_size="",
        size=result.tree_size,
        verifier_key=page.services.audit.signer.verifier_key(),
        result=result,
    )
    if result.ok:
        encoded = base64.urlsafe_b64encode(result.latest_note.encode("utf-8")).decode()
        keys = sessions.keys_for(page.request)
        sessions.set_cookie(response, keys, WITNESS_COOKIE, encoded, WITNESS_SECONDS)
    return response
