"""Rate strings such as ``600/minute``: validation and comparing two of them."""

from __future__ import annotations

import re
from functools import lru_cache

_RATE = re.compile(r"^([1-9][0-9]{0,8})/(second|minute|hour|day)$")
_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(text: str) -> tuple[int, str]:
    """Return ``(count, period)``; raise ``ValueError`` on anything else."""
    match = _RATE.match(text.strip())
    if match is None:
        raise ValueError(f"invalid rate {text!r} (expected <count>/<second|minute|hour|day>)")
    return int(match.group(1)), match.group(2)


@lru_cache(maxsize=1024)
def per_second(text: str) -> float:
    count, period = parse_rate(text)
    return count / _SECONDS[period]


def tightest(a: str | None, b: str | None) -> str | None:
    """The stricter of two rates (``None`` imposes nothing); ties keep the smaller text."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b, key=lambda r: (per_second(r), r))
