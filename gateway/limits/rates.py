"""What both rate-limit back ends share: the rate, the decision, the GCRA step, and the
limiter in process (embedded mode). ``gateway.limits.ratelimit`` adds the Redis limiter
and is the room's public face for both."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400}
_RATE_RE = re.compile(
    r"^\s*(?P<count>\d+)\s*(?:/|per)\s*(?P<multiple>\d+)?\s*(?P<unit>second|minute|hour|day)s?\s*$",
    re.IGNORECASE,
)


class RateLimiterUnavailable(Exception):
    """The configured Redis cannot be reached; the request must be refused (503)."""


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one check against one key.

    ``remaining`` is how many more requests the key may make right now; ``retry_after``
    is how long a refused caller should wait (0 when allowed); ``reset_after`` is how long
    until the key is back to its full burst (for a ``RateLimit`` response header).
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after: float
    reset_after: float = 0.0


@dataclass(frozen=True)
class Rate:
    """``limit`` requests per ``period`` seconds."""

    limit: int
    period: float

    @property
    def emission_interval(self) -> float:
        """Seconds between two requests at the sustained rate."""
        return self.period / self.limit

    def __str__(self) -> str:
        return f"{self.limit}/{self.period:g}s"


@lru_cache(maxsize=256)
def parse_rate(rate: str) -> Rate:
    """Parse ``"600/minute"``, ``"10/second"``, ``"5 per minute"``, ``"100/15 minutes"``.

    Raises ``ValueError`` on anything else, including a zero count: a limit of zero is
    almost certainly a configuration mistake, and refusing it at startup is kinder than
    refusing every request at run time.
    """
    match = _RATE_RE.match(rate)
    if match is None:
        raise ValueError(f"not a rate: {rate!r} (expected e.g. '600/minute')")
    count = int(match["count"])
    multiple = int(match["multiple"] or 1)
    if count <= 0 or multiple <= 0:
        raise ValueError(f"rate must be positive: {rate!r}")
    return Rate(limit=count, period=float(multiple * _PERIODS[match["unit"].lower()]))


class RateLimiter(Protocol):
    """Counts one request against ``key`` at ``rate`` and says whether it may proceed."""

    async def hit(self, key: str, rate: str) -> RateDecision: ...

    async def peek(self, key: str, rate: str) -> RateDecision:
        """What ``hit`` would decide now, spending nothing."""
        ...

    async def hit_all(
        self, checks: Sequence[tuple[str, str]], *, cost: int = 1
    ) -> list[RateDecision]:
        """Several ``(key, rate)`` limits on one request, all or nothing, atomically.

        ``cost`` is how many units the request spends on every key (a batch of N residents
        costs N): allowed only when each key has that many left, all spent at once.

        The request may proceed when every decision allows it; only then is it counted
        against every key. When any key refuses, no key's budget is spent (a request
        refused for its officer does not use up its client's allowance), and the
        decisions of the keys that would have allowed it say so, their ``remaining``
        describing the state had it gone through. Keys must be distinct.
        """
        ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


def interval_us(rate: Rate) -> int:
    """The emission interval in whole microseconds, as both back ends compute it."""
    return max(round(rate.emission_interval * 1_000_000), 1)


def gcra(tat: int, now: int, rate: Rate, cost: int = 1) -> tuple[RateDecision, int | None]:
    """One GCRA step in integer microseconds: the decision and the new TAT (``None`` when
    refused). The same arithmetic as the Lua script, so both back ends agree exactly and
    no float rounding can refuse a request that ``remaining`` promised."""
    interval = interval_us(rate)
    tolerance = interval * rate.limit
    tat = max(tat, now)
    new_tat = tat + interval * cost
    allow_at = new_tat - tolerance
    if allow_at > now:
        decision = RateDecision(
            allowed=False,
            limit=rate.limit,
            remaining=0,
            retry_after=(allow_at - now) / 1_000_000,
            reset_after=(tat - now) / 1_000_000,
        )
        return decision, None
    decision = RateDecision(
        allowed=True,
        limit=rate.limit,
        remaining=(now + tolerance - new_tat) // interval,
        retry_after=0.0,
        reset_after=(new_tat - now) / 1_000_000,
    )
    return decision, new_tat


class InProcessRateLimiter:
    """GCRA state in a dict: the embedded default, for a single process only.

    Safe under asyncio without a lock because ``hit`` never awaits between reading and
    writing a key's state. Keys whose TAT lies in the past carry no information (they are
    back to a full burst) and are swept every ``sweep_every`` checks, so memory stays
    bounded by the keys active in the last period.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sweep_every: int = 4096
    ) -> None:
        self._clock = clock
        self._tat: dict[str, int] = {}
        self._sweep_every = sweep_every
        self._since_sweep = 0

    async def hit(self, key: str, rate: str) -> RateDecision:
        return (await self.hit_all([(key, rate)]))[0]

    async def peek(self, key: str, rate: str) -> RateDecision:
        now = round(self._clock() * 1_000_000)
        parsed = parse_rate(rate)
        return gcra(self._tat.get(f"{key}@{parsed}", now), now, parsed)[0]

    async def hit_all(
        self, checks: Sequence[tuple[str, str]], *, cost: int = 1
    ) -> list[RateDecision]:
        if cost < 1:
            raise ValueError("a request costs at least one unit")
        now = round(self._clock() * 1_000_000)
        decisions: list[RateDecision] = []
        updates: dict[str, int] = {}
        for key, rate in checks:
            parsed = parse_rate(rate)
            bucket = f"{key}@{parsed}"
            decision, new_tat = gcra(self._tat.get(bucket, now), now, parsed, cost)
            decisions.append(decision)
            if new_tat is not None:
                updates[bucket] = new_tat
        if all(d.allowed for d in decisions):
            self._tat.update(updates)
        self._since_sweep += 1
        if self._since_sweep >= self._sweep_every:
            self._sweep(now)
        return decisions

    def _sweep(self, now: int) -> None:
        self._since_sweep = 0
        self._tat = {k: tat for k, tat in self._tat.items() if tat > now}

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._tat.clear()


# GCRA over groups of keys, atomically, in integer microseconds on Redis' clock.
