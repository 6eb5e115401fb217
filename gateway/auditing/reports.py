"""The resident's own access report ("who looked at my data", UU PDP Pasal 32).

A resident proves who they are at the city's service desk; an auditor there issues a
*report token* for that resident. The token is a JWT signed with the gateway's key, of its
own type (``report+jwt``) and audience, valid for 3 x 24 hours (the law's deadline for
answering), that carries the resident's NIK only as a pseudonym of a domain reserved for
reports. Whoever holds the token sees that one resident's report, minus entries still
hidden under an investigation, and nothing else: there is no NIK parameter to change.

Each token has an id (its ``jti``, given to the auditor who issued it). An auditor can
revoke it: a lost or stolen token then opens nothing. Revocations are kept in the store,
which outlives any process, and every read with a token is an audit event of the
resident's subject (so the resident's own report shows when it was read).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

import policies
from gateway.platform import store
from gateway.platform.errors import InvalidToken
from gateway.platform.services import Services

REPORT_DOMAIN = "_resident_report"
REPORT_TYP = "report+jwt"
REPORT_TTL_SECONDS = 72 * 3600


def _audience(services: Services) -> str:
    return services.settings.audience + ":resident-report"


@dataclass(frozen=True)
class ReportToken:
    """A checked report token: whose report it opens, its id and its expiry."""

    nik: str
    report_id: str
    expires_at: int


async def issue_report_token(services: Services, nik: str) -> tuple[str, int, str]:
    """The token, its expiry (epoch seconds) and its id."""
    pseudonymiser = await services.pseudonymiser(REPORT_DOMAIN)
    now = int(time.time())
    expires = now + REPORT_TTL_SECONDS
    report_id = secrets.token_urlsafe(12)
    key = services.token_server.signing_key
    claims = {
        "iss": services.settings.issuer,
        "aud": _audience(services),
        "sub": pseudonymiser.pseudonymise(nik),
        "iat": now,
        "nbf": now,
        "exp": expires,
        "jti": report_id,
    }
    alg = services.token_server.signing_alg
    header = {"alg": alg, "typ": REPORT_TYP, "kid": key.kid}
    token = jwt.encode(header, claims, key, algorithms=[alg])
    return token, expires, report_id


async def read_report_token(services: Services, token: str) -> ReportToken:
    """Check a report token: signature, type, audience, expiry, and not revoked."""
    if len(token) > 4096 or token.count(".") != 2:
        raise InvalidToken("the report token is malformed")
    key = services.token_server.signing_key
    try:
        decoded = jwt.decode(token, key, algorithms=[services.token_server.signing_alg])
        if decoded.header.get("typ") != REPORT_TYP or decoded.header.get("kid") != key.kid:
            raise InvalidToken("not a report token of this gateway")
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": services.settings.issuer},
            aud={"essential": True, "value": _audience(services)},
            exp={"essential": True},
            sub={"essential": True},
            jti={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidToken("the report token is not valid") from exc
    report_id = str(decoded.claims["jti"])
    table = store.revoked_reports
    async with services.engine.connect() as conn:
        revoked = (
            await conn.execute(select(table.c.report_id).where(table.c.report_id == report_id))
        ).first()
    if revoked is not None:
        raise InvalidToken("the report token has been revoked")
    pseudonymiser = await services.pseudonymiser(REPORT_DOMAIN)
    try:
        nik = pseudonymiser.resolve(str(decoded.claims["sub"]))
    except policies.PseudonymError as exc:
        raise InvalidToken("the report token is not valid") from exc
    return ReportToken(nik, report_id, int(decoded.claims["exp"]))


async def revoke_report_token(services: Services, report_id: str, *, by: str) -> bool:
    """Revoke a report token by its id; False when it was revoked already."""
    expires = datetime.fromtimestamp(time.time() + REPORT_TTL_SECONDS, UTC)
    try:
        async with services.engine.begin() as conn:
            await conn.execute(
                insert(store.revoked_reports).values(
                    report_id=report_id,
                    expires_at=expires,
                    revoked_at=store.utcnow(),
                    revoked_by=by,
                )
            )
    except IntegrityError:
        return False
    return True
