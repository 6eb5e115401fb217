"""Pseudonyms: deterministic per agency domain, unlinkable across domains, reversible
only with the domain's keys (AES-SIV, RFC 5297)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from policies.errors import (
    ForeignPseudonym,
    LegacyPseudonym,
    MalformedPseudonym,
    RetiredKeyVersion,
)

PREFIX = "ps2"
SUBJECT_FIELD = "nik"
KEY_BYTES = 64  # AES-SIV with a 512-bit key (two AES-256 keys)
_LABEL = b"satugate/pseudonym/v2"
_FIELD = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TOKEN = re.compile(r"^ps2\.([1-9][0-9]{0,8})\.([a-z][a-z0-9_]{0,63})\.([A-Za-z0-9_-]{22,})$")
_LEGACY = re.compile(r"^ps1\.[1-9][0-9]{0,8}\.[A-Za-z0-9_-]{22,}$")


class Pseudonymiser:
    """Makes and resolves the pseudonyms of one domain (one agency).

    Tokens look like ``ps2.<key version>.<field>.<base64url>``. Determinism is what
    makes a pseudonym useful (the same resident, the same token, every time) and AES-SIV
    gives it without a nonce. Security: the domain, the key version and the field are
    bound as associated data, so a token cannot be moved to another domain, relabelled
    with another version or passed off as another field's (a family-card number that
    equals someone's NIK gets a different token from that NIK); tampering fails
    authentication and is reported like a foreign token. Tokens of the first format
    (``ps1``, no field) are refused with ``LegacyPseudonym``.
    """

    __slots__ = ("_current", "_domain_ad", "_sivs", "domain")

    def __init__(self, domain: str, keys: Mapping[int, bytes], current_version: int) -> None:
        if not domain:
            raise ValueError("a pseudonym domain is required")
        if current_version not in keys:
            raise ValueError("the current key version has no key")
        for version, key in keys.items():
            if not isinstance(version, int) or version < 1:
                raise ValueError("key versions are positive whole numbers")
            if len(key) != KEY_BYTES:
                raise ValueError(f"pseudonym keys are {KEY_BYTES} bytes")
        self.domain = domain
        self._domain_ad = domain.encode("utf-8")
        self._current = current_version
        self._sivs = {version: AESSIV(bytes(key)) for version, key in keys.items()}

    def __repr__(self) -> str:  # keys never print
        return f"Pseudonymiser(domain={self.domain!r}, versions={sorted(self._sivs)})"

    @property
    def current_version(self) -> int:
        return self._current

    def _ad(self, version: int, field: str) -> list[bytes]:
        return [_LABEL, self._domain_ad, str(version).encode("ascii"), field.encode("ascii")]

    def pseudonymise(self, value: str, field: str = SUBJECT_FIELD) -> str:
        """The token of ``value`` of ``field`` in this domain under the current key
        version."""
        if not _FIELD.fullmatch(field):
            raise ValueError("a field name is lower-case letters, digits and underscores")
        siv = self._sivs[self._current]
        sealed = siv.encrypt(value.encode("utf-8"), self._ad(self._current, field))
        body = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
        return f"{PREFIX}.{self._current}.{field}.{body}"

    def resolve(self, token: str, field: str = SUBJECT_FIELD) -> str:
        """The value behind a token of this domain made for ``field``.

        Raises ``MalformedPseudonym`` for a token of the wrong shape, ``LegacyPseudonym``
        for one of the first format, ``RetiredKeyVersion`` when its key version has been
        retired, and ``ForeignPseudonym`` for a token of another domain or another field,
        or a tampered one (the same error for all, on purpose).
        """
        if isinstance(token, str) and _LEGACY.match(token):
            raise LegacyPseudonym("a pseudonym of the first format names no field")
        match = _TOKEN.match(token) if isinstance(token, str) else None
        if match is None:
            raise MalformedPseudonym("not a pseudonym")
        version = int(match.group(1))
        if match.group(2) != field:
            raise ForeignPseudonym("pseudonym does not belong to this domain")
        body = match.group(3)
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise MalformedPseudonym("not a pseudonym") from None
        if len(sealed) <= 16:
            raise MalformedPseudonym("not a pseudonym")
        if base64.urlsafe_b64encode(sealed).rstrip(b"=").decode() != body:
            # A changed last character can decode to the same bytes; refuse it as tampered
            # so that one pseudonym has exactly one spelling.
            raise ForeignPseudonym("pseudonym does not belong to this domain")
        siv = self._sivs.get(version)
        if siv is None:
            if version < self._current:
                raise RetiredKeyVersion(f"pseudonym key version {version} has been retired")
            raise ForeignPseudonym("pseudonym does not belong to this domain")
        try:
            plain = siv.decrypt(sealed, self._ad(version, field))
        except InvalidTag:
            raise ForeignPseudonym("pseudonym does not belong to this domain") from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:  # pragma: no cover - authenticated, so only our own bytes
            raise ForeignPseudonym("pseudonym does not belong to this domain") from None
