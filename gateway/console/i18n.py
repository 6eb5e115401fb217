"""The console speaks Bahasa Indonesia by default and English on request.

A small dict-based table (``gateway.console.messages``, one module per area):
``translator(lang)`` gives ``t(key)``. The language comes from ``?lang=id|en``
(remembered in a cookie) or that cookie; anything else means Indonesian.
A missing key shows the key itself, and a test checks that every key used exists in both
languages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import Request
from starlette.responses import Response

from gateway.console.messages import MESSAGES as MESSAGES

LANGUAGES = ("id", "en")
DEFAULT = "id"
COOKIE = "satugate_lang"


def language(request: Request) -> str:
    """The page language: ``?lang=`` first, then the cookie, then Indonesian."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    saved = request.cookies.get(COOKIE)
    return saved if saved in LANGUAGES else DEFAULT


def remember_choice(request: Request, response: Response) -> None:
    """Keep a ``?lang=`` choice in a cookie (not a secret: readable, a year long)."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
        response.set_cookie(COOKIE, asked, max_age=365 * 86400, path="/console", samesite="strict")


def has(key: str, lang: str = DEFAULT) -> bool:
    return key in MESSAGES[lang]


def translator(lang: str) -> Callable[[str], str]:
    table = MESSAGES.get(lang, MESSAGES[DEFAULT])

    def t(key: str) -> str:
        return table.get(key, key)

    return t


ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}


def short_time(value: object, zone: str | None = None) -> str:
    """``2026-11-28T10:15:00.123Z`` → ``2026-11-28 17:15:00 WIB`` in the city's time zone
    (``zone``; UTC without one); other values unchanged."""
    if not isinstance(value, str) or not value:
        return "" if value is None else str(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if zone is None or moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S ") + ZONE_NAMES.get(zone, local.strftime("%Z"))
