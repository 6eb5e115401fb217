"""Proof bundles for residents' reports and agencies' receipts (see :mod:`audit.bundles`).

Built against the checkpoint the gateway serves: with witnesses configured, the newest
one carrying their cosignatures, so that a saved report can be checked offline without
trusting the gateway.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from audit.checkpoint import parse_note
from audit.models import b64
from gateway.platform.services import Services


async def served_checkpoint(services: Services) -> str:
    if services.witnesses is not None:
        return await services.witnesses.checkpoint()
    return await services.audit.checkpoint()


async def proof_bundle(
    services: Services,
    leaf_indexes: Iterable[int],
    *,
    leaves_of_agency: str | None = None,
    all_leaves: bool = False,
) -> dict[str, Any]:
    """Inclusion proofs of ``leaf_indexes`` into the served checkpoint.

    The leaf bytes are added for an auditor (``all_leaves``) or for the leaves of
    ``leaves_of_agency``: what ``/audit/leaves`` would show the same caller.
    """
    note = await served_checkpoint(services)
    size = parse_note(note)[0].size
    entries: list[dict[str, Any]] = []
    for index in dict.fromkeys(leaf_indexes):
        if index >= size:
            entries.append({"leaf_index": index, "pending": True})
            continue
        entry = (await services.audit.inclusion_proof(index, size)).to_dict()
        if all_leaves or leaves_of_agency is not None:
            leaf = await services.audit.leaf(index)
            if all_leaves or json.loads(leaf).get("agency") == leaves_of_agency:
                entry["leaf"] = b64(leaf)
        entries.append(entry)
    return {"checkpoint": note, "entries": entries}
