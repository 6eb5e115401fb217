"""The search budget: distinct residents a search may return, per client and per officer,
within a window and a region.

Each search passes the specificity guard on its own; a list of common names run against
one kecamatan still walks through its residents. So every resident a search returns is
counted once per window against two budgets, the client's and the officer's, in the
region searched (the kecamatan, or ``*`` when none was named): a resident returned again
costs nothing, a new one costs one. A search that would go over a budget releases nothing
and is refused with 429 ``search_budget_exhausted``, naming the budget (``client`` or
``officer``). Residents are counted under a keyed hash, never their NIK. With Redis the
budgets are shared by every replica (one atomic script); embedded, they live in process.
Windows are fixed (they start on multiples of the window's length).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.platform.errors import RateLimiterUnavailable

# KEYS: the budgets' sets. ARGV: window seconds, then one limit per key, then the members.
# Returns the index (1-based) of the first budget the members would exceed, or 0 after
# adding them to every set.
_BUDGET_LUA = """
local ttl = tonumber(ARGV[1])
local n = #KEYS
for i = 1, n do
  local limit = tonumber(ARGV[1 + i])
  local fresh = 0
  for j = n + 2, #ARGV do
    if redis.call('SISMEMBER', KEYS[i], ARGV[j]) == 0 then fresh = fresh + 1 end
  end
  if redis.call('SCARD', KEYS[i]) + fresh > limit then return i end
end
for i = 1, n do
  if #ARGV > n + 1 then
    redis.call('SADD', KEYS[i], unpack(ARGV, n + 2))
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
return 0
"""


@dataclass(frozen=True)
class Budget:
    name: str  # "client" or "officer"
    key: str
    limit: int


class SearchBudget:
    def __init__(self, secret: bytes, *, window_seconds: int, redis: Redis | None = None) -> None:
        self._secret = secret
        self._window = window_seconds
        self._redis = redis
        self._script = redis.register_script(_BUDGET_LUA) if redis is not None else None
        self._sets: dict[str, tuple[float, set[str]]] = {}

    def member(self, nik: str) -> str:
        return hmac.new(self._secret, nik.encode(), hashlib.sha256).hexdigest()[:32]

    def _window_key(self, key: str) -> str:
        return f"satugate:sb:{key}:{int(time.time()) // self._window}"

    async def spend(self, budgets: Sequence[Budget], niks: Sequence[str]) -> str | None:
        """Count ``niks`` against every budget, all or nothing: the name of the first
        budget they would exceed (and nothing counted), or ``None``."""
        members = sorted({self.member(n) for n in niks})
        keys = [self._window_key(b.key) for b in budgets]
        if self._script is not None:
            try:
                over = int(
                    await self._script(
                        keys=keys, args=[self._window, *(b.limit for b in budgets), *members]
                    )
                )
            except RedisError as exc:  # fail closed, as the rate limits do
                raise RateLimiterUnavailable("the search budget store is unreachable") from exc
            return budgets[over - 1].name if over else None
        now = time.time()
        if len(self._sets) > 10_000:
            self._sets = {k: v for k, v in self._sets.items() if v[0] > now}
        current = []
        for key in keys:
            expires, seen = self._sets.get(key, (0.0, set()))
            current.append(seen if expires > now else set())
        for budget, seen in zip(budgets, current, strict=True):
            if len(seen | set(members)) > budget.limit:
                return budget.name
        for key, seen in zip(keys, current, strict=True):
            seen.update(members)
            self._sets[key] = (now + self._window, seen)
        return None

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
