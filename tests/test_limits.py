"""Token buckets, per-IP admission, per-connection limits, timeouts and slow readers."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CollectorRegistry
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from tbgpool.config import RateLimitsConfig
from tbgpool.limits import (
    MALFORMED_REQUESTS_PER_MINUTE,
    ConnectionGate,
    LimitLog,
    SessionLimits,
    TokenBucket,
    address_in,
    networks_of,
)
from tbgpool.metrics.instruments import PoolInstruments
from tbgpool.stratum.protocol import StratumFactory, StratumProtocol
from tbgpool.testing import make_template
from tests.helpers import PoolHarness


class TokenBucketTests(SynchronousTestCase):
    """A burst of ``capacity``, then one per 1/rate seconds."""

    def test_burst_then_refill(self) -> None:
        """3 at once, the 4th refused, one more after a third of a minute"""
        bucket = TokenBucket(3, 3 / 60, 0.0)
        self.assertEqual([bucket.take(0.0) for _ in range(4)], [True, True, True, False])
        self.assertFalse(bucket.take(19.9))
        self.assertTrue(bucket.take(20.1))
        self.assertFalse(bucket.take(20.2))

    def test_clock_backwards(self) -> None:
        """a clock stepping back never creates tokens"""
        bucket = TokenBucket(1, 1.0, 100.0)
        self.assertTrue(bucket.take(100.0))
        self.assertFalse(bucket.take(50.0))
        self.assertFalse(bucket.take(100.5))
        self.assertTrue(bucket.take(101.1))


class NetworkTests(SynchronousTestCase):
    """Address matching, IPv4-mapped IPv6 included."""

    def test_membership(self) -> None:
        """v4, v6, mapped v4 and junk"""
        networks = networks_of(["10.0.0.0/8", "2001:db8::/32"])
        self.assertTrue(address_in("10.1.2.3", networks))
        self.assertTrue(address_in("::ffff:10.1.2.3", networks))
        self.assertTrue(address_in("2001:db8::1", networks))
        self.assertFalse(address_in("11.0.0.1", networks))
        self.assertFalse(address_in("not-an-ip", networks))
        self.assertFalse(address_in("10.0.0.1", ()))


class GateTests(SynchronousTestCase):
    """Per-IP admission."""

    def test_concurrent_and_rate(self) -> None:
        """at most 2 at once, at most 3 a minute; release frees a slot; exempt is unlimited"""
        gate = ConnectionGate(RateLimitsConfig(
            connections_per_ip_per_minute=3, max_connections_per_ip=2, exempt=("10.0.0.0/8",)))
        self.assertEqual([gate.admit("1.2.3.4", 0.0) for _ in range(3)],
                         [None, None, "max_connections_per_ip"])
        gate.release("1.2.3.4")
        self.assertIsNone(gate.admit("1.2.3.4", 1.0))
        gate.release("1.2.3.4")
        self.assertEqual(gate.admit("1.2.3.4", 2.0), "connections_per_ip_per_minute")
        self.assertIsNone(gate.admit("1.2.3.5", 2.0))
        self.assertTrue(all(gate.admit("10.9.9.9", 2.0) is None for _ in range(100)))
        self.assertEqual(gate.active("10.9.9.9"), 0)

    def test_memory_bounded(self) -> None:
        """a flood of distinct addresses does not grow the table without bound"""
        import tbgpool.limits as limits

        self.patch(limits, "MAX_TRACKED_ADDRESSES", 100)
        gate = ConnectionGate(RateLimitsConfig())
        for i in range(5000):
            host = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
            gate.admit(host, float(i))
            gate.release(host)
        self.assertLessEqual(len(gate), 100 + 1024)


class SessionLimitTests(SynchronousTestCase):
    """Per-connection buckets and the soft ban."""

    def test_soft_ban(self) -> None:
        """past max_shares_per_minute, submits are refused for submit_ban seconds"""
        limits = SessionLimits(RateLimitsConfig(max_shares_per_minute=5, submit_ban_s=300), 0.0)
        self.assertEqual([limits.submit(0.0) for _ in range(6)], [True] * 5 + [False])
        self.assertFalse(limits.submit(299.0))
        self.assertTrue(limits.submit(300.5))

    def test_exempt(self) -> None:
        """an exempt connection is never limited"""
        limits = SessionLimits(RateLimitsConfig(max_shares_per_minute=1, subscribes_per_minute=1),
                               0.0, exempt=True)
        self.assertTrue(all(limits.submit(0.0) and limits.subscribe(0.0) for _ in range(50)))

    def test_malformed(self) -> None:
        """MALFORMED_REQUESTS_PER_MINUTE junk lines, then no more"""
        limits = SessionLimits(RateLimitsConfig(), 0.0)
        allowed = [limits.malformed(0.0) for _ in range(MALFORMED_REQUESTS_PER_MINUTE + 1)]
        self.assertEqual(allowed, [True] * MALFORMED_REQUESTS_PER_MINUTE + [False])


class LimitLogTests(SynchronousTestCase):
    """Every hit is counted; the log says it once a minute per limit and address."""

    def test_counted_and_rate_limited(self) -> None:
        """1000 hits: 1000 in the metric, 2 log lines over 61 s, the second counting the rest"""
        clock = Clock()
        registry = CollectorRegistry()
        log = LimitLog(clock, PoolInstruments(registry))
        with capturedLogs() as events:
            for _ in range(1000):
                log.hit("maxclients", "1.2.3.4", "connection reset")
            clock.advance(61)
            log.hit("maxclients", "1.2.3.4", "connection reset")
        value = registry.get_sample_value("ckpool_limit_hits_total", {"limit": "maxclients"})
        self.assertEqual(value, 1001)
        lines = [e for e in events if e.get("limit") == "maxclients"]
        self.assertEqual([e["suppressed"] for e in lines], [0, 999])
        self.assertEqual(lines[0]["host"], "1.2.3.4")
        self.assertNotIn("1.2.3.4", lines[0]["log_format"])


class ProtocolLimitTestCase(SynchronousTestCase):
    """StratumProtocols on StringTransports over an in-memory pool."""

    overrides: dict[str, Any] = {}

    def setUp(self) -> None:
        self.harness = PoolHarness(self.mktemp(), **self.overrides)
        self.harness.source.push(make_template(curtime=int(self.harness.clock.seconds())))
        self.factory = StratumFactory(self.harness.pool)

    def connect(self, host: str = "198.51.100.7") -> tuple[StratumProtocol, StringTransport]:
        """A protocol for a connection from ``host``."""
        address = IPv4Address("TCP", host, 40000)
        proto = self.factory.buildProtocol(address)
        assert isinstance(proto, StratumProtocol)
        transport = StringTransport(peerAddress=address)
        proto.makeConnection(transport)
        return proto, transport

    def replies(self, transport: StringTransport) -> list[dict[str, Any]]:
        """Every reply written."""
        return [json.loads(x) for x in transport.value().splitlines() if x.startswith(b"{")]


class TimeoutTests(ProtocolLimitTestCase):
    """Set-up and idle timeouts, swept on the pool's clock."""

    overrides = {"rate_limits": {"subscribe_timeout": 10, "authorize_timeout": 20,
                                 "idle_timeout": 100}}

    def test_stages(self) -> None:
        """silent: closed at 10 s; subscribed only: at 20 s; authorized: idle at 100 s"""
        silent, silent_t = self.connect()
        subscribed, subscribed_t = self.connect("198.51.100.8")
        subscribed.dataReceived(b'{"id":1,"method":"mining.subscribe","params":[]}\n')
        working, working_t = self.connect("198.51.100.9")
        working.dataReceived(
            b'{"id":1,"method":"mining.subscribe","params":[]}\n'
            b'{"id":2,"method":"mining.authorize","params":'
            b'["bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080","x"]}\n')
        pool, clock = self.harness.pool, self.harness.clock
        for _ in range(12):
            clock.advance(1)
            pool.tick()
        self.assertEqual((silent_t.disconnecting, subscribed_t.disconnecting,
                          working_t.disconnecting), (True, False, False))
        for _ in range(10):
            clock.advance(1)
            pool.tick()
        self.assertEqual((subscribed_t.disconnecting, working_t.disconnecting), (True, False))
        for _ in range(80):
            clock.advance(1)
            pool.tick()
        self.assertTrue(working_t.disconnecting)


class SlowReaderTests(ProtocolLimitTestCase):
    """A miner that does not read is stopped being read from, then aborted."""

    overrides = {"rate_limits": {"slow_reader_timeout": 5}}

    def test_paused_then_aborted(self) -> None:
        """the transport's buffer fills (pauseProducing): reading stops; after 5 s, abort"""
        proto, transport = self.connect()
        self.assertIs(transport.producer, proto)
        proto.pauseProducing()
        self.assertEqual(transport.producerState, "paused")
        pool, clock = self.harness.pool, self.harness.clock
        clock.advance(3)
        pool.sweep_timeouts(clock.seconds())
        self.assertFalse(transport.disconnecting)
        proto.resumeProducing()
        self.assertEqual(transport.producerState, "producing")
        proto.pauseProducing()
        clock.advance(6)
        pool.sweep_timeouts(clock.seconds())
        self.assertTrue(transport.disconnecting)


class SplitTests(ProtocolLimitTestCase):
    """Hostile lines get the same answers however they are split across reads."""

    LINES = (
        b'{"id":1,"method":"mining.subscribe","params":[NaN]}\n'
        b'{"id":2,"id":3,"method":"mining.subscribe","params":[]}\n'
        b'{"id":4,"method":"mining.subscribe","params":["\\udc00"]}\n'
        b'\xc3\x28\n'
        b'{"id":5,"method":"mining.subscribe","params":["ok/1.0"]}\n'
    )

    def test_every_split(self) -> None:
        """splitting the stream at any byte gives exactly the unsplit replies"""
        proto, whole = self.connect()
        proto.dataReceived(self.LINES)
        expected = [(r["id"], r["error"]) for r in self.replies(whole)]
        self.assertEqual(len(expected), 5)
        for cut in range(1, len(self.LINES)):
            self.harness = PoolHarness(self.mktemp())
            self.harness.source.push(make_template(curtime=int(self.harness.clock.seconds())))
            self.factory = StratumFactory(self.harness.pool)
            proto, transport = self.connect()
            proto.dataReceived(self.LINES[:cut])
            proto.dataReceived(self.LINES[cut:])
            self.assertEqual([(r["id"], r["error"]) for r in self.replies(transport)], expected,
                             cut)


class AdmissionTests(ProtocolLimitTestCase):
    """Refused connections get no session and leave no trace but the metric."""

    overrides = {"rate_limits": {"max_connections_per_ip": 2}}

    def test_third_connection_reset(self) -> None:
        """a third concurrent connection from one IP is closed without a session"""
        self.connect()
        self.connect()
        proto, transport = self.connect()
        self.assertIsNone(proto.session)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(self.harness.pool.sessions), 2)
        value = self.harness.registry.get_sample_value(
            "ckpool_limit_hits_total", {"limit": "max_connections_per_ip"})
        self.assertEqual(value, 1)
        proto.connectionLost()
        self.assertEqual(self.harness.pool.gate.active("198.51.100.7"), 2)
