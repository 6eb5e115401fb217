"""The audit log at volume: one page per event (its leaf bytes, treatments in words, its
inclusion proof checked against the latest signed checkpoint, the command to check it
independently) and exports of a search as CSV or JSON Lines, each export on the record.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.responses import Response, StreamingResponse

import audit
from audit import merkle
from gateway.console.pages.auditing import FILTERS, query_of
from gateway.console.routing import AuditorPage, ConsoleRoute, error_page, form_text
from gateway.console.trail import record_action

router = APIRouter(route_class=ConsoleRoute)

TREATMENTS = ("clear", "mask", "generalise", "pseudonymise", "withhold")
EXPORT_PAGE = 500
EXPORT_MAX = 100_000
CSV_COLUMNS = ("leaf_index", "event_id", "time", "action", "agency", "officer", "purpose",
               "decision", "reason", "released", "withheld", "subjects", "result_count",
               "request_id")  # fmt: skip


def counts(event: dict[str, Any]) -> tuple[int, int]:
    """Fields released (in any treatment but withhold) and withheld."""
    fields = event.get("fields") or {}
    withheld = sum(1 for t in fields.values() if t == "withhold")
    return len(fields) - withheld, withheld


async def _proof(page: AuditorPage, index: int, data: bytes) -> dict[str, Any]:
    """The leaf's inclusion proof into the latest checkpoint, checked here."""
    log = page.services.audit
    note = await log.checkpoint()
    checkpoint = audit.verify_checkpoint(note, log.signer.verifier_key())
    out: dict[str, Any] = {"size": checkpoint.size, "note": note, "path": [], "ok": None}
    if index >= checkpoint.size:
        return out  # newer than the checkpoint: pending
    proof = await log.inclusion_proof(index, checkpoint.size)
    try:
        merkle.verify_inclusion(
            merkle.leaf_hash(data), index, checkpoint.size, proof.audit_path,
            checkpoint.root_hash,
        )  # fmt: skip
        out["ok"] = True
    except audit.ProofError:
        out["ok"] = False
    out["path"] = [p.hex() for p in proof.audit_path]
    out["leaf_hash"] = merkle.leaf_hash(data).hex()
    return out


@router.get("/audit/events/{leaf_index}")
async def event_page(
    page: AuditorPage, leaf_index: Annotated[int, Path(ge=0, le=2**53)]
) -> Response:
    log = page.services.audit
    if leaf_index >= await log.size():
        return error_page(page.request, 404, "audit.no_event")
    data = await log.leaf(leaf_index)
    await record_action(
        page.services, page.user, "audit.read", request_id=page.request_id, result_count=1,
        detail={"view": "event", "leaf_index": leaf_index},
    )  # fmt: skip
    event = json.loads(data)
    proof = await _proof(page, leaf_index, data)
    issuer = page.services.settings.issuer
    command = f"satugate audit verify --url {issuer} --key '{log.signer.verifier_key()}'"
    released, withheld = counts(event)
    return page.render(
        "event.html", event=event, leaf_index=leaf_index,
        leaf_text=data.decode("utf-8"), proof=proof, command=command,
        released=released, withheld=withheld, treatments=TREATMENTS,
        proof_url=f"{issuer}/audit/proof/inclusion?leaf_index={leaf_index}"
        f"&tree_size={proof['size']}",
    )  # fmt: skip


def _csv_row(event: dict[str, Any]) -> list[str]:
    released, withheld = counts(event)
    row = {**event, "released": released, "withheld": withheld,
           "subjects": len(event.get("subjects") or [])}  # fmt: skip
    return ["" if row.get(c) is None else str(row.get(c)) for c in CSV_COLUMNS]


@router.post("/audit/export")
async def export(page: AuditorPage) -> Response:
    """The events of a search, newest first, as CSV or JSON Lines; the export is an
    ``audit.export`` event, recorded before the first line."""
    form = await page.form()
    values = {name: form_text(form, name, 128) for name in FILTERS}
    fmt = form_text(form, "format", 8)
    if fmt not in ("csv", "jsonl"):
        return error_page(page.request, 422, "audit.bad_format")
    query, nik, errors = query_of(values, None, EXPORT_PAGE)
    if query is None:
        return error_page(page.request, 422, errors[0])
    used = sorted(k for k in FILTERS if values[k])
    await record_action(
        page.services, page.user, "audit.export", request_id=page.request_id,
        subject_niks=[nik] if nik else (), detail={"view": "export", "format": fmt,
                                                   "filters": used},
    )  # fmt: skip
    services = page.services

    async def lines() -> AsyncIterator[str]:
        if fmt == "csv":
            buffer = io.StringIO()
            csv.writer(buffer).writerow(CSV_COLUMNS)
            yield buffer.getvalue()
        sent = 0
        cursor: str | None = None
        while sent < EXPORT_MAX:
            result = await services.audit.search(replace(query, cursor=cursor))
            for event in result.events:
                if fmt == "csv":
                    buffer = io.StringIO()
                    csv.writer(buffer).writerow(_csv_row(event))
                    yield buffer.getvalue()
                else:
                    yield json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n"
            sent += len(result.events)
            cursor = result.next_cursor
            if cursor is None:
                return

    media = "text/csv" if fmt == "csv" else "application/jsonl"
    name = f"satugate-audit.{fmt}"
    return StreamingResponse(
        lines(), media_type=f"{media}; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip
