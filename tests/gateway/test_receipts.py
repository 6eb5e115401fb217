"""An agency proves what it received: receipt -> leaf -> inclusion proof -> signed checkpoint.

The checks here are written from RFC 9162 §2.1.3.2 and the C2SP signed-note format
directly, with ``hashlib`` and ``cryptography``, not with satugate's own ``audit``
package: a third party with only the verifier key must be able to do this.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.gateway.conftest import Gateway
from tests.gateway.residents import pick


def rfc9162_root_from_inclusion(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


def verify_note(note: str, verifier_key: str) -> tuple[int, bytes]:
    name, key_id_hex, key_b64 = verifier_key.strip().split("+", 2)
    key = base64.b64decode(key_b64)
    assert key[0] == 0x01, "Ed25519 verifier key"
    body, _, sigs = note.partition("\n\n")
    body += "\n"
    for line in sigs.strip().splitlines():
        dash, signer, blob_b64 = line.split(" ")
        blob = base64.b64decode(blob_b64)
        if dash == "\u2014" and signer == name and blob[:4].hex() == key_id_hex:
            Ed25519PublicKey.from_public_bytes(key[1:]).verify(blob[4:], body.encode())
            lines = body.splitlines()
            return int(lines[1]), base64.b64decode(lines[2])
    raise AssertionError("no signature by the published key")


async def test_agency_verifies_its_receipt_like_a_third_party(
    gateway: Gateway, demo_sources: Path
) -> None:
    residents = pick(demo_sources, city="35.78", n=3)
    h = await gateway.headers("demo-dinsos")
    receipts = []
    for r in residents:
        resp = await gateway.client.get(f"/v1/residents/{r['nik']}", headers=h)
        assert resp.status_code == 200, resp.text
        receipts.append(resp.json()["audit"])

    verifier_key = (await gateway.client.get("/audit/verifier-key")).text
    for _ in range(50):  # the checkpointer signs at least every checkpoint_interval
        note = (await gateway.client.get("/audit/checkpoint")).text
        size, root = verify_note(note, verifier_key)
        if size > receipts[-1]["leaf_index"]:
            break
        await asyncio.sleep(0.1)
    assert size > receipts[-1]["leaf_index"]

    for receipt in receipts:
        leaf = await gateway.client.get(f"/audit/leaves/{receipt['leaf_index']}", headers=h)
        assert leaf.status_code == 200
        assert receipt["event_id"].encode() in leaf.content
        proof = (
            await gateway.client.get(
                "/audit/proof/inclusion",
                params={"leaf_index": receipt["leaf_index"], "tree_size": size},
                headers=h,
            )
        ).json()
        leaf_hash = hashlib.sha256(b"\x00" + leaf.content).digest()
        assert base64.b64decode(proof["leaf_hash"]) == leaf_hash
        path = [base64.b64decode(p) for p in proof["audit_path"]]
        assert rfc9162_root_from_inclusion(leaf_hash, receipt["leaf_index"], size, path) == root

        tampered = leaf.content.replace(b'"allow"', b'"deny"')
        bad_hash = hashlib.sha256(b"\x00" + tampered).digest()
        assert rfc9162_root_from_inclusion(bad_hash, receipt["leaf_index"], size, path) != root

    # Another agency cannot read dinsos's leaves (it may still check proofs of its own).
    other = await gateway.headers("demo-bappeda", purpose="development_planning")
    denied = await gateway.client.get(f"/audit/leaves/{receipts[0]['leaf_index']}", headers=other)
    assert denied.status_code == 404
