"""The metrics HTTP site: ``metrics.path`` served by prometheus_client, and ``/health``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.twisted import MetricsResource
from twisted.web import resource
from twisted.web.server import Site

from tbgpool.metrics.health import HealthResource


class _Root(resource.Resource):
    """A root that 404s everything it has no child for."""


def make_metrics_site(registry: CollectorRegistry, path: str, health: HealthResource) -> Site:
    """A Site serving ``registry`` at ``path`` (e.g. "/metrics") and ``health`` at /health."""
    root = _Root()
    root.putChild(b"health", health)
    segments = [s.encode() for s in path.strip("/").split("/") if s]
    parent: resource.Resource = root
    for segment in segments[:-1]:
        child = _Root()
        parent.putChild(segment, child)
        parent = child
    if segments:
        parent.putChild(segments[-1], MetricsResource(registry=registry))
    else:
        raise ValueError("metrics.path must name a resource below /")
    site = Site(root)
    site.displayTracebacks = False
    site.noisy = False
    return site
