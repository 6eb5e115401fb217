"""Policy bundles in the gateway store: versions, two-person approval, hot reload.

A bundle version is proposed by one person (an administrator) and becomes active only
when a *different* person approves it (the two-person rule; persons, not clients: see
``gateway.admin.proposals``). The bundle also defines the agencies and their pseudonym
domains, so adding or changing an agency follows the same rule. Each step's audit event
is appended before the step takes effect. Every worker polls the
active version's id and recompiles when it changes, so a new policy takes effect
everywhere without a restart.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import desc, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

import policies
from gateway.platform import store
from gateway.platform.errors import Conflict, GatewayError, InvalidRequest, NotFound


class TwoPersonRule(GatewayError):
    status = 403
    code = "two_person_rule"
    title = "A proposal must be approved by a different person"


def content_hash(files: dict[str, str]) -> str:
    canonical = json.dumps(files, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_bundle_dir(path: Path) -> dict[str, str]:
    files = sorted(
        p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.name != "cases.yaml"
    )
    return {p.name: p.read_text(encoding="utf-8") for p in files}


@dataclass(frozen=True)
class ActivePolicy:
    bundle_id: int
    policy: policies.Policy


class PolicyStore:
    def __init__(self, engine: AsyncEngine, *, refresh_seconds: float = 2.0) -> None:
        self._engine = engine
        self.refresh_seconds = refresh_seconds
        self._active: ActivePolicy | None = None

    async def bootstrap(self, bundle_dir: Path) -> None:
        """Install the bundle in ``bundle_dir`` as the first active version if none is."""
        async with store.begin_write(self._engine) as conn:
            existing = (
                await conn.execute(
                    select(store.policy_bundles.c.id).where(
                        store.policy_bundles.c.status == "active"
                    )
                )
            ).first()
            if existing is None:
                files = read_bundle_dir(bundle_dir)
                policies.compile_bundle(policies.load_bundle_texts(files))  # refuse a bad bundle
                await conn.execute(
                    insert(store.policy_bundles).values(
                        content_hash=content_hash(files),
                        files=json.dumps(files),
                        author="bootstrap",
                        comment=f"installed from {bundle_dir.name}",
                        status="active",
                        created_at=store.utcnow(),
                        approved_by="bootstrap",
                        approved_at=store.utcnow(),
                    )
                )
        await self.refresh(force=True)

    async def current(self) -> ActivePolicy:
        """The active policy, loaded on first use. The app's lifespan calls ``refresh``
        every ``refresh_seconds`` (``Services.start_refreshers``), so the hot path never
        touches the store and a newly approved version takes effect within that time."""
        if self._active is None:
            await self.refresh()
        assert self._active is not None
        return self._active

    async def refresh(self, *, force: bool = False) -> None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(store.policy_bundles.c.id)
                    .where(store.policy_bundles.c.status == "active")
                    .order_by(desc(store.policy_bundles.c.id))
                    .limit(1)
                )
            ).first()
            if row is None:
                raise RuntimeError("no active policy bundle; run `satugate demo` or install one")
            if force or self._active is None or self._active.bundle_id != row.id:
                files_json = (
                    await conn.execute(
                        select(store.policy_bundles.c.files).where(
                            store.policy_bundles.c.id == row.id
                        )
                    )
                ).scalar_one()
                compiled = policies.compile_bundle(
                    policies.load_bundle_texts(json.loads(files_json))
                )
                self._active = ActivePolicy(bundle_id=int(row.id), policy=compiled)

    # administration ------------------------------------------------------------------
    @staticmethod
    def validate(files: dict[str, str]) -> policies.Policy:
        """The compiled bundle, or ``InvalidRequest`` naming each problem's file and line."""
        try:
            return policies.compile_bundle(policies.load_bundle_texts(files))
        except policies.BundleError as exc:
            raise InvalidRequest(f"the bundle does not validate: {exc}") from exc

    async def propose(
        self,
        files: dict[str, str],
        *,
        author: str,
        comment: str,
        recorded: Callable[[int, str], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """Store a proposal. ``recorded(bundle_id, policy_version)`` appends its event:
        the proposal is stored unrecorded (not approvable) until that returns, and void
        when it raises."""
        compiled = self.validate(files)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                insert(store.policy_bundles).values(
                    content_hash=content_hash(files),
                    files=json.dumps(files),
                    author=author,
                    comment=comment,
                    status="unrecorded" if recorded else "proposed",
                    created_at=store.utcnow(),
                )
            )
            inserted = result.inserted_primary_key
            assert inserted is not None
            bundle_id = int(inserted[0])
        if recorded is not None:
            try:
                await recorded(bundle_id, compiled.version)
            except BaseException:
                await self._set_status(bundle_id, "void")
                raise
            await self._set_status(bundle_id, "proposed")
        return {"id": bundle_id, "status": "proposed", "policy_version": compiled.version}

    async def _set_status(self, bundle_id: int, status: str) -> None:
        async with store.begin_write(self._engine) as conn:
            await conn.execute(
                update(store.policy_bundles)
                .where(store.policy_bundles.c.id == bundle_id)
                .values(status=status)
            )

    async def get(self, bundle_id: int) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(store.policy_bundles).where(store.policy_bundles.c.id == bundle_id)
                )
            ).first()
        if row is None:
            raise NotFound("no such policy bundle")
        return _row(row, with_files=True)

    async def history(self) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(store.policy_bundles).order_by(desc(store.policy_bundles.c.id))
                )
            ).all()
        return [_row(r, with_files=False) for r in rows]

    async def _replaced(self, bundle: dict[str, Any]) -> int:
        """What a bundle is compared with: a proposal with the active version; a version
        that was in force with the one it replaced (itself for the first), so that the
        history keeps what each approval changed."""
        if bundle["status"] not in ("active", "superseded"):
            return (await self.current()).bundle_id
        table = store.policy_bundles
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(table.c.id, table.c.approved_at).where(
                        table.c.status.in_(("active", "superseded")), table.c.id != bundle["id"]
                    )
                )
            ).all()
        mine = bundle["approved_at"] or ""
        # A version in force without an approval time is the first one (the bootstrap).
        earlier = [(r.approved_at.isoformat() if r.approved_at else "", r.id) for r in rows]
        earlier = [e for e in earlier if e[0] < mine or (not e[0] and mine)]
        return max(earlier)[1] if earlier else int(bundle["id"])

    async def diff(self, bundle_id: int) -> dict[str, Any]:
        proposed = await self.get(bundle_id)
        active = await self.get(await self._replaced(proposed))
        names = sorted(set(proposed["files"]) | set(active["files"]))
        files = []
        for name in names:
            old = active["files"].get(name, "").splitlines(keepends=True)
            new = proposed["files"].get(name, "").splitlines(keepends=True)
            if old != new:
                files.append(
                    {
                        "file": name,
                        "unified": "".join(
                            difflib.unified_diff(old, new, f"active/{name}", f"proposed/{name}")
                        ),
                        "active": "".join(old),
                        "proposed": "".join(new),
                    }
                )
        return {"id": bundle_id, "against": active["id"], "files": files}

    async def approve(
        self,
        bundle_id: int,
        *,
        approver: str,
        recorded: Callable[[str], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """Activate a proposal approved by ``approver``, a person other than its author.

        ``recorded(policy_version)`` appends the approval's event after the checks and
        before the change: when it raises, the active version stays as it was.
        """
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(store.policy_bundles).where(store.policy_bundles.c.id == bundle_id)
                )
            ).first()
        if row is None:
            raise NotFound("no such policy bundle")
        if row.status != "proposed":
            raise Conflict(f"the bundle is {row.status}, not proposed")
        if row.author == approver:
            raise TwoPersonRule("the proposer cannot approve their own proposal")
        if recorded is not None:
            version = self.validate(json.loads(row.files)).version
            await recorded(version)
        async with store.begin_write(self._engine) as conn:
            claimed = await conn.execute(
                update(store.policy_bundles)
                .where(
                    store.policy_bundles.c.id == bundle_id,
                    store.policy_bundles.c.status == "proposed",
                )
                .values(status="approving")
            )
            if claimed.rowcount != 1:
                raise Conflict("the bundle was decided meanwhile")
            await conn.execute(
                update(store.policy_bundles)
                .where(store.policy_bundles.c.status == "active")
                .values(status="superseded")
            )
            await conn.execute(
                update(store.policy_bundles)
                .where(store.policy_bundles.c.id == bundle_id)
                .values(status="active", approved_by=approver, approved_at=store.utcnow())
            )
        await self.refresh(force=True)
        return await self.get(bundle_id)


def _row(row: Any, *, with_files: bool) -> dict[str, Any]:
    out = {
        "id": row.id,
        "content_hash": row.content_hash,
        "author": row.author,
        "comment": row.comment,
        "status": row.status,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "approved_by": row.approved_by,
        "approved_at": row.approved_at.isoformat() if row.approved_at else None,
    }
    if with_files:
        out["files"] = json.loads(row.files)
    return out
