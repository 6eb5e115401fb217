"""The witness's HTTP face: C2SP tlog-witness ``POST /add-checkpoint`` over :mod:`audit.witness`.

Thin on purpose: the checks, the store and the cosigning live in ``audit`` so that anyone
can run a witness without the rest of the gateway. Nothing here reads the gateway's
settings, database or keys.
"""

from __future__ import annotations

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from audit.witness import MAX_REQUEST_BYTES, Witness


def create_witness_app(witness: Witness) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST_BYTES:
                return PlainTextResponse("request too large\n", status_code=413)
        answer = await anyio.to_thread.run_sync(witness.add_checkpoint, bytes(body))
        return Response(answer.body, status_code=answer.status, media_type=answer.media_type)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def verifier_key(request: Request) -> Response:
        return PlainTextResponse(witness.cosigner.verifier_key() + "\n")

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/verifier-key", verifier_key),
        ]
    )
