"""Stratum listeners open only once the pool has work."""

from __future__ import annotations

from twisted.application.internet import StreamServerEndpointService
from twisted.internet.endpoints import serverFromString
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from tbgpool.stratum.listeners import StratumListeners
from tbgpool.stratum.protocol import StratumFactory
from tbgpool.testing import make_template
from tests.helpers import PoolHarness


class ListenerTests(SynchronousTestCase):
    """No work, no listening: miners fail over instead of being refused at authorize."""

    def setUp(self) -> None:
        self.harness = PoolHarness(self.mktemp())
        self.reactor = MemoryReactor()
        self.listeners = StratumListeners(self.harness.pool)
        endpoint = serverFromString(self.reactor, "tcp:3333:interface=127.0.0.1")
        StreamServerEndpointService(endpoint, StratumFactory(self.harness.pool)).setServiceParent(
            self.listeners)

    def test_opens_on_first_template(self) -> None:
        """nothing listens until the first template, then the port opens"""
        self.listeners.startService()
        self.assertEqual(self.reactor.tcpServers, [])
        self.harness.source.push(make_template())
        self.assertEqual([(port, interface) for port, _, _, interface in self.reactor.tcpServers],
                         [(3333, "127.0.0.1")])
        self.harness.source.push(make_template(previous_block_hash="22" * 32))
        self.assertEqual(len(self.reactor.tcpServers), 1)

    def test_opens_at_once_when_ready(self) -> None:
        """with work already there, starting opens the port immediately"""
        self.harness.source.push(make_template())
        self.listeners.startService()
        self.assertEqual(len(self.reactor.tcpServers), 1)

    def test_stopped_before_ready_never_opens(self) -> None:
        """stopping before any work arrived keeps the port closed"""
        self.listeners.startService()
        self.listeners.stopService()
        self.harness.source.push(make_template())
        self.assertEqual(self.reactor.tcpServers, [])
