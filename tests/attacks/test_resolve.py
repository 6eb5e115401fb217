"""Re-identification: only a subject (NIK) token resolves, tokens of different fields
never collide, old-format tokens are refused clearly, and the resolve limit holds on top
of the grant's rates."""

from __future__ import annotations

from pathlib import Path

from tests.attacks.conftest import Target, assert_problem, residents_in

CASE = {"X-Purpose": "case_management", "X-Legal-Basis": "PKS-DUKCAPIL/DINSOS/12/2025"}


async def test_a_family_card_token_does_not_resolve(target: Target, attack_sources: Path) -> None:
    person = residents_in(attack_sources, "35.78", 1)[0]
    h = await target.headers("demo-dinsos", **CASE)
    r = await target.client.get(f"/v1/residents/{person['nik']}", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    kk_token = body["record"]["kk_number"]
    assert kk_token.startswith("ps2.") and ".kk_number." in kk_token
    assert body["subject"].split(".")[2] == "nik"
    refused = await target.client.post(
        "/v1/pseudonyms/resolve", headers=h, json={"pseudonym": kk_token}
    )
    problem = assert_problem(refused, 422, "invalid_pseudonym")
    assert person["kk_number"] not in refused.text and "audit" in problem
    # Relabelled as a NIK token, it fails authentication.
    relabelled = kk_token.replace(".kk_number.", ".nik.", 1)
    r = await target.client.post(
        "/v1/pseudonyms/resolve", headers=h, json={"pseudonym": relabelled}
    )
    assert_problem(r, 422, "invalid_pseudonym")
    ok = await target.client.post(
        "/v1/pseudonyms/resolve", headers=h, json={"pseudonym": body["subject"]}
    )
    assert ok.status_code == 200 and ok.json()["nik"] == person["nik"]


async def test_a_first_format_token_is_refused_clearly(target: Target) -> None:
    h = await target.headers("demo-dinsos", **CASE)
    r = await target.client.post(
        "/v1/pseudonyms/resolve", headers=h, json={"pseudonym": "ps1.1." + "A" * 43}
    )
    assert_problem(r, 410, "pseudonym_format_retired")


async def test_the_resolve_limit_holds_on_top_of_the_grants_rates(
    target: Target, attack_sources: Path
) -> None:
    person = residents_in(attack_sources, "35.78", 1)[0]
    h = await target.headers("demo-dinsos", **CASE)
    subject = (await target.client.get(f"/v1/residents/{person['nik']}", headers=h)).json()[
        "subject"
    ]
    answers = []
    for i in range(31):  # the grant allows 300 a minute; resolving, 30
        officer = {**h, "X-On-Behalf-Of": f"officer.r{i}"}
        answers.append(
            await target.client.post(
                "/v1/pseudonyms/resolve", headers=officer, json={"pseudonym": subject}
            )
        )
    assert [r.status_code for r in answers[:30]] == [200] * 30
    assert assert_problem(answers[30], 429, "rate_limited")["limit"] == "client"
