"""The sealed part of an audit event: what the log must hold and the agency must not read.

An agency reads the leaves of its own calls (to prove what it was told). Some truths in
an event would turn those leaves into an oracle: that a resident it was told "not found"
exists outside its jurisdiction, say. Such facts travel in the event's ``sealed`` member,
AES-GCM under a key derived from the audit key, padded to a fixed size, with a fresh
nonce: every sealed member of the same kind has the same length and looks random, so an
agency cannot tell one truth from another. The auditors' API opens them.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PAD = 128
_INFO = b"satugate/audit/sealed/v1"


class Sealer:
    __slots__ = ("_aead",)

    def __init__(self, audit_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(audit_key)
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Sealer(***)"

    def seal(self, facts: Mapping[str, Any]) -> str:
        plain = json.dumps(dict(facts), sort_keys=True, separators=(",", ":")).encode()
        size = -(-(len(plain) + 1) // PAD) * PAD
        padded = plain.ljust(size, b" ")
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, padded, _INFO)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def unseal(self, text: str) -> dict[str, Any] | None:
        """The facts, or ``None`` for a member this key did not seal."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            plain = self._aead.decrypt(raw[:12], raw[12:], _INFO)
            facts = json.loads(plain)
        except (InvalidTag, ValueError, TypeError):
            return None
        return facts if isinstance(facts, dict) else None
