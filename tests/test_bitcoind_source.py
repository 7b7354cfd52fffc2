"""Tests for BitcoindTemplateSource (tbgpool.bitcoind.source), driven by a task.Clock.

The nodes are fakes that answer like bitcoind, either at once or when the test
releases a pending call, and can be switched down, warming up, or to another tip.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tbgpool.bitcoind.rpc import BitcoindRPC
from tbgpool.bitcoind.rpcserver import make_rpc_site
from tbgpool.bitcoind.source import FAILURES_BEFORE_FAILOVER, BitcoindTemplateSource
from tbgpool.errors import RPCError, RPCUnavailable
from tbgpool.interfaces import IBitcoinRPC, ITemplateConsumer, ITemplateSource
from tbgpool.template import BlockTemplate


def block_hash(height: int, fork: str = "a") -> str:
    """A distinct display-hex hash for each height."""
    return f"{fork}{height:063x}"


@implementer(IBitcoinRPC)
class FakeNode:
    """Answers getblockchaininfo, getbestblockhash, getblocktemplate and submitblock."""

    def __init__(self, clock: IReactorTime, name: str = "node0", chain: str = "main") -> None:
        self.clock = clock
        self.name = name
        self.chain = chain
        self.height = 100  # height of the next block
        self.calls: list[tuple[float, str, Any]] = []
        self.pending: list[tuple[str, defer.Deferred[Any]]] = []
        self.answer_now = True
        self.down = False
        self.error: Exception | None = None
        self.errors: dict[str, Exception] = {}
        self.template_override: Any = None
        self.submit_result: Any = None
        self.mempool_size = 1234
        self.syncing = False
        self.peers = 9

    @property
    def tip(self) -> str:
        """The hash of the best block."""
        return block_hash(self.height - 1)

    def mine(self) -> None:
        """A new block arrives."""
        self.height += 1

    def methods(self) -> list[str]:
        """The methods called so far, in order."""
        return [method for _, method, _ in self.calls]

    def call(self, method: str, params: list[object] | None = None) -> defer.Deferred[Any]:
        """Answer now, fail, or leave the call pending for the test to release."""
        self.calls.append((self.clock.seconds(), method, params))
        if self.down:
            return defer.fail(RPCUnavailable(f"{self.name}: connection refused"))
        if self.error is not None:
            return defer.fail(self.error)
        if method in self.errors:
            return defer.fail(self.errors[method])
        if not self.answer_now:
            d: defer.Deferred[Any] = defer.Deferred()
            self.pending.append((method, d))
            return d
        return defer.succeed(self.answer(method))

    def answer(self, method: str) -> Any:
        """What bitcoind would answer now."""
        if method == "getblockchaininfo":
            return {"chain": self.chain, "blocks": self.height - 1, "bestblockhash": self.tip,
                    "initialblockdownload": self.syncing}
        if method == "getbestblockhash":
            return self.tip
        if method == "getblocktemplate":
            if self.template_override is not None:
                return self.template_override
            return {
                "height": self.height,
                "previousblockhash": self.tip,
                "version": 0x20000000,
                "bits": "1d00ffff",
                "target": "00000000ffff" + "0" * 52,
                "curtime": 1_700_000_000 + int(self.clock.seconds()),
                "mintime": 1_699_999_000,
                "coinbasevalue": 312_500_000,
                "transactions": [
                    {"data": "0100", "txid": "11" * 32, "hash": "22" * 32, "fee": 250}
                ],
                "default_witness_commitment": "6a24aa21a9ed" + "00" * 32,
            }
        if method == "submitblock":
            return self.submit_result
        if method == "getmempoolinfo":
            return {"loaded": True, "size": self.mempool_size, "bytes": 250 * self.mempool_size}
        if method == "getnetworkinfo":
            return {"version": 270000, "connections": self.peers}
        raise AssertionError(method)

    def release(self, method: str) -> None:
        """Answer the oldest pending call of ``method``."""
        for i, (pending_method, d) in enumerate(self.pending):
            if pending_method == method:
                del self.pending[i]
                d.callback(self.answer(method))
                return
        raise AssertionError(f"no pending {method}")

    def pending_methods(self) -> list[str]:
        """Methods waiting for an answer."""
        return [method for method, _ in self.pending]


@implementer(ITemplateConsumer)
class Consumer:
    """Records what the source delivers; can be told to raise."""

    def __init__(self, explode: bool = False) -> None:
        self.templates: list[BlockTemplate] = []
        self.statuses: list[bool] = []
        self.explode = explode

    def templateReceived(self, template: BlockTemplate) -> None:
        """Record (then maybe raise)."""
        self.templates.append(template)
        if self.explode:
            raise RuntimeError("consumer bug")

    def backendStatusChanged(self, connected: bool) -> None:
        """Record (then maybe raise)."""
        self.statuses.append(connected)
        if self.explode:
            raise RuntimeError("consumer bug")


class SourceTestCase(SynchronousTestCase):
    """A source over fake nodes on a Clock, with one recording consumer."""

    def make(self, count: int = 1, start: bool = True, **kwargs: Any) -> BitcoindTemplateSource:
        """Create ``count`` nodes and a source over them."""
        self.clock = task.Clock()
        self.nodes = [FakeNode(self.clock, f"node{i}") for i in range(count)]
        self.source = BitcoindTemplateSource(self.clock, self.nodes, **kwargs)
        self.consumer = Consumer()
        self.source.addConsumer(self.consumer)
        if start:
            self.source.startService()
            self.addCleanup(self.stop)
        return self.source

    def stop(self) -> None:
        """Stop the source if still running."""
        if self.source.running:
            self.source.stopService()

    def advance(self, seconds: float, step_s: float = 0.1) -> None:
        """Move the clock forward in small steps, as a running reactor would."""
        self.run_due_calls()
        for _ in range(round(seconds / step_s)):
            self.clock.advance(step_s)
            self.run_due_calls()

    def run_due_calls(self) -> None:
        """Run calls that are due now (callLater(0) runs at once on a real reactor)."""
        while any(c.getTime() <= self.clock.seconds() for c in self.clock.getDelayedCalls()):
            self.clock.advance(0)


class ConnectTests(SourceTestCase):
    """Starting up and the first template."""

    def test_interfaces(self) -> None:
        """The source provides ITemplateSource and the fakes their interfaces."""
        self.make(start=False)
        verifyObject(ITemplateSource, self.source)
        verifyObject(IBitcoinRPC, self.nodes[0])
        verifyObject(ITemplateConsumer, self.consumer)

    def test_first_template_is_clean(self) -> None:
        """On start: getblockchaininfo, then getblocktemplate with segwit; first template clean."""
        self.make()
        node = self.nodes[0]
        self.assertEqual(node.methods(), ["getblockchaininfo", "getblocktemplate"])
        self.assertEqual(node.calls[1][2], [{"rules": ["segwit"]}])
        self.assertTrue(self.source.connected)
        self.assertEqual(self.source.network, "main")
        [template] = self.consumer.templates
        self.assertTrue(template.clean)
        self.assertEqual((template.height, template.network), (100, "main"))
        self.assertEqual(template.previous_block_hash, node.tip)
        self.assertIs(self.source.current, template)
        self.assertIs(self.source.backend, node)
        self.assertEqual(self.consumer.statuses, [])

    def test_signet_rule(self) -> None:
        """on signet getblocktemplate also names the signet rule, as Core requires"""
        self.clock = task.Clock()
        node = FakeNode(self.clock, "node0", chain="signet")
        self.nodes = [node]
        self.source = BitcoindTemplateSource(self.clock, self.nodes)
        self.consumer = Consumer()
        self.source.addConsumer(self.consumer)
        self.source.startService()
        self.addCleanup(self.stop)
        self.assertEqual(node.calls[1][2], [{"rules": ["segwit", "signet"]}])
        self.assertEqual(self.consumer.templates[0].network, "signet")

    def test_other_networks(self) -> None:
        """The chain name from getblockchaininfo becomes the templates' network."""
        self.make(start=False)
        self.nodes[0].chain = "testnet4"
        self.source.startService()
        self.assertEqual(self.consumer.templates[0].network, "testnet4")

    def test_unknown_chain(self) -> None:
        """A node reporting an unknown chain is not used."""
        self.make(start=False)
        self.nodes[0].chain = "dogecoin"
        self.source.startService()
        self.assertFalse(self.source.connected)
        self.assertEqual(self.consumer.templates, [])
        self.assertIsNone(self.source.network)

    def test_start_while_node_down(self) -> None:
        """A node down at start-up is an outage, reported once, and retried until it is up."""
        self.make(start=False)
        self.nodes[0].down = True
        self.source.startService()
        self.advance(10)
        self.assertEqual(self.consumer.statuses, [False])
        self.nodes[0].down = False
        self.advance(10)
        self.assertEqual(self.consumer.statuses, [False, True])
        self.assertTrue(self.consumer.templates[0].clean)


class RefreshTests(SourceTestCase):
    """Templates after the first: the update interval, tip polling, ZMQ, coalescing."""

    def test_update_interval(self) -> None:
        """Every update_interval_s a new template, not clean, is delivered."""
        self.make(update_interval_s=30.0)
        self.advance(29.9)
        self.assertEqual(len(self.consumer.templates), 1)
        self.advance(0.2)
        self.assertEqual(len(self.consumer.templates), 2)
        self.assertFalse(self.consumer.templates[1].clean)
        self.advance(30)
        self.assertEqual(len(self.consumer.templates), 3)

    def test_update_interval_counts_from_last_template(self) -> None:
        """A template fetched for a new block pushes the next periodic refresh back."""
        self.make(update_interval_s=30.0)
        self.advance(20)
        self.nodes[0].mine()
        self.advance(0.1)
        self.assertEqual(len(self.consumer.templates), 2)
        self.advance(29.8)
        self.assertEqual(len(self.consumer.templates), 2)
        self.advance(0.3)
        self.assertEqual(len(self.consumer.templates), 3)

    def test_blockpoll_new_tip(self) -> None:
        """A new tip seen by getbestblockhash triggers a getblocktemplate within blockpoll_s."""
        self.make(blockpoll_s=0.1)
        node = self.nodes[0]
        self.advance(1)
        self.assertEqual(node.methods().count("getblocktemplate"), 1)
        self.assertGreaterEqual(node.methods().count("getbestblockhash"), 9)
        node.mine()
        self.advance(0.1)
        self.assertEqual(node.methods().count("getblocktemplate"), 2)
        template = self.consumer.templates[-1]
        self.assertEqual((template.height, template.clean), (101, False))
        self.assertEqual(template.previous_block_hash, block_hash(100))

    def test_block_notified(self) -> None:
        """blockNotified fetches at once for a new hash, and ignores the current tip."""
        self.make()
        node = self.nodes[0]
        self.source.blockNotified(node.tip)
        self.assertEqual(node.methods().count("getblocktemplate"), 1)
        node.mine()
        self.source.blockNotified(node.tip.upper())
        self.assertEqual(node.methods().count("getblocktemplate"), 2)
        self.assertEqual(self.consumer.templates[-1].height, 101)

    def test_coalescing(self) -> None:
        """Refreshes while a getblocktemplate is in flight make exactly one more, right after."""
        self.make()
        node = self.nodes[0]
        node.answer_now = False
        for _ in range(3):
            self.source.refresh()
        self.source.blockNotified(block_hash(5000))
        self.assertEqual(node.pending_methods(), ["getblocktemplate"])
        node.release("getblocktemplate")
        self.assertEqual(node.pending_methods(), ["getblocktemplate"])
        node.release("getblocktemplate")
        self.assertEqual(node.pending_methods(), [])
        self.assertEqual(len(self.consumer.templates), 3)

    def test_one_poll_in_flight(self) -> None:
        """A slow getbestblockhash is not stacked up by the poll timer."""
        self.make()
        node = self.nodes[0]
        node.answer_now = False
        self.advance(2)
        self.assertEqual(node.pending_methods(), ["getbestblockhash"])
        node.release("getbestblockhash")
        self.advance(0.1)
        self.assertEqual(node.pending_methods(), ["getbestblockhash"])

    def test_lower_height_dropped(self) -> None:
        """A template on the same tip with a lower height is dropped."""
        self.make()
        node = self.nodes[0]
        stale = dict(node.answer("getblocktemplate"), height=99)
        node.template_override = stale
        self.source.refresh()
        self.assertEqual(len(self.consumer.templates), 1)
        self.assertEqual(self.source.current.height, 100)  # type: ignore[union-attr]
        self.assertTrue(self.source.connected)

    def test_malformed_template_dropped(self) -> None:
        """A template that does not parse is dropped; the source stays connected."""
        self.make()
        node = self.nodes[0]
        for bad in (
            {"height": "x"},
            ["not", "a", "dict"],
            {**node.answer("getblocktemplate"), "bits": 5},
        ):
            node.template_override = bad
            self.source.refresh()
        self.assertEqual(len(self.consumer.templates), 1)
        self.assertTrue(self.source.connected)
        node.template_override = None
        self.source.refresh()
        self.assertEqual(len(self.consumer.templates), 2)

    def test_bad_template_for_new_tip_not_refetched_every_poll(self) -> None:
        """If the template for a new tip is unusable, the poll does not re-ask ten times a second."""
        self.make(update_interval_s=30.0)
        node = self.nodes[0]
        node.mine()
        node.template_override = {"broken": True}
        self.advance(5)
        self.assertEqual(node.methods().count("getblocktemplate"), 2)
        node.template_override = None
        self.advance(25)
        self.assertEqual(node.methods().count("getblocktemplate"), 3)
        self.assertEqual(self.consumer.templates[-1].height, 101)

    def test_rpc_error_is_not_an_outage(self) -> None:
        """A getblocktemplate RPCError is logged; the node stays in use and nothing is reported."""
        self.make()
        node = self.nodes[0]
        node.errors["getblocktemplate"] = RPCError(-1, "something odd")
        node.mine()
        self.advance(5)
        self.assertTrue(self.source.connected)
        self.assertEqual(self.consumer.statuses, [])
        self.assertEqual(node.methods().count("getblocktemplate"), 2)
        self.assertEqual(node.methods().count("getblockchaininfo"), 1)

    def test_bad_best_hash(self) -> None:
        """A getbestblockhash answer that is not a hash is ignored without a traceback."""
        self.make()
        node = self.nodes[0]
        node.answer_now = False
        self.advance(0.1)
        _, d = node.pending.pop()
        d.callback({"not": "a hash"})
        self.assertTrue(self.source.connected)
        node.answer_now = True
        self.advance(0.1)
        self.assertEqual(node.methods().count("getbestblockhash"), 2)


class FailoverTests(SourceTestCase):
    """Outages, round-robin failover and back-off."""

    def test_failover_to_next_node(self) -> None:
        """A node that keeps failing makes the source switch to the next one."""
        self.make(count=2)
        first, second = self.nodes
        first.down = True
        self.advance(0.1 * FAILURES_BEFORE_FAILOVER)
        self.run_due_calls()
        self.assertIs(self.source.backend, second)
        self.assertTrue(self.source.connected)
        self.assertEqual(second.methods()[:2], ["getblockchaininfo", "getblocktemplate"])
        self.assertEqual(len(self.consumer.templates), 2)
        self.assertEqual(self.consumer.statuses, [])

    def test_backoff_schedule(self) -> None:
        """With every node down, rounds are retried after 1, 2, 4, ... s, capped at the max."""
        self.make(count=2, start=False, backoff_initial_s=1.0, backoff_max_s=8.0)
        for node in self.nodes:
            node.down = True
        self.source.startService()
        self.advance(60, step_s=0.5)
        for node in self.nodes:
            times = [t for t, method, _ in node.calls if method == "getblockchaininfo"]
            self.assertEqual(times[:7], [0.0, 1.0, 3.0, 7.0, 15.0, 23.0, 31.0])
        self.assertEqual(self.consumer.statuses, [False])

    def test_backoff_resets_after_success(self) -> None:
        """After a successful reconnect the next outage starts again at the initial back-off."""
        self.make(backoff_initial_s=1.0, backoff_max_s=30.0)
        node = self.nodes[0]
        node.down = True
        self.advance(20)
        node.down = False
        self.advance(20)
        self.assertTrue(self.source.connected)
        node.down = True
        start = self.clock.seconds()
        self.advance(5)
        times = [
            t - start for t, method, _ in node.calls if method == "getblockchaininfo" and t >= start
        ]
        detected = 0.1 * FAILURES_BEFORE_FAILOVER
        self.assertEqual([round(t, 1) for t in times],
                         [round(detected + 1, 1), round(detected + 3, 1)])

    def test_outage_reported_once(self) -> None:
        """A long outage is reported once; recovery once; the next template is clean."""
        self.make()
        node = self.nodes[0]
        node.down = True
        self.advance(120)
        self.assertFalse(self.source.connected)
        self.assertEqual(self.consumer.statuses, [False])
        self.assertGreater(node.methods().count("getblockchaininfo"), 3)
        node.down = False
        node.mine()
        self.advance(30)
        self.assertEqual(self.consumer.statuses, [False, True])
        self.assertTrue(self.source.connected)
        recovered = self.consumer.templates[1]
        self.assertTrue(recovered.clean)
        self.assertEqual(recovered.height, 101)
        self.source.refresh()
        self.assertFalse(self.consumer.templates[-1].clean)

    def test_block_notice_cuts_backoff_short(self) -> None:
        """while backing off, a ZMQ block notice makes the source reconnect at once"""
        self.make(backoff_initial_s=8.0, backoff_max_s=8.0)
        node = self.nodes[0]
        node.down = True
        self.advance(1)
        self.assertFalse(self.source.connected)
        node.down = False
        self.source.blockNotified(node.tip)
        self.run_due_calls()
        self.assertTrue(self.source.connected)
        self.assertEqual(self.consumer.statuses, [False, True])

    def test_one_failed_poll_is_not_an_outage(self) -> None:
        """a single failed call (a busy node's 503, one timeout) keeps the node and its work"""
        self.make()
        node = self.nodes[0]
        templates = len(self.consumer.templates)
        node.errors["getbestblockhash"] = RPCUnavailable("HTTP 503: Work queue depth exceeded")
        self.advance(0.1 * (FAILURES_BEFORE_FAILOVER - 1))
        del node.errors["getbestblockhash"]
        self.advance(1)
        self.assertTrue(self.source.connected)
        self.assertEqual(self.consumer.statuses, [])
        self.assertEqual(node.methods().count("getblockchaininfo"), 1)
        self.assertEqual(len(self.consumer.templates), templates)

    def test_status_before_template(self) -> None:
        """On recovery, backendStatusChanged(True) comes before the clean template."""
        self.make()
        events: list[Any] = []

        @implementer(ITemplateConsumer)
        class Ordered:
            def templateReceived(self, template: BlockTemplate) -> None:
                events.append(("template", template.clean))

            def backendStatusChanged(self, connected: bool) -> None:
                events.append(("status", connected))

        self.source.addConsumer(Ordered())
        self.nodes[0].down = True
        self.advance(0.1 * FAILURES_BEFORE_FAILOVER)
        self.nodes[0].down = False
        self.advance(2)
        self.assertEqual(events, [("status", False), ("status", True), ("template", True)])

    def test_warmup(self) -> None:
        """A node answering -28 (warming up) is not ready: retried until it answers."""
        self.make(start=False)
        node = self.nodes[0]
        node.error = RPCError(-28, "Loading block index…")
        self.source.startService()
        self.advance(10)
        self.assertFalse(self.source.connected)
        self.assertEqual(self.consumer.templates, [])
        self.assertGreater(node.methods().count("getblockchaininfo"), 2)
        node.error = RPCError(-28, "Verifying blocks…")
        self.advance(10)
        node.error = None
        self.advance(20)
        self.assertTrue(self.source.connected)
        self.assertTrue(self.consumer.templates[0].clean)

    def test_initial_download(self) -> None:
        """getblocktemplate answering -10 (initial sync) while connected counts as an outage."""
        self.make(count=2)
        first, second = self.nodes
        first.errors["getblocktemplate"] = RPCError(-10, "Bitcoin Core is in initial sync")
        for _ in range(FAILURES_BEFORE_FAILOVER):
            self.source.refresh()
            self.run_due_calls()
        self.assertIs(self.source.backend, second)
        self.assertTrue(self.source.connected)

    def test_network_mismatch(self) -> None:
        """A failover node on another chain is refused; the source goes back to the first."""
        self.make(count=2)
        first, second = self.nodes
        second.chain = "test"
        first.down = True
        self.advance(0.1 * FAILURES_BEFORE_FAILOVER)
        self.run_due_calls()
        self.assertNotIn("getblocktemplate", second.methods())
        self.assertFalse(self.source.connected)
        first.down = False
        self.advance(2)
        self.assertIs(self.source.backend, first)
        self.assertTrue(self.source.connected)
        self.assertEqual(self.source.network, "main")

    def test_stale_answers_ignored(self) -> None:
        """Answers from a node abandoned after a failure are not delivered."""
        self.make(count=2)
        first, second = self.nodes
        first.answer_now = False
        self.source.refresh()
        self.advance(0.1)
        self.assertEqual(sorted(first.pending_methods()), ["getbestblockhash", "getblocktemplate"])
        with capturedLogs() as events:
            for attempt in range(FAILURES_BEFORE_FAILOVER):
                if attempt:
                    self.advance(0.1)
                _, poll = first.pending.pop(first.pending_methods().index("getbestblockhash"))
                poll.errback(RPCUnavailable("timed out"))
                self.run_due_calls()
        # The abandoned getblocktemplate was cancelled, and that is not reported as its failure.
        self.assertEqual([e for e in events if e["log_level"] == LogLevel.error], [])
        self.assertIs(self.source.backend, second)
        before = len(self.consumer.templates)
        first.release("getblocktemplate")
        self.assertEqual(len(self.consumer.templates), before)
        self.assertEqual(self.consumer.templates[-1].height, 100)

    def test_consumer_exception(self) -> None:
        """A consumer that raises is logged; other consumers and the timers keep going."""
        self.make(start=False)
        bad = Consumer(explode=True)
        self.source.addConsumer(bad)
        self.source.startService()
        self.nodes[0].mine()
        self.advance(35)
        self.assertEqual(len(bad.templates), 3)
        self.assertEqual(len(self.consumer.templates), 3)
        self.nodes[0].down = True
        self.advance(1)
        self.assertEqual(bad.statuses, [False])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 4)

    def test_backend_raises_synchronously(self) -> None:
        """A backend whose call raises instead of failing its Deferred does not break the timers."""
        self.make()
        node = self.nodes[0]

        def broken(method: str, params: list[object] | None = None) -> Any:
            raise TypeError("bug in backend")

        node.call = broken  # type: ignore[method-assign]
        self.advance(1)
        self.assertTrue(self.source.connected)
        node.down = True
        del node.call
        self.advance(0.1 * FAILURES_BEFORE_FAILOVER)
        self.assertFalse(self.source.connected)

    def test_stop(self) -> None:
        """Stopping cancels calls in flight and leaves no timers."""
        self.make()
        node = self.nodes[0]
        node.answer_now = False
        self.source.refresh()
        self.source.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        node.release("getblocktemplate")
        self.assertEqual(len(self.consumer.templates), 1)
        self.source.refresh()
        self.assertEqual(node.pending_methods(), [])


class SubmitTests(SourceTestCase):
    """submitBlock: Core's answer, failover, and the refresh afterwards."""

    def test_accepted(self) -> None:
        """An accepted block fires with None and triggers a template refresh."""
        self.make()
        node = self.nodes[0]
        self.assertIsNone(self.successResultOf(self.source.submitBlock("00ff")))
        self.assertIn(("submitblock", ["00ff"]), [(m, p) for _, m, p in node.calls])
        self.assertEqual(node.methods()[-1], "getblocktemplate")

    def test_reason_string(self) -> None:
        """Core's reason string is passed through."""
        self.make()
        self.nodes[0].submit_result = "duplicate"
        self.assertEqual(self.successResultOf(self.source.submitBlock("00")), "duplicate")

    def test_failover(self) -> None:
        """An unreachable current node makes the block go to the next one."""
        self.make(count=2)
        first, second = self.nodes
        first.down = True
        second.submit_result = "inconclusive"
        self.assertEqual(self.successResultOf(self.source.submitBlock("00")), "inconclusive")
        self.assertIn("submitblock", first.methods())
        self.assertEqual(second.methods(), ["submitblock"])

    def test_warming_node_skipped(self) -> None:
        """A node that is warming up is skipped like an unreachable one."""
        self.make(count=2)
        first, second = self.nodes
        first.errors["submitblock"] = RPCError(-28, "Loading wallet…")
        self.assertIsNone(self.successResultOf(self.source.submitBlock("00")))
        self.assertEqual(second.methods(), ["submitblock"])

    def test_rpc_error_is_an_answer(self) -> None:
        """A real RPCError is returned at once without trying other nodes."""
        self.make(count=2)
        self.nodes[0].errors["submitblock"] = RPCError(-22, "Block decode failed")
        failure = self.failureResultOf(self.source.submitBlock("zz"), RPCError)
        self.assertEqual(failure.value.code, -22)
        self.assertEqual(self.nodes[1].methods(), [])

    def test_all_down(self) -> None:
        """With no node reachable the submission fails with RPCUnavailable."""
        self.make(count=2)
        for node in self.nodes:
            node.down = True
        failure = self.failureResultOf(self.source.submitBlock("00"), RPCUnavailable)
        self.assertIn("node1", str(failure.value))

    def test_submit_when_stopped(self) -> None:
        """A block can still be submitted when the source is not running."""
        self.make(start=False)
        self.assertIsNone(self.successResultOf(self.source.submitBlock("00")))


class OverHTTPTests(TestCase):
    """The source through the real HTTP client and our Core-compatible server, on 127.0.0.1."""

    async def test_templates_over_http(self) -> None:
        """The first template arrives clean, and a new block is picked up by polling."""
        from twisted.internet import reactor as global_reactor

        reactor: Any = global_reactor

        node = FakeNode(reactor)
        port = reactor.listenTCP(0, make_rpc_site(node, "u", "p"), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        rpc = BitcoindRPC(reactor, f"127.0.0.1:{port.getHost().port}", "u", "p")
        source = BitcoindTemplateSource(reactor, [rpc], blockpoll_s=0.05)
        arrived: list[defer.Deferred[BlockTemplate]] = [defer.Deferred(), defer.Deferred()]

        @implementer(ITemplateConsumer)
        class Waiter:
            def templateReceived(self, template: BlockTemplate) -> None:
                for d in arrived:
                    if not d.called:
                        d.callback(template)
                        return

            def backendStatusChanged(self, connected: bool) -> None:
                pass

        source.addConsumer(Waiter())
        source.startService()

        async def stop() -> None:
            source.stopService()
            await task.deferLater(reactor, 0, lambda: None)
            await rpc.close()

        self.addCleanup(lambda: defer.Deferred.fromCoroutine(stop()))
        first = await arrived[0].addTimeout(10, reactor)
        self.assertEqual((first.height, first.clean, first.network), (100, True, "main"))
        self.assertEqual(len(first.transactions), 1)
        node.mine()
        second = await arrived[1].addTimeout(10, reactor)
        self.assertEqual((second.height, second.clean), (101, False))
