"""C2SP tlog-tiles over the audit log: hash tiles public, entry bundles to auditors.

Hash tiles reveal hashes only, like the proofs: anyone may mirror them and follow the
log with standard tile clients, without calling the proof API. Entry bundles hold the
events themselves, so they need the ``audit`` scope. Both are immutable once served
(a partial tile of a given width never changes either) and say so to caches.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from audit.errors import ProofError
from audit.tiles import TILE_WIDTH, TileRef, parse_path, read_tile
from gateway.auditing.routes import reader_call
from gateway.identity.auth import get_services, require
from gateway.identity.tokens import Principal
from gateway.platform.errors import NotFound

router = APIRouter(prefix="/audit/tile", tags=["audit"])
Auditor = Annotated[Principal, Depends(require("audit"))]
IMMUTABLE = "public, max-age=31536000, immutable"


async def _serve(request: Request, ref: TileRef, cache: str) -> Response:
    data = await read_tile(get_services(request).audit, ref)
    if data is None:
        raise NotFound("the log does not hold this tile yet")
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})


def _ref(kind: str, rest: str) -> TileRef:
    try:
        return parse_path(kind, rest)
    except ProofError:
        raise NotFound("no such tile") from None


@router.get("/entries/{rest:path}", summary="Entry bundle (C2SP tlog-tiles), auditors only")
async def entries(request: Request, principal: Auditor, rest: str) -> Response:
    """The events themselves: every bundle read is on the record, as a leaf read is."""
    ref = _ref("entries", rest)
    response = await _serve(request, ref, "private, max-age=31536000, immutable")
    await reader_call(request, principal).record(
        decision="allow",
        status=200,
        result_count=ref.width,
        detail={"view": "entries", "first": ref.index * TILE_WIDTH, "count": ref.width},
    )
    return response


@router.get("/{level}/{rest:path}", summary="Hash tile (C2SP tlog-tiles), public")
async def hashes(request: Request, level: str, rest: str) -> Response:
    return await _serve(request, _ref(level, rest), IMMUTABLE)
