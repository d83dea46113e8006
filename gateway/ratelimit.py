"""Rate limits (限流) at the front door: per user on the API, per client address and per username on log-in,
per client address for callers without a valid token.

Counted by the ``limits`` library with its sliding window counter strategy in the gateway process's memory:
each replica counts for itself. Two counters per key, where the moving window keeps every hit of the window
(1,200 per busy user) and its expiry sweep, every 10 ms, grew to half a core with 5,000 keys here.

Its synchronous in-memory storage is used from the event loop: a hit and its window stats are dictionary
operations, no I/O, about 13 µs. The asyncio one (``limits.aio``) is the one to use for a shared store such as
Redis, but in memory it expires keys with a thread hop per key after hits: about 90 µs a request here.
"""

from __future__ import annotations

import math
import time
from ipaddress import ip_address, ip_network

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.types import Message, Scope, Send

from services.common.errors import QSRError
from services.common.settings import Settings

Headers = list[tuple[bytes, bytes]]


class RateLimited(QSRError):
    status, code, title = 429, "RATE_LIMITED", "请求过于频繁，请稍后再试"

    def __init__(self, headers: Headers) -> None:
        super().__init__()
        self.headers = {name.decode(): value.decode() for name, value in headers}


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        # Settings has refused a limit or a proxy these cannot parse (every one named, before start-up).
        self.enabled = settings.rate_limit_enabled
        self.per_user = parse_many(settings.rate_limit_per_user)
        self.login = parse_many(settings.rate_limit_login)
        self.anonymous = parse_many(settings.rate_limit_anonymous)
        self.trusted_proxies = tuple(ip_network(proxy, strict=False) for proxy in settings.trusted_proxies)
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    def hit(self, items: list[RateLimitItem], *key: str) -> Headers:
        """Counts one request against every limit in ``items`` and returns the RateLimit headers of the
        tightest one; raises RateLimited (with Retry-After) when a limit is used up."""
        tightest: Headers = []
        least = math.inf
        for item in items:
            allowed = self.limiter.hit(item, *key)
            reset_time, remaining = self.limiter.get_window_stats(item, *key)
            reset = max(1, math.ceil(reset_time - time.time()))
            headers = [
                (b"ratelimit-limit", b"%d" % item.amount),
                (b"ratelimit-remaining", b"%d" % remaining),
                (b"ratelimit-reset", b"%d" % reset),
            ]
            if not allowed:
                raise RateLimited([*headers, (b"retry-after", b"%d" % reset)])
            if remaining < least:
                tightest, least = headers, remaining
        return tightest

    def client_address(self, scope: Scope) -> str:
        """The socket peer; behind trusted proxies, the nearest address in X-Forwarded-For that is not one
        of them (every earlier entry may have been written by the client itself)."""
        peer: str = (scope.get("client") or ("",))[0]
        if not self.trusted_proxies or not self._trusted(peer):
            return peer
        forwarded = b",".join(value for name, value in scope["headers"] if name == b"x-forwarded-for")
        hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _trusted(self, host: str) -> bool:
        try:
            address = ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)


def with_headers(send: Send, headers: Headers) -> Send:
    """``send`` adding ``headers`` to the response, unless it carries RateLimit headers of its own."""
    if not headers:
        return send

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = message.get("headers") or []
            if not any(name.lower() == b"ratelimit-limit" for name, _ in present):
                message["headers"] = [*present, *headers]
        await send(message)

    return sender
