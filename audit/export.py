"""Export of the log as JSON lines, for auditors who verify it offline.

Format ``satugate-audit-export/1``, one JSON object per line:

* first ``{"type": "header", "format": ..., "origin": ..., "tree_size": N}``;
* then, in order, ``{"type": "leaf", "index": i, "leaf": base64(bytes), "hash": base64}``
  for every leaf ``0 <= i < N``; ``hash`` is the leaf hash the log recorded, which lets a
  verifier name the exact leaf that was altered;
* after the leaf ``s - 1``, ``{"type": "checkpoint", "note": ...}`` for each stored signed
  checkpoint of size ``s``; the last line is the signed checkpoint of size ``N``.

Only ``note`` lines are trusted (they are signed); everything else is recomputed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from audit import store
from audit.checkpoint import parse_note
from audit.errors import AuditError
from audit.schema import events, tree_nodes

FORMAT = "satugate-audit-export/1"
CHUNK = 2000


def _line(obj: dict[str, object]) -> str:
    return json.dumps(obj, separators=(",", ":")) + "\n"


async def log_origin(engine: AsyncEngine) -> str | None:
    """The origin of the log in this store (that of its first checkpoint), if any."""
    async with engine.connect() as conn:
        first = await store.first_checkpoint(conn)
    return None if first is None else parse_note(first.note)[0].origin


async def export_lines(engine: AsyncEngine, *, tree_size: int | None = None) -> AsyncIterator[str]:
    """Yield the export of the log up to its latest checkpoint (or the one of ``tree_size``).

    Reads straight from the database: no signing key is needed to export.
    """
    async with engine.connect() as conn:
        notes = await store.all_checkpoints(conn, tree_size if tree_size is not None else 2**62)
    if not notes or (tree_size is not None and notes[-1].tree_size != tree_size):
        raise AuditError("no signed checkpoint of that size to export against")
    # Only the log's own checkpoints (its origin is that of the first one) belong in it.
    origin = parse_note(notes[0].note)[0].origin
    notes = [cp for cp in notes if parse_note(cp.note)[0].origin == origin]
    final = notes[-1]
    yield _line(
        {"type": "header", "format": FORMAT, "origin": origin, "tree_size": final.tree_size}
    )
    pending = [cp for cp in notes if cp.tree_size > 0]
    for cp in notes:
        if cp.tree_size == 0:
            yield _line({"type": "checkpoint", "note": cp.note})
    position = 0
    while position < final.tree_size:
        end = min(position + CHUNK, final.tree_size)
        stmt = (
            select(events.c.leaf_index, events.c.leaf, tree_nodes.c.hash)
            .join(
                tree_nodes,
                tree_nodes.c.node == events.c.leaf_index,  # level 0: the key is the index
                isouter=True,
            )
            .where(events.c.leaf_index >= position, events.c.leaf_index < end)
            .order_by(events.c.leaf_index)
        )
        async with engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        for index, leaf, recorded in rows:
            entry: dict[str, object] = {
                "type": "leaf",
                "index": int(index),
                "leaf": base64.b64encode(bytes(leaf)).decode(),
            }
            if recorded is not None:
                entry["hash"] = base64.b64encode(bytes(recorded)).decode()
            yield _line(entry)
            while pending and pending[0].tree_size == int(index) + 1:
                yield _line({"type": "checkpoint", "note": pending.pop(0).note})
        if len(rows) != end - position:
            raise AuditError("the log has a gap below its checkpoint")
        position = end
