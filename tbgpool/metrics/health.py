"""``/health``: can this pool hand out valid work right now? JSON, 200 or 503."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from twisted.web import resource
from twisted.web.server import Request

if TYPE_CHECKING:
    from tbgpool.pool import Pool

#: Work older than this (and at least 4 update intervals) is presumed stale: 503.
MIN_STALE_TEMPLATE_AGE_S = 120.0


def health_report(pool: Pool, node_connected: bool) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body describing whether the pool can serve valid work."""
    now = pool.clock.seconds()
    job = pool.jobs.current
    max_age_s = max(MIN_STALE_TEMPLATE_AGE_S, 4 * pool.config.update_interval_s)
    problems: list[str] = []
    age_s: float | None = None
    height: int | None = None
    if job is None:
        problems.append("no block template yet")
    else:
        age_s = max(0.0, now - pool.template_received_at)
        height = job.template.height - 1
        if age_s > max_age_s:
            problems.append(f"newest template is {age_s:.0f} s old (limit {max_age_s:.0f} s)")
    if not node_connected:
        problems.append("no node reachable")
    serving = job is not None and (age_s is None or age_s <= max_age_s)
    body = {
        "status": "ok" if serving and not problems else ("degraded" if serving else "unavailable"),
        "serving_valid_work": serving,
        "bitcoind_connected": node_connected,
        "network": pool.network,
        "height": height,
        "template_age_s": None if age_s is None else round(age_s, 3),
        "max_template_age_s": max_age_s,
        "miners": len(pool.working),
        "connections": len(pool.sessions),
        "problems": problems,
    }
    return (200 if serving else 503), body


class HealthResource(resource.Resource):
    """GET /health: 200 while the pool serves valid work (possibly degraded), else 503."""

    isLeaf = True

    def __init__(self, pool: Pool, node_connected: Any) -> None:
        super().__init__()
        self._pool = pool
        self._node_connected = node_connected

    def render_GET(self, request: Request) -> bytes:
        """The health report as JSON."""
        status, body = health_report(self._pool, bool(self._node_connected()))
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        return json.dumps(body, sort_keys=True).encode() + b"\n"

    render_HEAD = render_GET
