"""Scrape-time metrics: read from the pool, its node connection and its event emitter.

Gauges that describe the present (connected miners, template age, memory) are
computed when Prometheus scrapes, from the objects that own the state, so
nothing on the share path updates them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tbgpool.difficulty import DIFF1_TARGET

if TYPE_CHECKING:
    from tbgpool.pool import Pool

#: Event drop reasons always exposed (at 0 until they happen), so rate() works from the start.
EVENT_DROP_REASONS: Final = ("queue_full", "too_large", "send_error", "unserializable")
_PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE")


class NodeView(Protocol):
    """What the collector reads from the template source."""

    connected: bool
    template_latency_ms: float | None
    rpc_latency_ms: dict[str, float]
    mempool_size: int | None
    peer_count: int | None

    @property
    def on_fallback(self) -> bool:
        """Serving from a fail-over node."""


class EmitterView(Protocol):
    """What the collector reads from the event emitter."""

    sent_events: int
    dropped: dict[str, int]

    @property
    def queued(self) -> int:
        """Events waiting for the collector."""

    @property
    def oldest_queued_at(self) -> float | None:
        """When the oldest waiting event was emitted."""


def resident_memory_bytes() -> int:
    """This process's resident set size, from /proc/self/statm (0 where unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


class PoolCollector(Collector):
    """The pool's present state as Prometheus gauges and counters, read at scrape time."""

    def __init__(
        self,
        pool: Pool,
        node: NodeView | None = None,
        emitter: EmitterView | None = None,
        log_write_failures: Callable[[], int] | None = None,
        memory_bytes: Callable[[], int] = resident_memory_bytes,
    ) -> None:
        self._pool = pool
        self._node = node
        self._emitter = emitter
        self._log_write_failures = log_write_failures
        self._memory_bytes = memory_bytes
        self._started_at = pool.clock.seconds()

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Every scrape-time family."""
        yield from self._pool_families()
        yield from self._node_families()
        yield from self._event_families()
        yield from self._process_families()

    def _pool_families(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        pool = self._pool
        now = pool.clock.seconds()
        yield GaugeMetricFamily(
            "ckpool_connected_miners", "Miner connections that are subscribed and authorized.",
            value=len(pool.working),
        )
        hashrate = pool.instruments.recent.hashrate_hs(now)
        yield GaugeMetricFamily(
            "ckpool_hashrate_total", "Pool hashrate from accepted shares over 5 minutes, H/s.",
            value=hashrate,
        )
        job = pool.jobs.current
        template = job.template if job is not None else None
        if template is not None:
            yield GaugeMetricFamily(
                "ckpool_bitcoin_height", "Height of the node's best block (the tip mined on).",
                value=template.height - 1,
            )
            yield GaugeMetricFamily(
                "ckpool_network_difficulty", "Difficulty of the block being mined.",
                value=DIFF1_TARGET / template.target if template.target else 0.0,
            )
            yield GaugeMetricFamily(
                "ckpool_template_age_seconds", "Seconds since the last template arrived.",
                value=max(0.0, now - pool.template_received_at),
            )
        yield GaugeMetricFamily(
            "ckpool_relay_stale_shares_percent",
            "Stale shares as a percentage of all shares over the last 5 minutes.",
            value=pool.instruments.recent.stale_percent(now),
        )
        yield CounterMetricFamily(
            "ckpool_block_submit_failures",
            "Block submissions that failed: unreachable node attempts and rejections.",
            value=pool.submitter.failures,
        )

    def _node_families(self) -> Iterator[GaugeMetricFamily]:
        node = self._node
        connected = node.connected if node is not None else self._pool.backend_connected
        yield GaugeMetricFamily(
            "ckpool_bitcoin_connected", "1 while a node is serving templates.",
            value=1.0 if connected else 0.0,
        )
        if node is None:
            return
        yield GaugeMetricFamily(
            "ckpool_relay_independent_mode",
            "1 while work comes from a fail-over node instead of the first configured one.",
            value=1.0 if node.on_fallback else 0.0,
        )
        if node.template_latency_ms is not None:
            yield GaugeMetricFamily(
                "ckpool_relay_template_latency_ms",
                "How long the last template took to arrive after it was asked for, ms.",
                value=node.template_latency_ms,
            )
        if node.mempool_size is not None:
            yield GaugeMetricFamily(
                "bitcoin_mempool_size", "Transactions in the node's mempool.",
                value=node.mempool_size,
            )
        if node.peer_count is not None:
            yield GaugeMetricFamily(
                "bitcoin_peer_count", "The node's peer connections.", value=node.peer_count
            )
        latency = GaugeMetricFamily(
            "bitcoin_rpc_latency_ms", "Latest latency of each node RPC call, ms.",
            labels=["method"],
        )
        for method, value in sorted(node.rpc_latency_ms.items()):
            latency.add_metric([method], value)
        yield latency

    def _event_families(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        emitter = self._emitter
        sent = emitter.sent_events if emitter is not None else 0
        yield CounterMetricFamily(
            "ckpool_events_sent", "Events delivered to the collector socket.", value=sent
        )
        dropped = CounterMetricFamily(
            "ckpool_events_dropped", "Events dropped, by reason.", labels=["reason"]
        )
        counts = dict(emitter.dropped) if emitter is not None else {}
        for reason in sorted(set(EVENT_DROP_REASONS) | set(counts)):
            dropped.add_metric([reason], counts.get(reason, 0))
        yield dropped
        yield GaugeMetricFamily(
            "ckpool_events_queued", "Events waiting for the collector.",
            value=emitter.queued if emitter is not None else 0,
        )
        oldest = emitter.oldest_queued_at if emitter is not None else None
        lag_ms = 0.0 if oldest is None else max(0.0, self._pool.clock.seconds() - oldest) * 1000
        yield GaugeMetricFamily(
            "ckpool_nats_replication_lag_ms",
            "Age of the oldest event waiting for the collector, ms (0 when none wait).",
            value=lag_ms,
        )

    def _process_families(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield GaugeMetricFamily(
            "ckpool_memory_bytes", "Resident memory of the pool process, bytes.",
            value=self._memory_bytes(),
        )
        yield GaugeMetricFamily(
            "ckpool_uptime_seconds", "Seconds since the pool started.",
            value=max(0.0, self._pool.clock.seconds() - self._started_at),
        )
        failures = self._log_write_failures() if self._log_write_failures is not None else 0
        yield CounterMetricFamily(
            "ckpool_log_write_failures", "Log lines lost because the log file could not be written.",
            value=failures,
        )
