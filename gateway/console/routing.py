"""How console pages are served: the route class, the sign-in and role dependencies,
CSRF checks, and HTML rendering.

Console refusals are pages, not problem+json: :class:`ConsoleRoute` turns the console's
own exceptions (and the gateway's errors) into HTML answers inside the router, so the
application's JSON error handlers never see them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.console import i18n, sessions
from gateway.console.users import ConsoleUser, get_user
from gateway.console.wording import Wording, wording
from gateway.identity.revocation import StoreUnavailable
from gateway.platform.errors import GatewayError, RateLimiterUnavailable
from gateway.platform.logs import get_logger
from gateway.platform.services import Services

PREFIX = "/console"
MAX_FORM_FIELDS = 200
MAX_FORM_FILES = 20

# Security decision: console pages run no script at all and load only their own
# stylesheet; they may not be framed (clickjacking) and forms post only to the console.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


class ConsoleProblem(Exception):
    """Base of the console's own refusals; each becomes an HTML answer."""


class SignInRequired(ConsoleProblem):
    """No valid session: the browser is sent to the sign-in page."""


class Forbidden(ConsoleProblem):
    """Signed in, but this page belongs to the other role (or the CSRF check failed)."""

    def __init__(self, message_key: str) -> None:
        super().__init__(message_key)
        self.message_key = message_key


@dataclass(frozen=True)
class Page:
    """What every page knows about its request: the user, the CSRF token, the language."""

    request: Request
    user: ConsoleUser
    csrf: str
    words: Wording | None = None  # the active policy's terms in the page's language

    @property
    def services(self) -> Services:
        services: Services = self.request.app.state.services
        return services

    @property
    def lang(self) -> str:
        return i18n.language(self.request)

    @property
    def request_id(self) -> str:
        return str(self.request.scope.get("state", {}).get("request_id", ""))

    async def form(self) -> FormData:
        return await read_form(self.request)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("words", self.words)
        return render(
            self.request, template, status=status, user=self.user, csrf=self.csrf, **context
        )


async def read_form(request: Request) -> FormData:
    return await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment, built on first use (nothing is built at import)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short_time"] = _local_time
    return env


@jinja2.pass_context
def _local_time(context: Any, value: object) -> str:
    """A time in the city's time zone (``timezone`` setting), named (WIB, WITA, WIT)."""
    zone = context.get("timezone")
    return i18n.short_time(value, zone if isinstance(zone, str) else None)


def _zone(request: Request) -> str | None:
    services = getattr(request.app.state, "services", None)
    settings = getattr(services, "settings", None)
    zone = getattr(settings, "timezone", None)
    return zone if isinstance(zone, str) else None


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    user: ConsoleUser | None = None,
    csrf: str = "",
    **context: Any,
) -> HTMLResponse:
    lang = i18n.language(request)
    html = (
        environment()
        .get_template(template)
        .render(
            t=i18n.translator(lang),
            lang=lang,
            user=user,
            csrf=csrf,
            path=request.url.path,
            prefix=PREFIX,
            timezone=_zone(request),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, message_key: str, detail: str = "") -> HTMLResponse:
    state = getattr(request.state, "console_page", None)
    user = state.user if isinstance(state, Page) else None
    csrf = state.csrf if isinstance(state, Page) else ""
    return render(
        request, "error.html", status=status, user=user, csrf=csrf,
        title_key=f"error.title_{status}" if i18n.has(f"error.title_{status}") else "error.title",
        message_key=message_key, detail=detail,
    )  # fmt: skip


class ConsoleRoute(APIRoute):
    """A route whose refusals are HTML pages and whose answers carry the console's
    security headers and remember the chosen language."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except SignInRequired:
                response = RedirectResponse(f"{PREFIX}/login", status_code=303)
            except Forbidden as exc:
                response = error_page(request, 403, exc.message_key)
            except RequestValidationError:
                response = error_page(request, 400, "error.bad_request")
            except GatewayError as exc:
                # Our own errors carry texts we wrote (never personal data): show them.
                if exc.status >= 500:
                    get_logger().warning("console_error", code=exc.to_problem()["code"])
                response = error_page(request, exc.status, "error.gateway", exc.detail)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            i18n.remember_choice(request, response)
            return response

        return handler


async def current_user(request: Request) -> tuple[ConsoleUser, sessions.Session] | None:
    """The signed-in user, or None. The store is asked on every request: a removed user,
    a changed role, a changed password or a sign-out (kept in the revocation store, Redis
    when configured) ends the session at once."""
    keys = sessions.keys_for(request)
    session = sessions.read(keys, request.cookies.get(sessions.SESSION_COOKIE))
    if session is None:
        return None
    services: Services = request.app.state.services
    try:
        signed_out = await services.revocation.is_revoked(sessions.revocation_id(session))
    except StoreUnavailable as exc:  # cannot tell whether the session ended: fail closed
        raise RateLimiterUnavailable("the session revocation store is unreachable") from exc
    if signed_out:
        return None
    user = await get_user(services.engine, session.username)
    if user is None or user.role != session.role:
        return None
    expected = sessions.password_fingerprint(keys, user.password_hash)
    if not sessions.tokens_match(expected, session.password_fingerprint):
        return None
    return user, session


def require(*roles: str) -> Callable[[Request], Awaitable[Page]]:
    """A dependency that admits only signed-in users of ``roles``, and checks CSRF.

    Security decision: the CSRF check lives here, not in each handler, so that no POST
    handler can forget it: every state-changing request of a signed-in user must carry
    the session's token in its form, compared in constant time.
    """

    async def dependency(request: Request) -> Page:
        found = await current_user(request)
        if found is None:
            raise SignInRequired()
        user, session = found
        keys = sessions.keys_for(request)
        page = Page(request=request, user=user, csrf=sessions.csrf_token(keys, session))
        request.state.console_page = page
        if user.role not in roles:
            raise Forbidden(f"error.forbidden_{user.role}")
        page = dataclasses.replace(page, words=await wording(page))
        request.state.console_page = page
        if request.method not in ("GET", "HEAD"):
            form = await read_form(request)
            if not sessions.tokens_match(page.csrf, form.get("csrf")):
                raise Forbidden("error.csrf")
        return page

    dependency.__name__ = "require_" + "_or_".join(roles)
    return dependency


AnyUser = Annotated[Page, Depends(require("admin", "auditor"))]
AdminPage = Annotated[Page, Depends(require("admin"))]
AuditorPage = Annotated[Page, Depends(require("auditor"))]


def form_text(form: Mapping[str, Any], name: str, max_length: int = 200) -> str:
    """A text field, stripped and cut to ``max_length``; missing or a file: empty."""
    value = form.get(name)
    return value.strip()[:max_length] if isinstance(value, str) else ""
