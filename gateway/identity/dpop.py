"""DPoP: tokens bound to a key the client holds (RFC 9449), checked with joserfc.

A client that sends a ``DPoP`` proof with its token request gets a token carrying
``cnf.jkt``, the RFC 7638 thumbprint of the proof's public key; a deployment may require
it (``SATUGATE_DPOP_REQUIRED``). Every call with such a token must then come as
``Authorization: DPoP <token>`` with a fresh proof signed by that key, for that method
and URL (``htm``, ``htu``), made now (``iat`` within the window), over that token
(``ath``), and never seen before (``jti``, remembered in Redis across replicas, in this
process when embedded). A token copied from a log is useless without the private key.

With ``SATUGATE_DPOP_NONCE`` the proofs must also carry a nonce the gateway gave out in a
``DPoP-Nonce`` header (RFC 9449 §8-9). Nonces are stateless: an HMAC over a time step,
under a secret the replicas share (``SATUGATE_DPOP_NONCE_SECRET``), or one made by this
process when none is set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from gateway.identity.officers import JtiGuard
from gateway.platform.errors import GatewayError, bearer_challenge

# FAPI 2.0's algorithms (Security Profile §5.4): never "none", never a shared-secret
# (HS*) algorithm, and no RS256 (PKCS#1 v1.5) for a client's own signatures.
ALGORITHMS = ["ES256", "EdDSA", "PS256"]
_KEY_TYPES = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
NONCE_STEP_SECONDS = 120


class _ProofRegistry(jws.JWSRegistry):
    # A proof's header carries its public key: an RSA key does not fit in the default 512.
    max_header_length = 2048


_REGISTRY = _ProofRegistry(algorithms=ALGORITHMS)


class InvalidDpopProof(GatewayError):
    """401: the DPoP proof is missing, malformed, for another call, stale or replayed."""

    status = 401
    code = "invalid_dpop_proof"
    title = "Invalid DPoP proof"

    def __init__(self, detail: str) -> None:
        challenge = bearer_challenge("invalid_dpop_proof", scheme="DPoP")
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class UseDpopNonce(GatewayError):
    """401: the proof must carry the nonce given in ``DPoP-Nonce`` (RFC 9449 §9)."""

    status = 401
    code = "use_dpop_nonce"
    title = "DPoP nonce required"

    def __init__(self, nonce: str) -> None:
        super().__init__(
            "the DPoP proof must carry the nonce given in the DPoP-Nonce header",
            headers={
                "WWW-Authenticate": bearer_challenge("use_dpop_nonce", scheme="DPoP"),
                "DPoP-Nonce": nonce,
            },
        )


def access_token_hash(token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token (RFC 9449 §4.2)."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class DpopVerifier:
    guard: JtiGuard
    window_seconds: int = 60
    required: bool = False
    nonce_required: bool = False
    nonce_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # A nonce is good for the step it was made in and the next one (RFC 9449 §8: the
    # server rotates them; a client takes the fresh one each answer carries).
    nonce_step_seconds: float = NONCE_STEP_SECONDS

    # nonces -------------------------------------------------------------------------
    def nonce(self, now: float | None = None) -> str:
        step = int((now if now is not None else time.time()) // self.nonce_step_seconds)
        return self._nonce_for(step)

    def _nonce_for(self, step: int) -> str:
        mac = hmac.new(self.nonce_secret, f"dpop-nonce:{step}".encode(), "sha256").digest()
        return f"{step}.{base64.urlsafe_b64encode(mac[:18]).decode('ascii')}"

    def _nonce_ok(self, value: object) -> bool:
        if not isinstance(value, str) or len(value) > 64:
            return False
        step = int(time.time() // self.nonce_step_seconds)
        return any(hmac.compare_digest(value, self._nonce_for(s)) for s in (step, step - 1))

    # proofs -------------------------------------------------------------------------
    async def check(
        self, proof: str | None, *, method: str, url: str, access_token: str | None = None
    ) -> str:
        """Verify one proof for this call; the thumbprint (``jkt``) of its key."""
        if not proof:
            raise InvalidDpopProof("a DPoP proof is required")
        if len(proof) > 8192 or proof.count(".") != 2:
            raise InvalidDpopProof("the DPoP proof is malformed")
        try:
            header = jws.extract_compact(proof.encode("ascii"), registry=_REGISTRY).headers()
        except (JoseError, ValueError, TypeError, UnicodeError) as exc:
            raise InvalidDpopProof("the DPoP proof is malformed") from exc
        if header.get("typ") != "dpop+jwt" or header.get("alg") not in ALGORITHMS:
            raise InvalidDpopProof("the DPoP proof's typ or alg is not accepted")
        key = _public_key(header.get("jwk"))
        try:
            decoded = jwt.decode(proof, key, algorithms=ALGORITHMS, registry=_REGISTRY)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidDpopProof("the DPoP proof's signature is invalid") from exc
        claims: dict[str, Any] = decoded.claims
        jti, iat = claims.get("jti"), claims.get("iat")
        if not isinstance(jti, str) or not 0 < len(jti) <= 128:
            raise InvalidDpopProof("the DPoP proof's jti is missing or malformed")
        if claims.get("htm") != method:
            raise InvalidDpopProof("the DPoP proof is for another method")
        if not isinstance(claims.get("htu"), str) or _bare(claims["htu"]) != _bare(url):
            raise InvalidDpopProof("the DPoP proof is for another URL")
        now = time.time()
        if not isinstance(iat, int | float) or abs(now - iat) > self.window_seconds:
            raise InvalidDpopProof("the DPoP proof is not fresh")
        if access_token is not None:
            ath = claims.get("ath")
            expected = access_token_hash(access_token)
            if not isinstance(ath, str) or not hmac.compare_digest(ath, expected):
                raise InvalidDpopProof("the DPoP proof is not over this access token")
        if self.nonce_required and not self._nonce_ok(claims.get("nonce")):
            raise UseDpopNonce(self.nonce())
        jkt = key.thumbprint()
        if not await self.guard.first_use(f"{jkt}:{jti}", self.window_seconds * 2 + 5):
            raise InvalidDpopProof("the DPoP proof has been used before")
        return jkt


def _public_key(jwk: object) -> ECKey | RSAKey | OKPKey:
    if not isinstance(jwk, dict) or jwk.get("kty") not in _KEY_TYPES:
        raise InvalidDpopProof("the DPoP proof carries no asymmetric public key")
    if _PRIVATE_MEMBERS & set(jwk):
        raise InvalidDpopProof("the DPoP proof's key must be a public key")
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidDpopProof("the DPoP proof's key is malformed") from exc
    if not isinstance(key, ECKey | RSAKey | OKPKey):
        raise InvalidDpopProof("the DPoP proof carries no asymmetric public key")
    return key


def _bare(url: str) -> str:
    """The URL without query and fragment (RFC 9449 §4.3), for comparison."""
    return url.split("#", 1)[0].split("?", 1)[0]
