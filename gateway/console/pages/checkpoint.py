"""Checkpoint and verification status, with a 'verify now' button."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from gateway.console.routing import AnyUser, ConsoleRoute
from gateway.console.verification import MAX_NOTE_LENGTH, verify_now

router = APIRouter(route_class=ConsoleRoute)


@router.get("/checkpoint")
async def checkpoint(page: AnyUser) -> Response:
    log = page.services.audit
    return page.render(
        "checkpoint.html",
        note=await log.checkpoint(),
        size=await log.size(),
        verifier_key=log.signer.verifier_key(),
        result=None,
    )


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
    return page.render(
        "checkpoint.html",
        note=result.latest_note,
        size=result.tree_size,
        verifier_key=page.services.audit.signer.verifier_key(),
        result=result,
    )
