"""The privacy budget: the privacy loss (epsilon) an agency may spend on statistics in a
calendar month (UTC).

Each statistics query spends its ``epsilon`` before it is computed; a query that would
go over the agency's budget is refused with 429 ``privacy_budget_exhausted`` and spends
nothing. Budgets are kept in millionths of a unit, as integers. With Redis the ledger is
shared by every replica and process (one atomic script: check and spend together);
embedded, it lives in the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.platform.errors import RateLimiterUnavailable

_UNIT = 1_000_000
# KEYS[1]: the agency's month. ARGV: cost, limit, ttl. Returns the spent total after the
# spend, or -1 (nothing spent) when the cost would go over the limit.
_SPEND_LUA = """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost = tonumber(ARGV[1])
if spent + cost > tonumber(ARGV[2]) then return -1 end
local now = redis.call('INCRBY', KEYS[1], cost)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return now
"""
_TTL = 40 * 24 * 3600


@dataclass(frozen=True)
class Spend:
    ok: bool
    spent: Fraction
    remaining: Fraction
    period: str


def period_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def _units(value: Fraction) -> int:
    return int(value * _UNIT)


class PrivacyBudget:
    def __init__(self, redis: Redis | None = None) -> None:
        self._redis = redis
        self._script = redis.register_script(_SPEND_LUA) if redis is not None else None
        self._local: dict[str, int] = {}

    @staticmethod
    def _key(agency: str, period: str) -> str:
        return f"satugate:pb:{agency}:{period}"

    async def spend(self, agency: str, cost: Fraction, limit: Fraction, at: datetime) -> Spend:
        """Spend ``cost`` of ``agency``'s budget ``limit`` for the month of ``at``, all or
        nothing."""
        period = period_of(at)
        key = self._key(agency, period)
        c, lim = _units(cost), _units(limit)
        if self._script is not None:
            try:
                result = int(await self._script(keys=[key], args=[c, lim, _TTL]))
            except RedisError as exc:
                raise RateLimiterUnavailable() from exc
            if result < 0:
                spent = await self.spent(agency, at)
                return Spend(False, spent, max(Fraction(0), limit - spent), period)
            return Spend(True, Fraction(result, _UNIT), limit - Fraction(result, _UNIT), period)
        now = self._local.get(key, 0)
        if now + c > lim:
            return Spend(False, Fraction(now, _UNIT), Fraction(lim - now, _UNIT), period)
        self._local[key] = now + c
        return Spend(True, Fraction(now + c, _UNIT), Fraction(lim - now - c, _UNIT), period)

    async def spent(self, agency: str, at: datetime) -> Fraction:
        key = self._key(agency, period_of(at))
        if self._redis is not None:
            try:
                raw = await self._redis.get(key)
            except RedisError as exc:
                raise RateLimiterUnavailable() from exc
            return Fraction(int(raw or 0), _UNIT)
        return Fraction(self._local.get(key, 0), _UNIT)

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
