"""The baseline of the e2e benchmark: a bare FastAPI endpoint reading the same record
from the same source with the same connector, without auth, policy or audit.

``SATUGATE_BENCH_FIELDS`` (comma-separated) names the fields to read: the e2e benchmark
sets it to the fields satugate releases in the same run, so both read the same record.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse as JSON

import connectors


def create_app() -> FastAPI:
    sources = Path(os.environ["SATUGATE_BENCH_SOURCES"])
    fields = os.environ["SATUGATE_BENCH_FIELDS"].split(",")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.federation = connectors.Federation(connectors.load_sources(sources))
        yield
        await app.state.federation.aclose()

    app = FastAPI(lifespan=lifespan, default_response_class=JSON)

    @app.get("/residents/{nik}")
    async def read(nik: str) -> Any:
        result = await app.state.federation.fetch([nik], fields)
        record = result.records.get(nik)
        return {"record": record} if record else JSON({"error": "not found"}, status_code=404)

    return app
