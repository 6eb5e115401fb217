"""Rate limits per client and per officer: GCRA, in Redis or in process.

Both back ends run the same algorithm, the Generic Cell Rate Algorithm (GCRA, the
"virtual scheduling" form of the leaky bucket). A rate of ``N/period`` lets a key spend
a burst of ``N`` requests and then refills one request every ``period / N``: the window
slides continuously instead of resetting on the minute. The whole state of a key is one
number, its *theoretical arrival time* (TAT), so a check is O(1) in time and memory.

* ``build_rate_limiter(None)``: the embedded default, one process, state in a dict.
* ``build_rate_limiter("redis://...")``: the production path. Every check runs in a Lua
  script, atomically in Redis and on Redis' own clock, so all workers and replicas share
  one limit per key and their clock skew does not matter. The checks a worker makes while
  its previous script run is in flight share the next run (``gateway.platform.coalesce``), taken
  in order as if one after the other. A busy key is counted a lease of requests at a
  time, which this process then admits without a round trip (``RedisRateLimiter``).

Security decisions:

* **Fail closed.** A configured Redis that cannot be reached (refused, timed out, any
  Redis error) raises ``RateLimiterUnavailable``; the gateway answers 503
  ``rate_limiter_unavailable`` rather than serving without limits. Falling back to
  in-process counters would multiply the allowance by the number of workers and replicas
  exactly when an operator is not looking.
* **Short socket timeouts** (0.5 s connect and read by default, one immediate retry) so a
  dead Redis costs a request about a second at worst, not a hung worker.
* **Recovery by itself.** Nothing remembers a failure: the next check opens a fresh
  connection from the pool, so limits work again as soon as Redis is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.limits.rates import (
    InProcessRateLimiter,
    Rate,
    RateDecision,
    RateLimiter,
    RateLimiterUnavailable,
    gcra,
    interval_us,
    parse_rate,
)
from gateway.platform.coalesce import Coalescer

__all__ = [
    "DEFAULT_PREFIX",
    "InProcessRateLimiter",
    "Rate",
    "RateDecision",
    "RateLimiter",
    "RateLimiterUnavailable",
    "RedisRateLimiter",
    "build_rate_limiter",
    "connect_redis",
    "parse_rate",
]

DEFAULT_PREFIX = "satugate:rl:"
DEFAULT_TIMEOUT_SECONDS = 0.5

# Each group is one request's keys, all or nothing: its new TATs are kept only when every
# key of the group allows. The groups are taken in order, as if run one after the other at
# the same instant, so a later group sees the TATs an earlier one kept (one bucket can be
# in several groups: concurrent requests of one client).
# Each bucket asks for `want` requests (a lease, see RedisRateLimiter): it is granted
# between 1 and `want`, never more than a quarter of what the key has left (and 1 when it
# has fewer than 8 left), so a key near its limit is counted request by request. With
# `want` 1 this is plain GCRA.
# KEYS: group after group, its buckets (a bucket may repeat across groups).
# ARGV: for each group, its number of buckets n, then n quadruples:
# emission interval (us), limit, want, need. `need` above 1 is a request that costs that
# many units (a batch): allowed only when that many are left, granted exactly that many.
# Returns 5 integers per bucket, in bucket order: allowed (1/0), remaining (after the
# grant), retry_after_us, reset_after_us, granted.
# Each bucket kept is written once, with its final TAT and a TTL to it.
# TATs are written with %d: Lua's tostring keeps only 14 significant digits.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
local kept = {}
local first = 1
local o = 0
local a = 1
while a <= #ARGV do
  local last = first + tonumber(ARGV[a]) - 1
  a = a + 1
  local new_tats = {}
  local all_allowed = true
  for i = first, last do
    local interval = tonumber(ARGV[a])
    local limit = tonumber(ARGV[a + 1])
    local want = tonumber(ARGV[a + 2])
    local need = tonumber(ARGV[a + 3])
    a = a + 4
    local tat = kept[KEYS[i]] or tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local tolerance = interval * limit
    local available = math.floor((now + tolerance - tat) / interval)
    if available < need then
      all_allowed = false
      out[o + 1] = 0
      out[o + 2] = 0
      out[o + 3] = tat + need * interval - tolerance - now
      out[o + 4] = tat - now
      out[o + 5] = 0
    else
      local granted = need
      if need == 1 then granted = math.min(want, math.max(1, math.floor(available / 4))) end
      local new_tat = tat + granted * interval
      new_tats[i] = new_tat
      out[o + 1] = 1
      out[o + 2] = available - granted
      out[o + 3] = 0
      out[o + 4] = new_tat - now
      out[o + 5] = granted
    end
    o = o + 5
  end
  if all_allowed then
    for i = first, last do
      kept[KEYS[i]] = new_tats[i]
    end
  else
    for i = first, last do  -- a refused group is granted nothing
      out[o - 5 * (last - i)] = 0
    end
  end
  first = last + 1
end
for key, tat in pairs(kept) do
  local ttl_ms = math.ceil((tat - now) / 1000)
  redis.call('SET', key, string.format('%d', tat), 'PX', string.format('%d', ttl_ms))
end
return out
"""


@dataclass(frozen=True, slots=True)
class _Group:
    """One request's buckets (Redis key, rate, requests wanted), for one script run."""

    buckets: tuple[tuple[str, Rate, int], ...]
    cost: int = 1


@dataclass(frozen=True, slots=True)
class _Granted:
    """A bucket's decision from Redis and how many requests it was granted (0 or 1 when
    it asked for one; up to its ``want`` for a lease)."""

    decision: RateDecision
    granted: int


@dataclass(slots=True)
class _Lease:
    """A bucket's requests granted by Redis and not yet admitted here, and its recent
    traffic, which sizes the next lease."""

    tokens: int = 0
    expires: float = 0.0
    remaining: int = 0  # what the key had left in Redis after the grant
    reset_at: float = 0.0
    asking: bool = False  # a lease for this bucket is being asked for
    window_start: float = 0.0
    window_count: int = 0
    demand: int = 0  # this bucket's requests in the last whole window

    def live(self, now: float) -> bool:
        return self.tokens > 0 and now < self.expires

    def note(self, now: float, window: float) -> None:
        """Count one request in the traffic windows."""
        elapsed = now - self.window_start
        if elapsed >= window:
            self.demand = self.window_count if elapsed < 2 * window else 0
            self.window_start = now
            self.window_count = 0
        self.window_count += 1

    def take(self, now: float, limit: int) -> RateDecision:
        self.tokens -= 1
        return RateDecision(
            allowed=True,
            limit=limit,
            remaining=self.remaining + self.tokens,
            retry_after=0.0,
            reset_after=max(self.reset_at - now, 0.0),
        )


def connect_redis(url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Redis:
    """A Redis client with short timeouts and one immediate retry.

    The retry covers a pooled connection that died while Redis restarted: the first
    command on it fails, the retry reconnects. More retries would only stretch the time
    a request waits on a Redis that is really gone.
    """
    client: Redis = Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )
    return client


class RedisRateLimiter:
    """GCRA in Redis, shared by every worker and replica.

    Concurrent ``hit_all`` calls share one script run, each call's keys a group in it, so
    all the keys must live on one Redis node: a single Redis or a primary behind Sentinel,
    not Redis Cluster. A Redis error fails every call of that run (fail closed).

    **Leases** (``lease_seconds > 0``). A busy key need not cost a round trip per
    request. When a bucket has had more than one request in the last ``lease_seconds``,
    the script is asked for as many requests as that (at most ``lease_max``) and grants
    up to a quarter of what the key has left. They are counted in Redis at once, against
    the same shared limit, and this process admits them one by one without asking again
    until they are spent or ``lease_seconds`` have passed; what is left then is dropped,
    never handed back or counted twice. So:

    * a key never admits more requests than Redis counted for it; a leased request is
      counted at most ``lease_seconds`` before it arrives, so over any window a key
      admits at most ``rate * lease_seconds`` more than request-by-request counting
      would (one request at 600/minute and 0.1 s);
    * a key near its limit (fewer than 8 left) and a quiet key (at most one request in
      the last window) are counted request by request, exactly;
    * the price is requests leased to one process and unused when its traffic stops:
      counted, never admitted, at most a lease per bucket and process.

    A request is admitted here only when every one of its buckets holds a live lease;
    otherwise the whole request goes to Redis, all or nothing as before.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        lease_seconds: float = 0.0,
        lease_max: int = 64,
        clock: Callable[[], float] = time.monotonic,
        sweep_every: int = 4096,
    ) -> None:
        if lease_seconds < 0 or lease_max < 1:
            raise ValueError("lease_seconds must be ≥ 0 and lease_max ≥ 1")
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_GCRA_LUA)
        self._runs: Coalescer[_Group, list[_Granted]] = Coalescer(self._run_script)
        self._lease_seconds = lease_seconds
        self._lease_max = lease_max
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._sweep_every = sweep_every
        self._since_sweep = 0
        # Requests admitted from a lease here, and decided by a script run.
        self.stats = {"leased": 0, "counted": 0}

    async def hit(self, key: str, rate: str) -> RateDecision:
        return (await self.hit_all([(key, rate)]))[0]

    async def peek(self, key: str, rate: str) -> RateDecision:
        """The bucket's state read from Redis, on Redis' clock, spending nothing. A lease
        taken from the bucket counts as spent (the answer errs on refusing)."""
        parsed = parse_rate(rate)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.time()
                pipe.get(f"{self._prefix}{key}@{parsed}")
                (seconds, micros), tat = await pipe.execute()
        except RedisError as exc:
            raise RateLimiterUnavailable("rate limiter store unreachable") from exc
        now = int(seconds) * 1_000_000 + int(micros)
        return gcra(int(tat) if tat is not None else now, now, parsed)[0]

    async def hit_all(
        self, checks: Sequence[tuple[str, str]], *, cost: int = 1
    ) -> list[RateDecision]:
        if cost < 1:
            raise ValueError("a request costs at least one unit")
        if not checks:
            return []
        buckets = []
        for key, rate in checks:
            parsed = parse_rate(rate)
            buckets.append((f"{self._prefix}{key}@{parsed}", parsed))
        if cost > 1:  # counted in Redis, exactly, never from a lease
            return await self._counted([(key, rate, 1) for key, rate in buckets], cost)
        if not self._lease_seconds:
            return await self._counted([(key, rate, 1) for key, rate in buckets])
        return await self._leased(buckets)

    async def _leased(self, buckets: list[tuple[str, Rate]]) -> list[RateDecision]:
        now = self._clock()
        leases = []
        for key, _ in buckets:
            lease = self._leases.get(key)
            if lease is None:
                lease = self._leases[key] = _Lease(window_start=now)
            lease.note(now, self._lease_seconds)
            leases.append(lease)
        self._since_sweep += 1
        if self._since_sweep >= self._sweep_every:
            self._sweep(now)
        if all(lease.live(now) for lease in leases):
            self.stats["leased"] += 1
            return [
                lease.take(now, rate.limit)
                for lease, (_, rate) in zip(leases, buckets, strict=True)
            ]
        asking: list[_Lease] = []
        wants: list[int] = []
        for lease in leases:
            want = 1
            if not lease.live(now) and not lease.asking:
                lease.tokens = 0  # an expired lease's rest is dropped
                want = min(lease.demand, self._lease_max)
                if want > 1:
                    lease.asking = True
                    asking.append(lease)
            wants.append(max(want, 1))
        try:
            granted = await self._granted(
                [(key, rate, want) for (key, rate), want in zip(buckets, wants, strict=True)]
            )
        finally:
            for lease in asking:
                lease.asking = False
        decisions = []
        for lease, want, result in zip(leases, wants, granted, strict=True):
            decision = result.decision
            if want > 1 and result.granted > 1:
                lease.tokens = result.granted - 1  # one is this request's
                lease.expires = now + self._lease_seconds
                lease.remaining = decision.remaining - lease.tokens
                lease.reset_at = now + decision.reset_after
            elif decision.allowed and lease.live(now):
                # Counted in Redis beside a lease: what is left includes the lease's rest.
                lease.remaining = decision.remaining
                lease.reset_at = now + decision.reset_after
                decision = replace(decision, remaining=decision.remaining + lease.tokens)
            decisions.append(decision)
        return decisions

    async def _counted(
        self, buckets: list[tuple[str, Rate, int]], cost: int = 1
    ) -> list[RateDecision]:
        return [result.decision for result in await self._granted(buckets, cost)]

    async def _granted(self, buckets: list[tuple[str, Rate, int]], cost: int = 1) -> list[_Granted]:
        self.stats["counted"] += 1
        try:
            return await self._runs.submit(_Group(tuple(buckets), cost))
        except RedisError as exc:
            raise RateLimiterUnavailable("rate limiter store unreachable") from exc

    def _sweep(self, now: float) -> None:
        """Forget buckets with no live lease and no traffic in the last two windows."""
        self._since_sweep = 0
        idle = 2 * self._lease_seconds
        self._leases = {
            key: lease
            for key, lease in self._leases.items()
            if lease.asking or lease.live(now) or now - lease.window_start < idle
        }

    async def _run_script(self, groups: list[_Group]) -> list[list[_Granted]]:
        """One script run for the groups of every waiting ``hit_all``, in their order."""
        keys: list[str] = []
        args: list[int] = []
        for group in groups:
            args.append(len(group.buckets))
            for bucket, rate, want in group.buckets:
                keys.append(bucket)
                args += [interval_us(rate), rate.limit, want, group.cost]
        flat = await self._script(keys=keys, args=args)
        results: list[list[_Granted]] = []
        at = 0
        for group in groups:
            granted: list[_Granted] = []
            for _, rate, _ in group.buckets:
                got = int(flat[at + 4])
                decision = RateDecision(
                    allowed=bool(flat[at]),
                    limit=rate.limit,
                    # What this process may still admit counts as left to the caller.
                    remaining=int(flat[at + 1]) + (max(got - 1, 0) if group.cost == 1 else 0),
                    retry_after=int(flat[at + 2]) / 1_000_000,
                    reset_after=int(flat[at + 3]) / 1_000_000,
                )
                granted.append(_Granted(decision, got))
                at += 5
            results.append(granted)
        return results

    async def ping(self) -> bool:
        """True when Redis answers; never raises (for ``/readyz``)."""
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()


def build_rate_limiter(
    redis_url: str | None,
    *,
    prefix: str = DEFAULT_PREFIX,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    lease_seconds: float = 0.0,
    lease_max: int = 64,
) -> RateLimiter:
    """The limiter the settings ask for: Redis when a URL is given, else in process.

    Nothing connects here; the first ``hit`` or ``ping`` does, so an app can start while
    Redis is still coming up (``/readyz`` says so meanwhile). The lease settings apply to
    Redis only (see ``RedisRateLimiter``).
    """
    if not redis_url:
        return InProcessRateLimiter()
    return RedisRateLimiter(
        connect_redis(redis_url, timeout=timeout),
        prefix=prefix,
        lease_seconds=lease_seconds,
        lease_max=lease_max,
    )
