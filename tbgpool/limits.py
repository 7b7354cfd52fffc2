"""Rate limits and bans (spec §2.4): token buckets on the caller's clock, keyed by IP or connection.

Plain and synchronous; it knows nothing of sockets. The Stratum protocol asks
:class:`ConnectionGate` whether a new connection from an address may stay, and
each session keeps a :class:`SessionLimits`. Nothing here is keyed by a worker
name: a client can claim any name, but not another's address or connection.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from tbgpool.config import RateLimitsConfig
from tbgpool.metrics.instruments import PoolInstruments

MINUTE_S: Final = 60.0
#: Per-IP states kept at most; beyond it the least recently seen idle address is forgotten
#: (forgetting only ever makes the limit more lenient for that address, never stricter).
MAX_TRACKED_ADDRESSES: Final = 250_000
#: Malformed requests (bad JSON, unknown methods, invalid requests) a connection may send per
#: minute before it is disconnected.
MALFORMED_REQUESTS_PER_MINUTE: Final = 10
#: A limit hit by one address is logged at most this often (the metric counts every hit).
LIMIT_LOG_INTERVAL_S: Final = 60.0
#: (limit, address) pairs whose last log time is remembered.
MAX_LOGGED_KEYS: Final = 10_000

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``per_s``; each action takes one."""

    __slots__ = ("capacity", "per_s", "tokens", "updated_at")

    def __init__(self, capacity: float, per_s: float, now: float) -> None:
        self.capacity = capacity
        self.per_s = per_s
        self.tokens = capacity
        self.updated_at = now

    def take(self, now: float) -> bool:
        """Take a token if one is there; False means the limit is hit."""
        elapsed_s = now - self.updated_at
        if elapsed_s > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed_s * self.per_s)
            self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled completely (it then carries no state)."""
        return self.tokens + max(0.0, now - self.updated_at) * self.per_s >= self.capacity


def per_minute(count: int, now: float) -> TokenBucket:
    """A bucket allowing ``count`` actions per minute, in bursts of up to ``count``."""
    return TokenBucket(float(count), count / MINUTE_S, now)


def networks_of(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings (already validated by the config) as network objects."""
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


def address_in(host: str, networks: tuple[IPNetwork, ...]) -> bool:
    """Whether ``host`` (an IP address as text; IPv4-mapped IPv6 counts as IPv4) is in one."""
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class _AddressState:
    __slots__ = ("connects", "active")

    def __init__(self, connects: TokenBucket) -> None:
        self.connects = connects
        self.active = 0


class ConnectionGate:
    """Per-IP admission: new connections per minute and concurrent connections."""

    def __init__(self, limits: RateLimitsConfig) -> None:
        self._limits = limits
        self._exempt = networks_of(limits.exempt)
        self._states: OrderedDict[str, _AddressState] = OrderedDict()

    def is_exempt(self, host: str) -> bool:
        """Whether ``host`` is in a network exempt from the limits."""
        return address_in(host, self._exempt)

    def admit(self, host: str, now: float) -> str | None:
        """Count a new connection from ``host``: None if it may stay, else the limit it hit.

        An admitted connection must be given back with :meth:`release` when it closes.
        """
        if self.is_exempt(host):
            return None
        state = self._states.get(host)
        if state is None:
            state = _AddressState(per_minute(self._limits.connections_per_ip_per_minute, now))
            self._states[host] = state
            self._forget_some(now)
        else:
            self._states.move_to_end(host)
        if state.active >= self._limits.max_connections_per_ip:
            return "max_connections_per_ip"
        if not state.connects.take(now):
            return "connections_per_ip_per_minute"
        state.active += 1
        return None

    def release(self, host: str) -> None:
        """An admitted connection from ``host`` closed."""
        state = self._states.get(host)
        if state is not None and state.active > 0:
            state.active -= 1

    def active(self, host: str) -> int:
        """Open admitted connections from ``host``."""
        state = self._states.get(host)
        return state.active if state is not None else 0

    def __len__(self) -> int:
        return len(self._states)

    def _forget_some(self, now: float) -> None:
        """Keep memory bounded: drop the oldest idle, fully refilled addresses."""
        if len(self._states) <= MAX_TRACKED_ADDRESSES:
            return
        for host in list(self._states)[: len(self._states) - MAX_TRACKED_ADDRESSES + 1024]:
            state = self._states[host]
            if state.active == 0:
                del self._states[host]
        # Addresses with open connections stay; their count is bounded by maxclients.


class SessionLimits:
    """One connection's buckets: subscribe, authorize, submit (with a soft ban), invalid shares."""

    __slots__ = (
        "_authorizes",
        "_ban_s",
        "_exempt",
        "_invalid",
        "_malformed",
        "_submits",
        "_subscribes",
        "banned_until",
    )

    def __init__(self, limits: RateLimitsConfig, now: float, exempt: bool = False) -> None:
        self._exempt = exempt
        self._subscribes = per_minute(limits.subscribes_per_minute, now)
        self._authorizes = per_minute(limits.authorizes_per_minute, now)
        self._submits = per_minute(limits.max_shares_per_minute, now)
        self._invalid = per_minute(limits.max_invalid_shares_per_minute, now)
        self._malformed = per_minute(MALFORMED_REQUESTS_PER_MINUTE, now)
        self._ban_s = limits.submit_ban_s
        #: submits are refused until this time (soft ban), clock seconds
        self.banned_until = 0.0

    def subscribe(self, now: float) -> bool:
        """A mining.subscribe; False: over the limit (disconnect)."""
        return self._exempt or self._subscribes.take(now)

    def authorize(self, now: float) -> bool:
        """A mining.authorize; False: over the limit (disconnect)."""
        return self._exempt or self._authorizes.take(now)

    def submit(self, now: float) -> bool:
        """A mining.submit; False: soft-banned (now, or from now for ``submit_ban``)."""
        if self._exempt:
            return True
        if now < self.banned_until:
            return False
        if self._submits.take(now):
            return True
        self.banned_until = now + self._ban_s
        return False

    def invalid_share(self, now: float) -> bool:
        """A rejected share; False: too many (disconnect)."""
        return self._exempt or self._invalid.take(now)

    def malformed(self, now: float) -> bool:
        """A malformed request; False: too many (disconnect)."""
        return self._exempt or self._malformed.take(now)


class LimitLog:
    """Counts every limit hit in ``ckpool_limit_hits_total`` and logs it, rate-limited.

    One line per limit and address per minute, saying how many hits it stands for,
    so a flood cannot turn into a log flood.
    """

    _log = Logger()

    def __init__(self, clock: IReactorTime, instruments: PoolInstruments) -> None:
        self._clock = clock
        self._instruments = instruments
        self._last: OrderedDict[tuple[str, str], list[float]] = OrderedDict()

    def hit(self, limit: str, host: str, action: str) -> None:
        """``host`` hit ``limit``; ``action`` says what the pool did (refused, disconnected...)."""
        self._instruments.limit_hit(limit)
        now = self._clock.seconds()
        key = (limit, host)
        entry = self._last.get(key)
        if entry is not None and now - entry[0] < LIMIT_LOG_INTERVAL_S:
            entry[1] += 1
            return
        suppressed = int(entry[1]) if entry is not None else 0
        self._last[key] = [now, 0]
        self._last.move_to_end(key)
        while len(self._last) > MAX_LOGGED_KEYS:
            self._last.popitem(last=False)
        self._log.warn(
            "limit {limit} hit by {host}: {action} ({suppressed} more hits since the last report)",
            limit=limit,
            host=host,
            action=action,
            suppressed=suppressed,
        )
