"""The region table the gateway checks NIKs against: the imported list of the year
(``satugate regions import``), or the demo cities' table until one is imported."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import connectors
from gateway.platform import store


async def load_region_table(engine: AsyncEngine) -> connectors.RegionTable:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(store.regions.c.code, store.regions.c.name, store.regions.c.historical)
            )
        ).all()
    if not rows:
        return connectors.RegionTable.demo()
    current = [connectors.Region(r.code, r.name) for r in rows if not r.historical]
    return connectors.RegionTable(current, historical=[r.code for r in rows if r.historical])
