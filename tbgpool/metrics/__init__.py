"""Prometheus metrics (``ckpool_*`` names, for operators' dashboards and alerts) and /health."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from tbgpool.metrics.collector import EVENT_DROP_REASONS, PoolCollector
from tbgpool.metrics.health import HealthResource, health_report
from tbgpool.metrics.instruments import LIMITS, REJECT_REASONS, PoolInstruments
from tbgpool.metrics.web import make_metrics_site

__all__ = [
    "EVENT_DROP_REASONS",
    "LIMITS",
    "REJECT_REASONS",
    "HealthResource",
    "PoolCollector",
    "PoolInstruments",
    "exported_metric_names",
    "health_report",
    "make_metrics_site",
]


def exported_metric_names() -> frozenset[str]:
    """Every metric name the pool exposes: counters with ``_total``, histograms by base name.

    Built by collecting a registry wired exactly as the pool wires its own, over a
    stand-in pool in which every optional value is present.
    """
    registry = CollectorRegistry()
    instruments = PoolInstruments(registry)
    clock = SimpleNamespace(seconds=lambda: 1000.0)
    template = SimpleNamespace(height=101, target=1 << 220)
    pool: Any = SimpleNamespace(
        clock=clock,
        working=set(),
        sessions=set(),
        jobs=SimpleNamespace(current=SimpleNamespace(template=template)),
        template_received_at=999.0,
        instruments=instruments,
        submitter=SimpleNamespace(failures=0),
        backend_connected=True,
    )
    node: Any = SimpleNamespace(
        connected=True,
        on_fallback=False,
        template_latency_ms=1.0,
        rpc_latency_ms={"getblocktemplate": 1.0},
        mempool_size=0,
        peer_count=0,
    )
    registry.register(PoolCollector(pool, node, None, lambda: 0, memory_bytes=lambda: 0))
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        else:
            names.add(family.name)
    return frozenset(names)
