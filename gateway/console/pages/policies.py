"""Policy bundles: history, a proposal beside the active version, the two-person
approval, the proposal form, and the simulation form."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

import policies
from gateway.admin.policies import TwoPersonRule
from gateway.console.policy_diff import side_by_side
from gateway.console.routing import PREFIX, AdminPage, AnyUser, ConsoleRoute, Page, form_text
from gateway.console.trail import record_action
from gateway.console.wording import Wording
from gateway.platform.errors import Conflict, InvalidRequest, NotFound

router = APIRouter(route_class=ConsoleRoute)

FILE_NAME_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}\.ya?ml")
MAX_FILE_CHARS = 200_000
ACTIONS = ("read", "search", "batch", "resolve")


def author_of(page: Page) -> str:
    """How a console user is named as a policy author or approver: the person's name,
    as the API names the person its client is bound to (``gateway.admin.proposals``), so one
    person is one approver, whichever way they come in."""
    return page.user.username


@router.get("/policies")
async def policy_list(page: AnyUser) -> Response:
    active = await page.services.policies.current()
    return page.render(
        "policies.html",
        bundles=await page.services.policies.history(),
        active_id=active.bundle_id,
        policy_version=active.policy.version,
    )


async def _policy_page(
    page: Page, bundle_id: int, *, status: int = 200, message: str = ""
) -> Response:
    bundle = await page.services.policies.get(bundle_id)
    diff = await page.services.policies.diff(bundle_id)
    files = [
        {"file": f["file"], "rows": side_by_side(f["active"], f["proposed"])} for f in diff["files"]
    ]
    return page.render(
        "policy.html",
        status=status,
        bundle=bundle,
        against=diff["against"],
        files=files,
        message=message,
        own_proposal=bundle["author"] == author_of(page),
    )


@router.get("/policies/new")
async def propose_form(page: AdminPage) -> Response:
    active = await page.services.policies.get((await page.services.policies.current()).bundle_id)
    return page.render("propose.html", files=sorted(active["files"].items()), comment="", error="")


@router.get("/policies/{bundle_id}")
async def policy_view(page: AnyUser, bundle_id: int) -> Response:
    return await _policy_page(page, bundle_id)


async def _submitted_files(page: Page) -> tuple[dict[str, str], str]:
    """The files of the proposal form: the edited texts, then the uploads over them."""
    form = await page.form()
    names = form.getlist("filename")
    texts = form.getlist("content")
    files: dict[str, str] = {}
    for name, text in zip(names, texts, strict=False):
        if isinstance(name, str) and isinstance(text, str) and text.strip():
            files[name.strip()] = text.replace("\r\n", "\n")
    for upload in form.getlist("upload"):
        if isinstance(upload, UploadFile) and upload.filename:
            raw = await upload.read(MAX_FILE_CHARS + 1)
            try:
                files[upload.filename.rsplit("/", 1)[-1]] = raw.decode("utf-8").replace(
                    "\r\n", "\n"
                )
            except UnicodeDecodeError as exc:
                raise InvalidRequest(f"{upload.filename} is not UTF-8 text") from exc
    for name, text in files.items():
        if not FILE_NAME_RE.fullmatch(name):
            raise InvalidRequest(
                f"file names end in .yaml and use letters, digits, - and _: {name[:70]}"
            )
        if len(text) > MAX_FILE_CHARS:
            raise InvalidRequest(f"{name} is longer than {MAX_FILE_CHARS} characters")
    if not files:
        raise InvalidRequest("the proposal has no files")
    return files, form_text(form, "comment", 2000)


@router.post("/policies")
async def propose(page: AdminPage) -> Response:
    form = await page.form()
    try:
        files, comment = await _submitted_files(page)

        async def recorded(bundle_id: int, version: str) -> None:
            await record_action(
                page.services, page.user, "policy.propose", request_id=page.request_id,
                status=201, policy_version=version, detail={"bundle_id": bundle_id},
            )  # fmt: skip

        proposed = await page.services.policies.propose(
            files, author=author_of(page), comment=comment, recorded=recorded
        )
    except InvalidRequest as exc:
        names = [n for n in form.getlist("filename") if isinstance(n, str)]
        texts = [c for c in form.getlist("content") if isinstance(c, str)]
        await record_action(
            page.services, page.user, "policy.propose", request_id=page.request_id,
            decision="deny", status=422, reason=exc.to_problem()["code"],
        )  # fmt: skip
        return page.render(
            "propose.html",
            status=422,
            files=list(zip(names, texts, strict=False)),
            comment=form_text(form, "comment", 2000),
            error=exc.detail,
        )
    return RedirectResponse(f"{PREFIX}/policies/{proposed['id']}", status_code=303)


@router.post("/policies/{bundle_id}/approve")
async def approve(page: AdminPage, bundle_id: int) -> Response:
    """Approve a proposal. The two-person rule is the store's; a refusal is shown plainly
    and recorded in the audit log like the API records it."""
    recorded_version: list[str] = []

    async def recorded(version: str) -> None:
        await record_action(
            page.services, page.user, "policy.approve", request_id=page.request_id,
            policy_version=version, detail={"bundle_id": bundle_id},
        )  # fmt: skip
        recorded_version.append(version)

    try:
        await page.services.policies.approve(bundle_id, approver=author_of(page), recorded=recorded)
    except (TwoPersonRule, Conflict, NotFound, InvalidRequest) as exc:
        if recorded_version:
            raise
        await record_action(
            page.services, page.user, "policy.approve", request_id=page.request_id,
            decision="deny", status=exc.status, reason=exc.to_problem()["code"],
            detail={"bundle_id": bundle_id},
        )  # fmt: skip
        if isinstance(exc, NotFound):
            raise
        key = "policy.two_person" if isinstance(exc, TwoPersonRule) else "policy.not_proposed"
        return await _policy_page(page, bundle_id, status=exc.status, message=key)
    return await _policy_page(page, bundle_id, message="policy.approved")


@router.get("/simulate")
async def simulate_form(page: AnyUser) -> Response:
    return await _simulate_page(page, {}, None)


@router.post("/simulate")
async def simulate(page: AnyUser) -> Response:
    form = await page.form()
    agency, purpose = form_text(form, "agency", 64), form_text(form, "purpose", 64)
    action, legal_basis = form_text(form, "action", 16), form_text(form, "legal_basis", 200)
    bundle = form_text(form, "bundle", 12)
    fields = [f for f in form.getlist("fields") if isinstance(f, str)][:100]
    if action not in ACTIONS:
        raise InvalidRequest("the action must be read, search, batch or resolve")
    policy = await _policy_for(page, bundle)
    decision = policy.decide(
        policies.AccessRequest(
            agency=agency,
            purpose=purpose,
            action=action,  # type: ignore[arg-type]  # checked against ACTIONS above
            fields=tuple(fields) or None,
            legal_basis=legal_basis or None,
            at=datetime.now(UTC),
        )
    )
    chosen: dict[str, object] = {
        "agency": agency, "purpose": purpose, "action": action,
        "legal_basis": legal_basis, "bundle": bundle, "fields": fields,
    }  # fmt: skip
    words = Wording(page.lang, policy.bundle, page.services.regions)
    return await _simulate_page(page, chosen, decision.to_dict(), words)


async def _policy_for(page: Page, bundle: str) -> policies.Policy:
    if not bundle:
        return (await page.services.policies.current()).policy
    if not bundle.isdigit():
        raise InvalidRequest("the bundle must be a version number")
    stored = await page.services.policies.get(int(bundle))
    try:
        return policies.compile_bundle(policies.load_bundle_texts(stored["files"]))
    except policies.BundleError as exc:
        raise InvalidRequest(f"that bundle does not compile: {exc}") from exc


async def _simulate_page(
    page: Page, chosen: dict[str, object], result: dict[str, object] | None,
    words: Wording | None = None,
) -> Response:  # fmt: skip
    active = await page.services.policies.current()
    bundle = active.policy.bundle
    history = await page.services.policies.history()
    return page.render(
        "simulate.html",
        agencies=sorted(bundle.agencies.values(), key=lambda a: a.id),
        purposes=list(bundle.purposes.values()),
        datasets=[(d.id, [f.name for f in d.fields]) for d in bundle.datasets.values()],
        actions=ACTIONS,
        proposals=[b for b in history if b["status"] == "proposed"],
        chosen=chosen,
        result=result,
        words=words or page.words,
    )
