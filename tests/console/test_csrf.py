"""Every state-changing form carries the session's CSRF token, or nothing happens."""

from __future__ import annotations

from gateway.identity import clients
from tests.console.conftest import ADMIN_1, ADMIN_2, Console, csrf_of

NEW_CLIENT = {"name": "Sistem Uji", "agency": "dinsos", "scopes": ["residents:read"]}


async def _client_count(console_app: Console) -> int:
    return len(await clients.list_clients(console_app.services.engine))


async def test_a_post_without_the_token_is_refused(console_app: Console) -> None:
    admin = await console_app.signed_in(ADMIN_1)
    before = await _client_count(console_app)
    missing = await admin.client.post("/console/clients", data=NEW_CLIENT)
    wrong = await admin.client.post("/console/clients", data={**NEW_CLIENT, "csrf": "0" * 64})
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "CSRF" in response.text
    assert await _client_count(console_app) == before

    ok = await admin.post("/console/clients", NEW_CLIENT)
    assert ok.status_code == 202 and "#1" in ok.text, "with the token: proposed"
    assert await _client_count(console_app) == before, "a proposal creates nothing yet"


async def test_another_sessions_token_does_not_fit(console_app: Console) -> None:
    first = await console_app.signed_in(ADMIN_1)
    second = await console_app.signed_in(ADMIN_2)
    assert first.csrf != second.csrf
    response = await first.client.post("/console/clients", data={**NEW_CLIENT, "csrf": second.csrf})
    assert response.status_code == 403


async def test_a_new_sign_in_gets_a_new_token(console_app: Console) -> None:
    first = await console_app.signed_in(ADMIN_1)
    again = await console_app.signed_in(ADMIN_1)
    assert first.csrf != again.csrf, "each sign-in starts a new session id"


async def test_sign_in_and_sign_out_are_protected_too(console_app: Console) -> None:
    browser = console_app.browser()
    response = await browser.client.post(
        "/console/login", data={"username": ADMIN_1[0], "password": ADMIN_1[1], "csrf": "x"}
    )
    assert response.status_code == 403
    # A token from one browser's sign-in form does not work with another browser's cookie.
    other = console_app.browser()
    token = csrf_of((await other.get("/console/login")).text)
    await browser.get("/console/login")
    response = await browser.client.post(
        "/console/login", data={"username": ADMIN_1[0], "password": ADMIN_1[1], "csrf": token}
    )
    assert response.status_code == 403

    admin = await console_app.signed_in(ADMIN_1)
    assert (await admin.client.post("/console/logout")).status_code == 403
    assert (await admin.get("/console/")).status_code == 200, "still signed in"


async def test_two_open_sign_in_pages_both_work(console_app: Console) -> None:
    browser = console_app.browser()
    first = csrf_of((await browser.get("/console/login")).text)
    second = csrf_of((await browser.get("/console/login")).text)
    assert first == second, "the pre-session nonce is kept while it lasts"
    response = await browser.client.post(
        "/console/login", data={"username": ADMIN_1[0], "password": ADMIN_1[1], "csrf": first}
    )
    assert response.status_code == 303


async def test_the_stylesheet_is_the_only_static_file(console_app: Console) -> None:
    browser = console_app.browser()
    css = await browser.get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for name in ("../__init__.py", "users.py", "..%2Fusers.py"):
        assert (await browser.get(f"/console/static/{name}")).status_code == 404
