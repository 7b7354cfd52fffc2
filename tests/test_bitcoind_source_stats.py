"""What the template source measures for the dashboards: latencies, tip sightings, node stats."""

from __future__ import annotations

from tbgpool.bitcoind.source import NODE_STATS_INTERVAL_S, PRIMARY_RECHECK_INTERVAL_S
from tests.test_bitcoind_source import SourceTestCase


class LatencyTests(SourceTestCase):
    """Template and RPC latencies, and when a new tip was first seen."""

    def test_template_latency(self) -> None:
        """a template answered 0.3 s after it was asked for reads 300 ms"""
        self.make(start=False)
        node = self.nodes[0]
        node.answer_now = False
        self.source.startService()
        self.addCleanup(self.stop)
        node.release("getblockchaininfo")
        self.clock.advance(0.3)
        node.release("getblocktemplate")
        self.assertAlmostEqual(self.source.template_latency_ms or 0.0, 300.0)
        self.assertAlmostEqual(self.source.rpc_latency_ms["getblocktemplate"], 300.0)
        self.assertIn("getblockchaininfo", self.source.rpc_latency_ms)

    def test_tip_seen_by_notification(self) -> None:
        """a tip announced by ZMQ counts from the notice, not from its template"""
        self.make()
        self.advance(0)
        node = self.nodes[0]
        node.mine()
        node.answer_now = False
        noticed_at = self.clock.seconds()
        self.source.blockNotified(node.tip)
        self.clock.advance(0.05)
        node.release("getblocktemplate")
        self.assertEqual(self.source.tip_seen_at, noticed_at)
        self.assertEqual(self.consumer.templates[-1].previous_block_hash, node.tip)

    def test_tip_seen_by_polling(self) -> None:
        """a tip found by getbestblockhash polling counts from that poll"""
        self.make(blockpoll_s=0.1)
        self.advance(0)
        node = self.nodes[0]
        node.mine()
        self.advance(0.1)
        self.assertEqual(self.consumer.templates[-1].previous_block_hash, node.tip)
        assert self.source.tip_seen_at is not None
        self.assertLessEqual(self.source.tip_seen_at, self.clock.seconds())
        self.assertGreater(self.source.tip_seen_at, self.clock.seconds() - 0.2)

    def test_refresh_keeps_tip_time(self) -> None:
        """a refreshed template on the same tip leaves tip_seen_at alone"""
        self.make(update_interval_s=5)
        self.advance(0)
        first = self.source.tip_seen_at
        self.advance(5.2)
        self.assertGreaterEqual(len(self.consumer.templates), 2)
        self.assertEqual(self.source.tip_seen_at, first)


class NodeStatsTests(SourceTestCase):
    """Mempool size and peer count for the Bitcoin Core dashboard."""

    def test_read_periodically(self) -> None:
        """mempool size and peers are read every NODE_STATS_INTERVAL_S"""
        self.make()
        self.advance(0)
        self.assertIsNone(self.source.mempool_size)
        self.advance(NODE_STATS_INTERVAL_S + 0.2)
        self.assertEqual((self.source.mempool_size, self.source.peer_count), (1234, 9))
        self.nodes[0].peers = 3
        self.advance(NODE_STATS_INTERVAL_S + 0.2)
        self.assertEqual(self.source.peer_count, 3)

    def test_garbage_ignored(self) -> None:
        """answers of the wrong shape keep the previous values and never fail over"""
        self.make()
        self.advance(NODE_STATS_INTERVAL_S + 0.2)
        self.nodes[0].mempool_size = "lots"  # type: ignore[assignment]
        self.advance(NODE_STATS_INTERVAL_S + 0.2)
        self.assertEqual(self.source.mempool_size, 1234)
        self.assertTrue(self.source.connected)
        self.assertEqual(self.source.backend, self.nodes[0])


class FallbackTests(SourceTestCase):
    """Independent mode: serving from a fail-over node."""

    def test_on_fallback(self) -> None:
        """on_fallback is true only while the second node serves"""
        self.make(count=2)
        self.advance(0)
        self.assertFalse(self.source.on_fallback)
        self.nodes[0].down = True
        self.advance(2)
        self.assertIs(self.source.backend, self.nodes[1])
        self.assertTrue(self.source.on_fallback)


class FailBackTests(SourceTestCase):
    """A fail-over node is left as soon as the first node is ready again."""

    def test_returns_to_first_node(self) -> None:
        """with the first node back and synced, the source moves back within one recheck"""
        self.make(count=2)
        self.advance(0)
        first, second = self.nodes
        first.down = True
        self.advance(2)
        self.assertIs(self.source.backend, second)
        first.down = False
        self.advance(PRIMARY_RECHECK_INTERVAL_S + 1)
        self.assertIs(self.source.backend, first)
        self.assertTrue(self.source.connected)
        self.assertFalse(self.source.on_fallback)
        self.assertEqual(self.consumer.statuses, [])

    def test_stays_while_first_node_syncs(self) -> None:
        """a first node still in initial block download is not used"""
        self.make(count=2)
        self.advance(0)
        first, second = self.nodes
        first.down = True
        self.advance(2)
        first.down = False
        first.syncing = True
        self.advance(PRIMARY_RECHECK_INTERVAL_S * 2 + 1)
        self.assertIs(self.source.backend, second)
        self.assertTrue(self.source.on_fallback)
