"""Proof bundles: entries of a report, or receipts, checked offline against a checkpoint.

A bundle is ``{"checkpoint": <signed note>, "entries": [{"leaf_index", "tree_size",
"leaf_hash", "audit_path", ["leaf"]}, ...]}``: each entry's RFC 9162 inclusion proof
into the checkpoint's tree. An entry logged after the checkpoint is
``{"leaf_index", "pending": true}`` and can be proven later. ``leaf`` (base64), when
present, is the exact bytes hashed into the tree.

Security decision: the checkpoint must carry the log's signature and the witness quorum
the checker asks for; every proof must lead to that checkpoint's root. A resident who
keeps a checked report can later show that an entry was in the log that witnesses saw,
even if the operator removes it and rebuilds the tree: the witnesses refuse the rebuilt
one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from audit import merkle
from audit.checkpoint import VerifierKey
from audit.cosignature import WitnessKey, verify_cosigned
from audit.errors import ProofError


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ProofError(f"{what} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ProofError(f"{what} is not base64") from exc


def verify_bundle(
    bundle: Mapping[str, Any],
    log_key: str | VerifierKey,
    witnesses: Sequence[str | WitnessKey] = (),
    quorum: int = 0,
) -> tuple[list[int], list[int]]:
    """Check a proof bundle; return the leaf indexes proven, and those still pending.

    Raises :class:`ProofError` when the checkpoint or any proof does not hold.
    """
    note = bundle.get("checkpoint")
    entries = bundle.get("entries")
    if not isinstance(note, str) or not isinstance(entries, list):
        raise ProofError("a proof bundle needs a checkpoint and entries")
    checkpoint = verify_cosigned(note, log_key, witnesses, quorum)
    proven: list[int] = []
    pending: list[int] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("leaf_index"), int):
            raise ProofError("a bundle entry needs a leaf index")
        index = entry["leaf_index"]
        if entry.get("pending") is True:
            if index < checkpoint.size:
                raise ProofError(f"leaf {index} is in the checkpoint but has no proof")
            pending.append(index)
            continue
        if entry.get("tree_size") != checkpoint.size:
            raise ProofError(f"the proof of leaf {index} is not for the checkpoint's tree")
        leaf_hash = _b64(entry.get("leaf_hash"), "leaf_hash")
        if "leaf" in entry and merkle.leaf_hash(_b64(entry["leaf"], "leaf")) != leaf_hash:
            raise ProofError(f"leaf {index} does not hash to its leaf hash")
        path = entry.get("audit_path")
        if not isinstance(path, list):
            raise ProofError("audit_path must be a list")
        hashes = [_b64(p, "audit_path") for p in path]
        try:
            merkle.verify_inclusion(leaf_hash, index, checkpoint.size, hashes, checkpoint.root_hash)
        except ProofError as exc:
            raise ProofError(f"leaf {index}: {exc}") from None
        proven.append(index)
    return proven, pending
