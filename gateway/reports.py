"""The resident's own access report ("who looked at my data", UU PDP Pasal 32).

A resident proves who they are at the city's service desk; an auditor there issues a
*report token* for that resident. The token is a JWT signed with the gateway's key, of its
own type (``report+jwt``) and audience, valid for 3 x 24 hours (the law's deadline for
answering), that carries the resident's NIK only as a pseudonym of a domain reserved for
reports. Whoever holds the token sees that one resident's report, minus entries still
hidden under an investigation, and nothing else: there is no NIK parameter to change.
"""

from __future__ import annotations

import secrets
import time

from joserfc import jwt
from joserfc.errors import JoseError

import policies
from gateway.errors import InvalidToken
from gateway.services import Services

REPORT_DOMAIN = "_resident_report"
REPORT_TYP = "report+jwt"
REPORT_TTL_SECONDS = 72 * 3600


def _audience(services: Services) -> str:
    return services.settings.audience + ":resident-report"


async def issue_report_token(services: Services, nik: str) -> tuple[str, int]:
    pseudonymiser = await services.pseudonymiser(REPORT_DOMAIN)
    now = int(time.time())
    key = services.token_server.signing_key
    claims = {
        "iss": services.settings.issuer,
        "aud": _audience(services),
        "sub": pseudonymiser.pseudonymise(nik),
        "iat": now,
        "nbf": now,
        "exp": now + REPORT_TTL_SECONDS,
        "jti": secrets.token_urlsafe(12),
    }
    header = {"alg": "ES256", "typ": REPORT_TYP, "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=["ES256"]), claims["exp"]


async def nik_from_report_token(services: Services, token: str) -> str:
    if len(token) > 4096 or token.count(".") != 2:
        raise InvalidToken("the report token is malformed")
    key = services.token_server.signing_key
    try:
        decoded = jwt.decode(token, key, algorithms=["ES256"])
        if decoded.header.get("typ") != REPORT_TYP or decoded.header.get("kid") != key.kid:
            raise InvalidToken("not a report token of this gateway")
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": services.settings.issuer},
            aud={"essential": True, "value": _audience(services)},
            exp={"essential": True},
            sub={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidToken("the report token is not valid") from exc
    pseudonymiser = await services.pseudonymiser(REPORT_DOMAIN)
    try:
        return pseudonymiser.resolve(str(decoded.claims["sub"]))
    except policies.PseudonymError as exc:
        raise InvalidToken("the report token is not valid") from exc
