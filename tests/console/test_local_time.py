"""Times in the console are the city's local time, named as Indonesians name them."""

from __future__ import annotations

import pytest

from gateway.console.i18n import short_time
from gateway.platform.settings import Settings


def test_times_are_shown_in_the_citys_zone() -> None:
    at = "2026-11-28T10:15:00.123Z"
    assert short_time(at, "Asia/Jakarta") == "2026-11-28 17:15:00 WIB"
    assert short_time(at, "Asia/Makassar") == "2026-11-28 18:15:00 WITA"
    assert short_time(at, "Asia/Jayapura") == "2026-11-28 19:15:00 WIT"
    assert short_time(at) == "2026-11-28 10:15:00"
    assert short_time("not a time", "Asia/Jakarta") == "not a time"


def test_the_zone_is_a_setting_and_checked() -> None:
    assert Settings().timezone == "Asia/Jakarta"
    assert Settings(timezone="Asia/Makassar").timezone == "Asia/Makassar"
    with pytest.raises(ValueError, match="unknown time zone"):
        Settings(timezone="Mars/Olympus")
