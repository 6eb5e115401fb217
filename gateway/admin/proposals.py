"""Changes that widen or alter access: proposed by one person, approved by another.

A *person* is a registered console user (``gw_console_users``): an administrator or an
auditor. In the console the signed-in user is the person; through the API the person is
the one the calling ``admin`` or ``audit`` client is bound to (``gw_clients.person``,
set when the client was approved). A person's second client is the same person, so
minting, rotating or borrowing a client never yields a second approver.

What needs a second person, and which one:

* ``client.create`` and ``client.scopes``: any other person, who receives the secret
  (shown once). An ``admin`` or ``audit`` client is bound to a person, and only that
  person may approve it: the secret goes to no one else. An auditor's client is thus
  approved on the auditors' side, never by administrators alone.
* ``client.rotate``: the new secret goes to the approver; for an ``admin`` or ``audit``
  client the approver is its own person. Tokens issued under the old secret stop at
  approval, on every replica (``gateway.identity.revocation``).
* ``client.revoke`` of an ``admin`` or ``audit`` client (an agency's data client is
  revoked at once, by one administrator: revoking narrows access); changes to an
  ``audit`` client are approved by an auditor.
* ``key.retire``: another administrator.
* Policy bundles (which also define the agencies and their pseudonym domains) follow the
  same rule in ``gateway.admin.policies``.

Every step is recorded before it takes effect: the event is appended first, and when the
append fails nothing changes (fail closed); a refusal is recorded too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import insert, select, update

import audit
from gateway.identity import client_auth, clients
from gateway.platform import keys as keymod
from gateway.platform import store
from gateway.platform.errors import (
    AuditUnavailable,
    Conflict,
    GatewayError,
    InvalidRequest,
    NotFound,
)
from gateway.platform.services import Services

KINDS = (
    "client.create", "client.scopes", "client.rotate", "client.revoke", "client.keys",
    "key.retire",
    "investigation.open", "investigation.close",
)  # fmt: skip
# Investigations (``gateway.auditing.investigations``) hidden for more than 30 days: auditors.
_AUDITORS_KINDS = ("investigation.open", "investigation.close")
_ROLE_OF_SCOPE = {"admin": "admin", "audit": "auditor"}


class TwoPersonRule(GatewayError):
    status = 403
    code = "two_person_rule"
    title = "A proposal must be approved by a different person"


class PersonRequired(GatewayError):
    status = 403
    code = "person_required"
    title = "This change needs a registered person, not only a client"


class WrongApprover(GatewayError):
    status = 403
    code = "approver_not_permitted"
    title = "This person may not approve this change"


@dataclass(frozen=True)
class Person:
    """A registered person: a console user, an administrator or an auditor."""

    username: str
    role: str


class Recorder(Protocol):
    """Appends one event of the acting person's call; durable when it returns."""

    def __call__(
        self,
        action: str,
        *,
        decision: str,
        status: int,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
        policy_version: str | None = None,
    ) -> Awaitable[audit.Receipt]: ...


async def person_named(services: Services, username: str | None) -> Person | None:
    if not username:
        return None
    table = store.console_users
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(
                select(table.c.username, table.c.role).where(table.c.username == username)
            )
        ).first()
    return None if row is None else Person(str(row.username), str(row.role))


async def person_of_client(services: Services, client_id: str) -> Person | None:
    """The person an ``admin`` or ``audit`` client acts for, if it is bound to one."""
    client = await clients.get_client(services.engine, client_id)
    if client is None or client["status"] != "active":
        return None
    return await person_named(services, client["person"])


def _receipt(receipt: audit.Receipt) -> dict[str, Any]:
    return receipt.to_dict()


async def refused(
    record: Recorder, action: str, error: GatewayError, **detail: Any
) -> GatewayError:
    """Record a refusal; hand back the error to raise."""
    decision = "deny" if error.status in (403, 404, 409) else "error"
    await record(
        action, decision=decision, status=error.status, reason=error.to_problem()["code"],
        detail=detail,
    )  # fmt: skip
    return error


# -- proposing -------------------------------------------------------------------------


async def propose(
    services: Services, person: Person, kind: str, payload: dict[str, Any], record: Recorder
) -> dict[str, Any]:
    """Check a proposed change and store it; it takes effect only when approved."""
    try:
        if kind not in KINDS:
            raise InvalidRequest(f"a proposal is one of {', '.join(KINDS)}")
        await _check_proposal(services, person, kind, payload)
    except GatewayError as exc:
        raise await refused(record, "change.propose", exc, kind=kind, **_safe(payload)) from None
    # Stored unrecorded (not approvable), then the event, then made approvable: when the
    # event cannot be appended the proposal is void and nothing else happened.
    async with store.begin_write(services.engine) as conn:
        result = await conn.execute(
            insert(store.proposals).values(
                kind=kind,
                payload=json.dumps(payload, sort_keys=True),
                proposed_by=person.username,
                status="unrecorded",
                created_at=store.utcnow(),
            )
        )
        proposal_id = int(result.inserted_primary_key[0])
    try:
        receipt = await record(
            "change.propose", decision="allow", status=201,
            detail={"proposal_id": proposal_id, "kind": kind, **_safe(payload)},
        )  # fmt: skip
    except AuditUnavailable:
        await _set_status(services, proposal_id, "void")
        raise
    await _set_status(services, proposal_id, "proposed")
    return {
        "id": proposal_id,
        "kind": kind,
        "status": "proposed",
        "proposed_by": person.username,
        "payload": payload,
        "audit": _receipt(receipt),
    }


async def _set_status(services: Services, proposal_id: int, status: str) -> None:
    async with store.begin_write(services.engine) as conn:
        await conn.execute(
            update(store.proposals).where(store.proposals.c.id == proposal_id).values(status=status)
        )


def _safe(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload's fields that may go into an event (names, ids, scopes: no secrets)."""
    keep = ("client_id", "name", "agency", "scopes", "person", "domain", "version",
            "investigation_id")  # fmt: skip
    return {k: payload[k] for k in keep if k in payload}


async def _check_proposal(
    services: Services, person: Person, kind: str, payload: dict[str, Any]
) -> None:
    if kind in _AUDITORS_KINDS:
        if person.role != "auditor":
            raise PersonRequired("only auditors propose this change")
        await _check_investigation(services, kind, payload)
        return
    if person.role != "admin" and kind != "client.create":
        raise PersonRequired("only administrators propose this change")
    if kind == "client.create":
        await _check_new_client(services, person, payload)
    elif kind in ("client.scopes", "client.rotate", "client.revoke", "client.keys"):
        client = await _active_client(services, payload)
        if kind == "client.keys":
            payload["jwks"] = client_auth.checked_key_source(
                payload.get("jwks"),
                payload.pop("jwks_uri", None),
                http_loopback=services.settings.client_jwks_http_loopback,
            )
            for flag in ("secrets_disabled", "dpop_required"):
                if not isinstance(payload.get(flag, False), bool):
                    raise InvalidRequest(f"{flag} is true or false")
        if kind == "client.scopes":
            scopes = payload.get("scopes")
            if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                raise InvalidRequest("scopes is a list of scope names")
            clients.check_scopes([*client["scopes"], *scopes])
        if client["person"] == person.username and kind != "client.revoke":
            raise TwoPersonRule("a person's own client is changed on another person's proposal")
    elif kind == "key.retire":
        domain, version = payload.get("domain"), payload.get("version")
        if not isinstance(domain, str) or not isinstance(version, int):
            raise InvalidRequest("key.retire names a domain and a version")
        await _check_retirement(services, domain, version)


async def _check_new_client(services: Services, person: Person, payload: dict[str, Any]) -> None:
    name, agency, scopes = payload.get("name"), payload.get("agency"), payload.get("scopes")
    if not isinstance(name, str) or not name or not isinstance(agency, str):
        raise InvalidRequest("a new client has a name and an agency")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise InvalidRequest("scopes is a list of scope names")
    clients.check_scopes(scopes)
    active = await services.policies.current()
    if agency not in active.policy.agencies:
        raise InvalidRequest("the agency is not in the active policy bundle")
    role = clients.role_scope(scopes)
    bound = payload.get("person")
    if role is None:
        if bound is not None:
            raise InvalidRequest("only an admin or audit client is bound to a person")
        if person.role != "admin":
            raise PersonRequired("only administrators propose agency clients")
        return
    target = await person_named(services, bound if isinstance(bound, str) else None)
    if target is None or target.role != _ROLE_OF_SCOPE[role]:
        raise PersonRequired(
            f"an {role} client names its person: a registered {_ROLE_OF_SCOPE[role]}"
        )
    if target.username == person.username:
        raise TwoPersonRule("a client for yourself is proposed by another person")


async def _active_client(services: Services, payload: Mapping[str, Any]) -> dict[str, Any]:
    client_id = payload.get("client_id")
    client = (
        await clients.get_client(services.engine, client_id) if isinstance(client_id, str) else None
    )
    if client is None or client["status"] != "active":
        raise NotFound("no active client with this id")
    return client


async def _check_retirement(services: Services, domain: str, version: int) -> None:
    try:
        versions = await services.keyring.versions(keymod.PSEUDONYM, domain)
    except keymod.KeyError_ as exc:
        raise NotFound("no such key") from exc
    if version == versions.current:
        raise Conflict("the current version cannot be retired; rotate first")
    if version not in versions.keys:
        raise NotFound(f"no active version {version} to retire")


# -- approving -------------------------------------------------------------------------


async def get(services: Services, proposal_id: int) -> dict[str, Any]:
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(select(store.proposals).where(store.proposals.c.id == proposal_id))
        ).first()
    if row is None:
        raise NotFound("no such proposal")
    return _row(row)


async def listed(services: Services, *, status: str | None = None) -> list[dict[str, Any]]:
    query = select(store.proposals).order_by(store.proposals.c.id.desc())
    if status is not None:
        query = query.where(store.proposals.c.status == status)
    async with services.engine.connect() as conn:
        return [_row(r) for r in (await conn.execute(query)).all()]


def _row(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "payload": json.loads(row.payload),
        "status": row.status,
        "proposed_by": row.proposed_by,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "approved_by": row.approved_by,
        "approved_at": row.approved_at.isoformat() if row.approved_at else None,
    }


async def approve(
    services: Services, person: Person, proposal_id: int, record: Recorder
) -> dict[str, Any]:
    """Approve a proposal and apply it; the answer carries a new secret when it made one.

    The checks come first, then the event, then the change: a failed append leaves the
    proposal proposed and the store unchanged. Two approvals racing for one proposal:
    the store's conditional update lets one through.
    """
    action = "change.propose"
    try:
        proposal = await get(services, proposal_id)
        action = proposal["kind"]
        if proposal["status"] != "proposed":
            raise Conflict(f"the proposal is {proposal['status']}, not proposed")
        if proposal["proposed_by"] == person.username:
            raise TwoPersonRule("the proposer cannot approve their own proposal")
        await _check_approver(services, person, proposal)
        await _still_valid(services, proposal)
    except GatewayError as exc:
        raise await refused(record, action, exc, proposal_id=proposal_id) from None
    payload = proposal["payload"]
    detail = {
        "proposal_id": proposal_id,
        "proposed_by": proposal["proposed_by"],
        "approved_by": person.username,
        **_safe(payload),
    }
    receipt = await record(action, decision="allow", status=200, detail=detail)
    async with store.begin_write(services.engine) as conn:
        result = await conn.execute(
            update(store.proposals)
            .where(store.proposals.c.id == proposal_id, store.proposals.c.status == "proposed")
            .values(status="approved", approved_by=person.username, approved_at=store.utcnow())
        )
    if result.rowcount != 1:
        raise Conflict("the proposal was decided meanwhile")
    out: dict[str, Any] = {**(await get(services, proposal_id)), "audit": _receipt(receipt)}
    out.update(await _apply(services, action, payload))
    return out


async def _still_valid(services: Services, proposal: dict[str, Any]) -> None:
    """The change can still be made as proposed (the clients, the keys or the active
    bundle may have changed since)."""
    kind, payload = proposal["kind"], proposal["payload"]
    if kind in _AUDITORS_KINDS:
        await _check_investigation(services, kind, payload)
    elif kind == "client.create":
        clients.check_scopes(payload["scopes"])
        if payload["agency"] not in (await services.policies.current()).policy.agencies:
            raise InvalidRequest("the agency is no longer in the active policy bundle")
    elif kind == "key.retire":
        await _check_retirement(services, payload["domain"], payload["version"])
    else:
        client = await _active_client(services, payload)
        if kind == "client.scopes":
            clients.check_scopes([*client["scopes"], *payload["scopes"]])


async def _check_approver(services: Services, person: Person, proposal: dict[str, Any]) -> None:
    kind, payload = proposal["kind"], proposal["payload"]
    if kind in _AUDITORS_KINDS:
        if person.role != "auditor":
            raise WrongApprover("an investigation is approved by a second auditor")
        return
    if kind == "client.create":
        bound = payload.get("person")
        role = clients.role_scope(payload.get("scopes", []))
        if role is not None and bound != person.username:
            raise WrongApprover(
                f"an {role} client is approved by the person it is for, who receives its secret"
            )
        if role is None and person.role != "admin":
            raise WrongApprover("an agency client is approved by an administrator")
        return
    if kind == "key.retire":
        if person.role != "admin":
            raise WrongApprover("a key is retired by administrators")
        return
    client = await clients.get_client(services.engine, payload.get("client_id", ""))
    role = clients.role_scope(client["scopes"]) if client else None
    bound = client["person"] if client else None
    if kind == "client.rotate" and role is not None and bound != person.username:
        raise WrongApprover("a new secret of an admin or audit client goes to its own person")
    if role == "audit" and person.role != "auditor":
        raise WrongApprover("changes to an audit client are approved by an auditor")
    if role != "audit" and person.role != "admin":
        raise WrongApprover("this change is approved by an administrator")


async def _apply(services: Services, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    engine = services.engine
    if kind in _AUDITORS_KINDS:
        return await _apply_investigation(services, kind, payload)
    if kind == "client.create":
        creds = await clients.create_client(
            engine,
            name=payload["name"],
            agency=payload["agency"],
            scopes=payload["scopes"],
            person=payload.get("person"),
        )
        return {"client_id": creds.client_id, "client_secret": creds.client_secret}
    if kind == "client.scopes":
        return {"scopes": await clients.add_scopes(engine, payload["client_id"], payload["scopes"])}
    if kind == "client.rotate":
        before = await clients.get_client(engine, payload["client_id"])
        creds = await clients.rotate_secret(engine, payload["client_id"])
        if before is not None:
            await revoke_generation(services, payload["client_id"], before["generation"])
        return {"client_id": creds.client_id, "client_secret": creds.client_secret}
    if kind == "client.keys":
        disabled = bool(payload.get("secrets_disabled", False))
        dpop = bool(payload.get("dpop_required", False))
        await client_auth.set_keys(
            engine,
            payload["client_id"],
            payload["jwks"],
            secrets_disabled=disabled,
            dpop_required=dpop,
        )
        return {"client_id": payload["client_id"], "secrets_disabled": disabled,
                "dpop_required": dpop}  # fmt: skip
    if kind == "client.revoke":
        await revoke(services, payload["client_id"])
        return {"client_id": payload["client_id"], "client_status": "revoked"}
    await services.keyring.retire(keymod.PSEUDONYM, payload["domain"], payload["version"])
    return {"domain": payload["domain"], "version": payload["version"]}


async def _check_investigation(services: Services, kind: str, payload: Mapping[str, Any]) -> None:
    from gateway.auditing import investigations  # it builds on this module

    investigation_id = payload.get("investigation_id")
    if not isinstance(investigation_id, int):
        raise InvalidRequest("an investigation proposal names its investigation")
    item = await investigations.get(services, investigation_id)
    expected = ("unrecorded", "proposed") if kind == "investigation.open" else ("open",)
    if item["status"] not in expected:
        raise Conflict(f"the investigation is {item['status']}")


async def _apply_investigation(
    services: Services, kind: str, payload: Mapping[str, Any]
) -> dict[str, Any]:
    from gateway.auditing import investigations

    investigation_id = int(payload["investigation_id"])
    if kind == "investigation.open":
        await investigations.set_status(services, investigation_id, "open", expect="proposed")
    else:
        await investigations.set_status(
            services, investigation_id, "closed", expect="open",
            closed_by=payload.get("by"), closed_at=store.utcnow(),
            close_note=payload.get("note") or None,
        )  # fmt: skip
    return {"investigation": await investigations.get(services, investigation_id)}


async def revoke_generation(services: Services, client_id: str, generation: str) -> None:
    """Refuse the tokens issued under a client's old secret, on every replica, until
    the last of them has expired anyway."""
    until = datetime.now(UTC) + timedelta(seconds=services.settings.token_ttl_seconds + 60)
    await services.revocation.revoke_client(f"{client_id}~{generation}", until=until)


async def revoke(services: Services, client_id: str) -> None:
    """Revoke a client in the store, then every token it holds, at once."""
    await clients.revoke_client(services.engine, client_id)
    await services.revocation.revoke_client(client_id)


async def revoke_data_client(
    services: Services, person: Person, client_id: str, record: Recorder
) -> dict[str, Any]:
    """Revoke an agency's data client at once (revoking narrows access: one person).

    An ``admin`` or ``audit`` client is revoked on a proposal instead, so that no
    administrator can shut another out alone.
    """
    try:
        if person.role != "admin":
            raise PersonRequired("only administrators revoke clients")
        client = await _active_client(services, {"client_id": client_id})
        if clients.role_scope(client["scopes"]) is not None:
            raise TwoPersonRule("an admin or audit client is revoked on a proposal")
    except GatewayError as exc:
        raise await refused(record, "client.revoke", exc, client_id=client_id) from None
    receipt = await record(
        "client.revoke", decision="allow", status=200,
        detail={"client_id": client_id, "revoked_by": person.username},
    )  # fmt: skip
    await revoke(services, client_id)
    return {"client_id": client_id, "status": "revoked", "audit": _receipt(receipt)}
