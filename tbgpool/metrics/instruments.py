"""The instruments the pool updates as things happen: counters and histograms.

Everything here is registered in the :class:`CollectorRegistry` passed in, never
the global one, so tests and several pools in one process never collide. Label
values come from fixed sets, so no series grows with the number of miners.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from tbgpool.vardiff import HASHES_PER_DIFF1

#: Reject reasons that get their own label value; anything else is counted as "other".
REJECT_REASONS: Final = (
    "stale",
    "job_not_found",
    "duplicate",
    "low_difficulty",
    "unauthorized",
    "not_subscribed",
    "bad_params",
    "bad_job_id",
    "bad_extranonce2",
    "bad_extranonce2_length",
    "bad_ntime",
    "bad_nonce",
    "ntime_out_of_range",
    "bad_version_bits",
    "rate_limited",
    "other",
)
#: Limits whose hits are counted (``ckpool_limit_hits_total{limit}``).
LIMITS: Final = (
    "maxclients",
    "connections_per_ip_per_minute",
    "max_connections_per_ip",
    "subscribes_per_minute",
    "authorizes_per_minute",
    "max_shares_per_minute",
    "max_invalid_shares_per_minute",
    "malformed_requests",
    "non_stratum",
    "subscribe_timeout",
    "authorize_timeout",
    "idle_timeout",
    "slow_reader",
    "workers_per_connection",
    "line_length",
    "extranonce_space",
    "proxy_header_invalid",
    "proxy_header_timeout",
    "tls_handshake_timeout",
)
#: Event emission latency buckets, µs (the spec's target is P99 < 1 ms; alert at 5 ms).
EMIT_LATENCY_BUCKETS_US: Final = (
    25, 50, 100, 250, 500, 750, 1000, 2500, 5000, 10000, 50000, 250000, 1000000,
)
#: Share round-trip buckets, µs: from reading a submit line to its reply being written.
SHARE_RTT_BUCKETS_US: Final = (50, 100, 200, 400, 800, 1500, 3000, 6000, 12500, 25000, 100000)
#: New network block to the last miner notified, ms.
NOTIFY_LATENCY_BUCKETS_MS: Final = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
#: The window of the pool hashrate and the stale share percentage.
RECENT_WINDOW_S: Final = 300
_BUCKET_S: Final = 10


class RecentShares:
    """Shares, stale shares and accepted difficulty over the last RECENT_WINDOW_S seconds.

    Counted in 10-second buckets: one addition per share, so the share path pays
    next to nothing (the per-user decaying averages cost five exp() calls each).
    """

    __slots__ = ("_buckets", "_started_at")

    def __init__(self) -> None:
        self._buckets: deque[list[float]] = deque()  # [bucket start, shares, stale, difficulty]
        self._started_at: float | None = None

    def record(self, now: float, stale: bool = False, accepted_diff: float = 0.0) -> None:
        """Count one share at ``now``: stale or not, and the difficulty it was credited."""
        start = now - now % _BUCKET_S
        buckets = self._buckets
        if not buckets or buckets[-1][0] != start:
            if self._started_at is None:
                self._started_at = now
            buckets.append([start, 0, 0, 0.0])
            self._expire(now)
        bucket = buckets[-1]
        bucket[1] += 1
        if stale:
            bucket[2] += 1
        bucket[3] += accepted_diff

    def stale_percent(self, now: float) -> float:
        """Stale shares as a percentage of all shares in the window (0 with no shares)."""
        self._expire(now)
        shares = sum(b[1] for b in self._buckets)
        return 100.0 * sum(b[2] for b in self._buckets) / shares if shares else 0.0

    def hashrate_hs(self, now: float) -> float:
        """Accepted difficulty per second over the window (or since the first share), as H/s."""
        self._expire(now)
        if self._started_at is None:
            return 0.0
        span_s = min(float(RECENT_WINDOW_S), now - self._started_at)
        if not self._buckets or span_s <= 0:
            return 0.0
        return sum(b[3] for b in self._buckets) / max(span_s, _BUCKET_S) * HASHES_PER_DIFF1

    def _expire(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] <= now - RECENT_WINDOW_S - _BUCKET_S:
            self._buckets.popleft()


class FastHistogram(Collector):
    """A histogram for the share path: an index lookup and two additions per observation.

    prometheus_client's Histogram takes a lock and updates every bucket; here the
    reactor thread is the only writer, buckets are cumulated at scrape time.
    """

    def __init__(
        self, name: str, documentation: str, buckets: tuple[float, ...],
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(float(b) for b in buckets)
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        """Count one observation."""
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    @property
    def count(self) -> int:
        """How many observations so far."""
        return sum(self._counts)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """The histogram as Prometheus sees it: cumulative buckets, sum and count."""
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip(self._bounds, self._counts, strict=False):
            cumulative += count
            buckets.append((f"{bound:g}" if bound != int(bound) else f"{bound:.1f}", cumulative))
        buckets.append(("+Inf", cumulative + self._counts[-1]))
        yield HistogramMetricFamily(
            self._name, self._documentation, buckets=buckets, sum_value=self._sum
        )


class PoolInstruments:
    """Counters and histograms the pool and its Stratum side update directly."""

    def __init__(self, registry: CollectorRegistry) -> None:
        shares = Counter(
            "ckpool_shares", "Shares submitted, by whether they were accepted.", ["valid"],
            registry=registry,
        )
        self._valid = shares.labels(valid="true")
        self._invalid = shares.labels(valid="false")
        rejects = Counter(
            "ckpool_share_rejects", "Rejected shares by reason.", ["reason"], registry=registry
        )
        self._rejects = {reason: rejects.labels(reason=reason) for reason in REJECT_REASONS}
        self.blocks_found = Counter(
            "ckpool_blocks_found", "Blocks found by the pool and accepted by the node.",
            registry=registry,
        )
        limits = Counter(
            "ckpool_limit_hits", "Times a limit refused or cut something, by limit.", ["limit"],
            registry=registry,
        )
        self._limits = {limit: limits.labels(limit=limit) for limit in LIMITS}
        self.event_emit_latency_us = FastHistogram(
            "ckpool_event_emit_latency_us",
            "Time from share validation (or event creation) to its datagram being sent, µs.",
            EMIT_LATENCY_BUCKETS_US,
            registry,
        )
        self.share_rtt_us = FastHistogram(
            "ckpool_share_rtt_us",
            "Time from reading a mining.submit line to writing its reply, µs.",
            SHARE_RTT_BUCKETS_US,
            registry,
        )
        self.block_notify_latency_ms = FastHistogram(
            "ckpool_block_notify_latency_ms",
            "Time from a new network block being seen to the last miner being sent its job, ms.",
            NOTIFY_LATENCY_BUCKETS_MS,
            registry,
        )
        self.recent = RecentShares()

    def share_accepted(self, credited_diff: float, now: float) -> None:
        """Count an accepted share credited at ``credited_diff``."""
        self._valid.inc()
        self.recent.record(now, accepted_diff=credited_diff)

    def share_rejected(self, reason: str, now: float) -> None:
        """Count a rejected share under its reason (unknown reasons count as "other")."""
        self._invalid.inc()
        self._rejects.get(reason, self._rejects["other"]).inc()
        self.recent.record(now, stale=reason == "stale")

    def limit_hit(self, limit: str) -> None:
        """Count one hit of ``limit`` (one of LIMITS)."""
        self._limits[limit].inc()
