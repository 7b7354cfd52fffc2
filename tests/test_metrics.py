"""Prometheus metrics and /health: names, values matching reality, bounded labels, HTTP."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, readBody

from tbgpool.difficulty import target_for_difficulty
from tbgpool.metrics import (
    REJECT_REASONS,
    HealthResource,
    PoolCollector,
    exported_metric_names,
    health_report,
    make_metrics_site,
)
from tbgpool.metrics.instruments import RecentShares
from tbgpool.stratum.protocol import StratumFactory
from tbgpool.testing import make_template, mine
from tests.helpers import REGTEST_P2WPKH, PoolHarness, last_difficulty, last_job

HARD_BITS = 0x1E00FFFF
EASY_BITS = 0x207FFFFF


def fake_node(**overrides: Any) -> Any:
    """A node view with every value present."""
    values: dict[str, Any] = dict(
        connected=True, on_fallback=False, template_latency_ms=12.5,
        rpc_latency_ms={"getblocktemplate": 12.5, "getbestblockhash": 0.8},
        mempool_size=321, peer_count=8,
    )
    values.update(overrides)
    return SimpleNamespace(**values)


def fake_emitter() -> Any:
    """An emitter view with some traffic and drops."""
    return SimpleNamespace(sent_events=40, dropped={"queue_full": 3}, queued=5,
                           oldest_queued_at=None)


class Scrape:
    """One scrape of a registry, parsed with the OpenMetrics parser."""

    def __init__(self, registry: Any) -> None:
        text = generate_latest(registry).decode()
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = [s for f in self.families.values() for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        """The value of the one sample called ``name`` with exactly these labels."""
        found = [s.value for s in self.samples
                 if s.name == name and s.labels == labels]
        if len(found) != 1:
            raise AssertionError(f"{name}{labels}: {len(found)} samples")
        return found[0]


class MetricsTestCase(SynchronousTestCase):
    """A pool harness whose registry also carries the scrape-time collector."""

    bits = HARD_BITS

    def setUp(self) -> None:
        self.harness = PoolHarness(self.mktemp())
        self.node = fake_node()
        self.emitter = fake_emitter()
        self.log_failures = 0
        self.harness.registry.register(PoolCollector(
            self.harness.pool, self.node, self.emitter, lambda: self.log_failures,
            memory_bytes=lambda: 123456789,
        ))
        self.harness.source.push(
            make_template(bits=self.bits, curtime=int(self.harness.clock.seconds()))
        )

    def scrape(self) -> Scrape:
        """Scrape now."""
        return Scrape(self.harness.registry)

    def submit(self, session: Any, connection: Any, extranonce1: str, extranonce2: str) -> Any:
        """Mine and submit a real share; returns the result or the StratumError raised."""
        job = last_job(connection)
        solution = mine(job, extranonce1, extranonce2,
                        target_for_difficulty(last_difficulty(connection)))
        try:
            return self.harness.request(session, "mining.submit", REGTEST_P2WPKH, job.job_id,
                                        solution.extranonce2, solution.ntime, solution.nonce)
        except Exception as e:
            return e


class NamesTests(MetricsTestCase):
    """Every metric the spec's dashboards and alerts use is exported under its name."""

    SPEC_NAMES = (
        "ckpool_connected_miners", "ckpool_hashrate_total", "ckpool_blocks_found_total",
        "ckpool_shares_total", "ckpool_event_emit_latency_us", "ckpool_bitcoin_height",
        "ckpool_bitcoin_connected", "ckpool_block_submit_failures_total",
        "ckpool_memory_bytes", "ckpool_uptime_seconds",
    )

    def test_spec_names_exported(self) -> None:
        """each name of spec §5.2/§5.3 is in the exported set"""
        for name in self.SPEC_NAMES:
            self.assertIn(name, exported_metric_names())

    def test_scrape_carries_every_exported_name(self) -> None:
        """a real scrape holds a sample of every exported name (histograms as _bucket)"""
        scrape = self.scrape()
        names = {s.name for s in scrape.samples}
        for name in exported_metric_names():
            self.assertTrue(
                name in names or f"{name}_bucket" in names, f"{name} missing from the scrape"
            )

    def test_no_unbounded_labels(self) -> None:
        """no sample carries a worker, user, address or ip label"""
        session, connection, extranonce1, _ = self.harness.working_session()
        self.submit(session, connection, extranonce1, "00" * 8)
        for sample in self.scrape().samples:
            self.assertFalse({"worker", "user", "address", "ip"} & set(sample.labels), sample)


class ValueTests(MetricsTestCase):
    """The values say what the pool is doing."""

    def test_miners_and_shares(self) -> None:
        """connected miners, valid and invalid shares and rejects by reason follow the traffic"""
        session, connection, extranonce1, _ = self.harness.working_session()
        self.harness.working_session()
        self.submit(session, connection, extranonce1, "00" * 8)
        duplicate = self.submit(session, connection, extranonce1, "00" * 8)
        self.assertIsInstance(duplicate, Exception)
        scrape = self.scrape()
        self.assertEqual(scrape.value("ckpool_connected_miners"), 2)
        self.assertEqual(scrape.value("ckpool_shares_total", valid="true"), 1)
        self.assertEqual(scrape.value("ckpool_shares_total", valid="false"), 1)
        self.assertEqual(scrape.value("ckpool_share_rejects_total", reason="duplicate"), 1)
        self.assertEqual(scrape.value("ckpool_share_rejects_total", reason="stale"), 0)

    def test_unknown_reason_is_other(self) -> None:
        """a reject reason outside the fixed set is counted as other"""
        self.harness.pool.instruments.share_rejected("something_new", 0.0)
        scrape = self.scrape()
        self.assertEqual(scrape.value("ckpool_share_rejects_total", reason="other"), 1)
        reasons = {s.labels["reason"] for s in scrape.samples
                   if s.name == "ckpool_share_rejects_total"}
        self.assertEqual(reasons, set(REJECT_REASONS))

    def test_chain_state(self) -> None:
        """height is the tip's, template age grows with time, node gauges come from the node"""
        self.harness.clock.advance(7)
        scrape = self.scrape()
        self.assertEqual(scrape.value("ckpool_bitcoin_height"), 199)
        self.assertEqual(scrape.value("ckpool_template_age_seconds"), 7)
        self.assertEqual(scrape.value("ckpool_bitcoin_connected"), 1)
        self.assertEqual(scrape.value("bitcoin_mempool_size"), 321)
        self.assertEqual(scrape.value("bitcoin_peer_count"), 8)
        self.assertEqual(scrape.value("bitcoin_rpc_latency_ms", method="getblocktemplate"), 12.5)
        self.assertEqual(scrape.value("ckpool_relay_template_latency_ms"), 12.5)
        self.assertEqual(scrape.value("ckpool_relay_independent_mode"), 0)
        self.node.connected = False
        self.node.on_fallback = True
        scrape = self.scrape()
        self.assertEqual(scrape.value("ckpool_bitcoin_connected"), 0)
        self.assertEqual(scrape.value("ckpool_relay_independent_mode"), 1)

    def test_process_and_events(self) -> None:
        """memory, uptime, event counters and queue lag come from their owners"""
        self.harness.clock.advance(30)
        self.emitter.oldest_queued_at = self.harness.clock.seconds() - 2.5
        self.log_failures = 4
        scrape = self.scrape()
        self.assertEqual(scrape.value("ckpool_memory_bytes"), 123456789)
        self.assertEqual(scrape.value("ckpool_uptime_seconds"), 30)
        self.assertEqual(scrape.value("ckpool_events_sent_total"), 40)
        self.assertEqual(scrape.value("ckpool_events_dropped_total", reason="queue_full"), 3)
        self.assertEqual(scrape.value("ckpool_events_dropped_total", reason="too_large"), 0)
        self.assertEqual(scrape.value("ckpool_events_queued"), 5)
        self.assertEqual(scrape.value("ckpool_nats_replication_lag_ms"), 2500)
        self.assertEqual(scrape.value("ckpool_log_write_failures_total"), 4)

    def test_hashrate(self) -> None:
        """pool hashrate is accepted difficulty per second times 2**32"""
        session, connection, extranonce1, _ = self.harness.working_session()
        difficulty = last_difficulty(connection)
        for i in range(31):
            self.submit(session, connection, extranonce1, f"{i:016x}")
            self.harness.clock.advance(10)
        # 30 intervals of 10 s, one share each: difficulty / 10 per second.
        hashrate = self.scrape().value("ckpool_hashrate_total")
        ratio = hashrate / (difficulty / 10 * 2**32)
        self.assertTrue(0.85 < ratio < 1.15, ratio)

    def test_limit_hits(self) -> None:
        """refused connections and over-long lines count as limit hits"""
        factory = StratumFactory(self.harness.pool)
        for _ in range(3):
            proto = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
            assert proto is not None
            proto.makeConnection(StringTransport())
            proto.dataReceived(b"x" * 20000)
        self.assertEqual(self.scrape().value("ckpool_limit_hits_total", limit="line_length"), 3)

    def test_share_rtt(self) -> None:
        """a submit through the protocol is timed into the round-trip histogram"""
        factory = StratumFactory(self.harness.pool)
        proto = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        assert proto is not None
        proto.makeConnection(StringTransport())
        proto.dataReceived(b'{"id":1,"method":"mining.submit","params":[]}\n')
        self.assertEqual(self.scrape().value("ckpool_share_rtt_us_count"), 1)


class BlockMetricsTests(MetricsTestCase):
    """Blocks found, submit failures and new-block notify latency."""

    bits = EASY_BITS

    def test_blocks_and_failures(self) -> None:
        """an accepted block counts as found; a rejected one as a submit failure"""
        session, connection, extranonce1, _ = self.harness.working_session()
        self.submit(session, connection, extranonce1, "00" * 8)
        self.harness.source.answers.append("bad-cb-amount")
        self.submit(session, connection, extranonce1, "00" * 7 + "01")
        scrape = self.scrape()
        self.assertEqual(scrape.value("ckpool_blocks_found_total"), 1)
        self.assertEqual(scrape.value("ckpool_block_submit_failures_total"), 1)

    def test_notify_latency(self) -> None:
        """a new tip seen 0.25 s before its jobs went out is observed as 250 ms"""
        self.harness.working_session()
        now = self.harness.clock.seconds()
        self.harness.source.push(
            make_template(height=201, previous_block_hash="22" * 32, bits=EASY_BITS),
            tip_seen_at=now - 0.25,
        )
        scrape = self.scrape()
        self.assertEqual(scrape.value("ckpool_block_notify_latency_ms_count"), 1)
        self.assertEqual(scrape.value("ckpool_block_notify_latency_ms_sum"), 250)


class StaleWindowTests(SynchronousTestCase):
    """The stale share percentage covers the last five minutes only."""

    def test_window(self) -> None:
        """stale shares age out of the window"""
        window = RecentShares()
        for _ in range(3):
            window.record(1000.0, accepted_diff=1.0)
        window.record(1000.0, stale=True)
        self.assertEqual(window.stale_percent(1000.0), 25.0)
        window.record(1400.0)
        self.assertEqual(window.stale_percent(1400.0), 0.0)
        self.assertEqual(RecentShares().stale_percent(5.0), 0.0)

    def test_hashrate_warm_up(self) -> None:
        """before a full window the rate is over the time since the first share"""
        window = RecentShares()
        window.record(1000.0, accepted_diff=100.0)
        window.record(1050.0, accepted_diff=100.0)
        self.assertAlmostEqual(window.hashrate_hs(1100.0), 200.0 / 100.0 * 2**32)
        self.assertEqual(RecentShares().hashrate_hs(10.0), 0.0)


class HealthTests(MetricsTestCase):
    """/health: 200 while valid work is served, 503 when it cannot be."""

    def test_ok(self) -> None:
        """fresh work and a node: ok"""
        status, body = health_report(self.harness.pool, True)
        self.assertEqual((status, body["status"]), (200, "ok"))
        self.assertEqual(body["height"], 199)

    def test_degraded(self) -> None:
        """node gone but work still fresh: 200, degraded, the problem named"""
        status, body = health_report(self.harness.pool, False)
        self.assertEqual((status, body["status"]), (200, "degraded"))
        self.assertIn("no node reachable", body["problems"])

    def test_stale_work(self) -> None:
        """work older than the limit: 503"""
        self.harness.clock.advance(121)
        status, body = health_report(self.harness.pool, False)
        self.assertEqual((status, body["status"]), (503, "unavailable"))
        self.assertFalse(body["serving_valid_work"])

    def test_no_template(self) -> None:
        """before the first template: 503"""
        harness = PoolHarness(self.mktemp())
        status, body = health_report(harness.pool, True)
        self.assertEqual(status, 503)
        self.assertIn("no block template yet", body["problems"])


class SiteTests(TestCase):
    """The metrics site over real HTTP on 127.0.0.1."""

    def setUp(self) -> None:
        self.harness = PoolHarness(self.mktemp())
        self.connected = True
        self.harness.registry.register(PoolCollector(self.harness.pool, fake_node()))
        site = make_metrics_site(
            self.harness.registry, "/metrics",
            HealthResource(self.harness.pool, lambda: self.connected),
        )
        self.port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(self.port.stopListening)
        self.agent = Agent(reactor)

    async def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path``; (status, body)."""
        url = f"http://127.0.0.1:{self.port.getHost().port}{path}".encode()
        response = await self.agent.request(b"GET", url)
        body = await readBody(response)
        return response.code, body

    @defer.inlineCallbacks
    def test_metrics_and_health(self) -> Any:
        """/metrics parses as OpenMetrics-compatible text; /health is JSON 503 then 200"""
        code, body = yield defer.Deferred.fromCoroutine(self.get("/metrics"))
        self.assertEqual(code, 200)
        self.assertIn(b"ckpool_connected_miners 0.0", body)
        code, body = yield defer.Deferred.fromCoroutine(self.get("/health"))
        self.assertEqual(code, 503)
        self.assertEqual(json.loads(body)["status"], "unavailable")
        self.harness.source.push(make_template(bits=HARD_BITS,
                                               curtime=int(self.harness.clock.seconds())))
        code, body = yield defer.Deferred.fromCoroutine(self.get("/health"))
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)["miners"], 0)
        code, _ = yield defer.Deferred.fromCoroutine(self.get("/nothing"))
        self.assertEqual(code, 404)
