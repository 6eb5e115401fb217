"""Policy bundles through the console: propose, compare, two-person approval, simulate."""

from __future__ import annotations

from tests.console.conftest import ADMIN_1, ADMIN_2, AUDITOR, BOTH_STORES, Browser, Console

CHANGED_LINE = "    description: Planning public works, services and budgets by area."


async def _propose(console_app: Console, admin: Browser, comment: str = "perencanaan") -> int:
    active = await console_app.services.policies.get(
        (await console_app.services.policies.current()).bundle_id
    )
    files = dict(active["files"])
    assert "    description: Planning public works and services by area." in files["purposes.yaml"]
    files["purposes.yaml"] = files["purposes.yaml"].replace(
        "    description: Planning public works and services by area.", CHANGED_LINE
    )
    response = await admin.post(
        "/console/policies",
        {"filename": list(files), "content": list(files.values()), "comment": comment},
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[-1])


@BOTH_STORES
async def test_two_person_approval_through_the_console(console_app: Console) -> None:
    store = console_app.services.policies
    first_active = (await store.current()).bundle_id
    proposer = await console_app.signed_in(ADMIN_1)
    bundle_id = await _propose(console_app, proposer)
    assert (await store.get(bundle_id))["status"] == "proposed"
    assert (await store.get(bundle_id))["author"] == "admin.satu"

    page = await proposer.get(f"/console/policies/{bundle_id}")
    assert page.status_code == 200
    assert "purposes.yaml" in page.text and "budgets by area" in page.text
    assert 'class="change"' in page.text, "the changed line is shown side by side"
    assert "Anda sendiri yang mengusulkan" in page.text

    refused = await proposer.post(f"/console/policies/{bundle_id}/approve")
    assert refused.status_code == 403
    assert "tidak dapat menyetujui usulan Anda sendiri" in refused.text
    assert (await store.get(bundle_id))["status"] == "proposed"
    assert (await store.current()).bundle_id == first_active

    approver = await console_app.signed_in(ADMIN_2)
    approved = await approver.post(f"/console/policies/{bundle_id}/approve")
    assert approved.status_code == 200, approved.text
    assert "sekarang aktif" in approved.text
    assert (await store.current()).bundle_id == bundle_id
    bundle = await store.get(bundle_id)
    assert bundle["status"] == "active" and bundle["approved_by"] == "admin.dua"
    assert (await store.get(first_active))["status"] == "superseded"

    again = await approver.post(f"/console/policies/{bundle_id}/approve")
    assert again.status_code == 409

    trail = [
        (e["action"], e["officer"], e["decision"])
        for e in reversed(await console_app.events(agency="diskominfo"))
        if e["action"].startswith("policy.")
    ]
    assert trail == [
        ("policy.propose", "admin.satu", "allow"),
        ("policy.approve", "admin.satu", "deny"),
        ("policy.approve", "admin.dua", "allow"),
        ("policy.approve", "admin.dua", "deny"),
    ]


async def test_an_invalid_bundle_is_refused_and_kept_for_editing(console_app: Console) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    before = await console_app.services.policies.history()
    response = await admin.post(
        "/console/policies",
        {"filename": ["agencies.yaml"], "content": ["agencies: [unclosed"], "comment": "rusak"},
    )
    assert response.status_code == 422
    assert "bundel kebijakan tidak valid" in response.text
    assert "agencies: [unclosed" in response.text, "the text is kept for correction"
    assert await console_app.services.policies.history() == before

    bad_name = await admin.post(
        "/console/policies", {"filename": ["../x.yaml"], "content": ["a: 1"], "comment": "x"}
    )
    assert bad_name.status_code == 422


async def test_uploaded_files_replace_the_pasted_ones(console_app: Console) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    store = console_app.services.policies
    active = await store.get((await store.current()).bundle_id)
    files = dict(active["files"])
    uploaded = files["purposes.yaml"].replace("Statistics", "Official statistics")
    response = await admin.post(
        "/console/policies",
        {"filename": list(files), "content": list(files.values()), "comment": "unggah"},
        files=[("upload", ("purposes.yaml", uploaded.encode(), "application/yaml"))],
    )
    assert response.status_code == 303, response.text
    bundle_id = int(response.headers["location"].rsplit("/", 1)[-1])
    assert (await store.get(bundle_id))["files"]["purposes.yaml"] == uploaded


async def test_the_simulation_answers_with_the_explanation(console_app: Console) -> None:
    for user in (ADMIN_1, AUDITOR):
        browser = await console_app.signed_in(user)
        allowed = await browser.post(
            "/console/simulate",
            {"agency": "dinsos", "purpose": "social_assistance", "action": "read",
             "fields": ["religion", "full_name"]},
        )  # fmt: skip
        assert allowed.status_code == 200
        assert "Diizinkan" in allowed.text and "tidak diberikan: religion" in allowed.text
        assert "Bantuan sosial" in allowed.text and "withheld" not in allowed.text
        assert "Kota Surabaya (35.78)" in allowed.text  # its jurisdiction, by name
        english = await browser.post(
            "/console/simulate?lang=en",
            {"agency": "dinsos", "purpose": "social_assistance", "action": "read",
             "fields": ["religion", "full_name"]},
        )  # fmt: skip
        assert "Allowed: Dinas Sosial Kota Surabaya may read 1 field(s)" in english.text
        assert "withheld: religion" in english.text and "Social assistance" in english.text
        denied = await browser.post(
            "/console/simulate?lang=id",
            {
                "agency": "dinsos",
                "purpose": "immunisation",
                "action": "read",
                "fields": ["religion"],
            },
        )
        assert "Ditolak" in denied.text and "purpose_not_permitted" in denied.text


async def test_the_simulation_can_ask_a_proposal(console_app: Console) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    store = console_app.services.policies
    active = await store.get((await store.current()).bundle_id)
    files = dict(active["files"])
    # A proposal that denies religion to everyone for every purpose.
    files["denies.yaml"] = files["denies.yaml"].rstrip("\n") + (
        "\n  - id: no-religion-anywhere\n    description: test\n    fields: [religion]\n"
    )
    response = await admin.post(
        "/console/policies",
        {"filename": list(files), "content": list(files.values()), "comment": "uji"},
    )
    if response.status_code != 303:
        raise AssertionError(response.text[:2000])
    bundle_id = response.headers["location"].rsplit("/", 1)[-1]
    asked = await admin.post(
        "/console/simulate",
        {"agency": "dinsos", "purpose": "social_assistance", "action": "read",
         "fields": ["religion"], "bundle": bundle_id},
    )  # fmt: skip
    assert "no-religion-anywhere" in asked.text


async def test_unknown_or_malformed_versions_get_pages(console_app: Console) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    missing = await admin.get("/console/policies/9999")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "Tidak ditemukan" in missing.text
    malformed = await admin.get("/console/policies/abc")
    assert malformed.status_code == 400
    assert malformed.headers["content-type"].startswith("text/html")
    assert (await admin.post("/console/policies/9999/approve")).status_code == 404
    refused = await console_app.events(action="policy.approve")
    assert [(e["decision"], e["reason"], e["detail"]) for e in refused] == [
        ("deny", "not_found", {"bundle_id": 9999})
    ]
