"""Signing in and out."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from gateway.console import sessions
from gateway.console.routing import (
    PREFIX,
    AnyUser,
    ConsoleRoute,
    Forbidden,
    form_text,
    read_form,
    render,
)
from gateway.console.users import SignInFailed, authenticate
from gateway.limits.ratelimit import RateLimiterUnavailable as LimiterDown
from gateway.platform.errors import RateLimiterUnavailable
from gateway.platform.logs import get_logger
from gateway.platform.services import Services

router = APIRouter(route_class=ConsoleRoute)


def _login_page(request: Request, *, failed: bool = False, username: str = "") -> Response:
    keys = sessions.keys_for(request)
    # The pre-session nonce is kept while it lasts, so two open sign-in tabs both work.
    nonce = request.cookies.get(sessions.LOGIN_COOKIE, "")
    if not sessions.LOGIN_NONCE_RE.fullmatch(nonce):
        nonce = sessions.new_login_nonce()
    response = render(
        request,
        "login.html",
        status=401 if failed else 200,
        login_csrf=sessions.login_csrf_token(keys, nonce),
        failed=failed,
        username=username,
    )
    sessions.set_cookie(response, keys, sessions.LOGIN_COOKIE, nonce, sessions.LOGIN_SECONDS)
    return response


async def _totp_fresh(services: Services, username: str, code: str) -> bool:
    """True the first time a TOTP code is used by this user (remembered for 2 minutes in
    the revocation store, Redis when configured, so every replica knows it)."""
    key = f"console-totp:{username}:{code}"
    if await services.revocation.is_revoked(key):
        return False
    await services.revocation.revoke_token(key, datetime.now(UTC) + timedelta(minutes=2))
    return True


def _failure_limits(services: Services, request: Request, username: str) -> list[tuple[str, str]]:
    """The failure budgets a sign-in spends when refused: its source address's, and the
    account's from that address. Security decision: an account is never locked for
    everyone. Guessing from one address soon stops (even the right password is refused
    there, the same way as a wrong one), while its owner signing in from another
    address is not held up by it."""
    source = request.client.host if request.client else "-"
    settings = services.settings
    return [
        (f"console-fail-src:{source}", settings.console_source_failure_rate),
        (f"console-fail:{username}:{source}", settings.console_account_failure_rate),
    ]


@router.get("/login", name="console_login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the sign-in form. Security decision: the form's CSRF token is bound to a
    pre-session cookie, so another site cannot sign a victim into an attacker's account
    (login CSRF); a successful sign-in gets a fresh session id."""
    keys = sessions.keys_for(request)
    form = await read_form(request)
    nonce = request.cookies.get(sessions.LOGIN_COOKIE, "")
    if not nonce or not sessions.tokens_match(
        sessions.login_csrf_token(keys, nonce), form.get("csrf")
    ):
        raise Forbidden("error.csrf")
    username = form_text(form, "username", 64).lower()
    password = form.get("password")
    services: Services = request.app.state.services
    limits = _failure_limits(services, request, username)
    try:
        throttled = not all([(await services.limiter.peek(k, r)).allowed for k, r in limits])
        user = await authenticate(
            services.engine,
            username,
            password if isinstance(password, str) else "",
            form_text(form, "totp", 12) or None,
            master_key=keys.master,
            hasher=getattr(request.app.state, "console_hasher", None),
            totp_fresh=functools.partial(_totp_fresh, services),
            throttled=throttled,
            require_totp=services.settings.console_totp_required,
        )
    except SignInFailed:
        try:
            for key, rate in limits:
                await services.limiter.hit(key, rate)
        except LimiterDown as exc:
            raise RateLimiterUnavailable() from exc
        get_logger().info("console_sign_in", outcome="refused")
        return _login_page(request, failed=True, username=username)
    except LimiterDown as exc:
        raise RateLimiterUnavailable() from exc
    get_logger().info("console_sign_in", outcome="ok", role=user.role)
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    cookie = sessions.issue(
        keys, username=user.username, role=user.role, password_hash=user.password_hash
    )
    sessions.set_cookie(response, keys, sessions.SESSION_COOKIE, cookie, sessions.SESSION_SECONDS)
    sessions.clear_cookie(response, keys, sessions.LOGIN_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, page: AnyUser) -> Response:
    """Sign out. Security decision: the session id is revoked on the server until the
    session would have expired anyway, so a copy of the cookie stops working too."""
    keys = sessions.keys_for(request)
    session = sessions.read(keys, request.cookies.get(sessions.SESSION_COOKIE))
    if session is not None:
        expiry = datetime.now(UTC) + timedelta(seconds=sessions.SESSION_SECONDS)
        await page.services.revocation.revoke_token(sessions.revocation_id(session), expiry)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    sessions.clear_cookie(response, keys, sessions.SESSION_COOKIE)
    return response
