"""The node goes away and comes back, over real HTTP: mining goes on and no block is lost."""

from __future__ import annotations

import os

from twisted.internet import defer, reactor
from twisted.internet.interfaces import IListeningPort
from twisted.trial.unittest import TestCase

from tbgpool.bitcoind.rpc import BitcoindRPC
from tbgpool.bitcoind.rpcserver import make_rpc_site
from tbgpool.bitcoind.source import BitcoindTemplateSource
from tbgpool.blocks import BlockSubmitter
from tbgpool.chain.embedded import EmbeddedChain
from tbgpool.difficulty import bits_to_target
from tbgpool.pool import Pool
from tbgpool.stats import StatsBook
from tbgpool.stratum.protocol import StratumFactory
from tbgpool.testing import regtest_addresses
from tests.helpers import pool_config
from tests.miner import MinerClient, connect_miner, wait_for

REGTEST_BITS = 0x207FFFFF


class NodeOutageTests(TestCase):
    """A pool talking HTTP JSON-RPC to a node that stops and restarts."""

    timeout = 60

    async def _start(self) -> None:
        logdir = self.mktemp()
        self.chain = EmbeddedChain(reactor, seed=3)
        self.node: IListeningPort | None = None
        self.node_port = 0
        self.start_node()
        self.rpc = BitcoindRPC(reactor, f"127.0.0.1:{self.node_port}", user="u", password="p",
                               timeout_s=2.0, connect_timeout_s=1.0)
        self.source = BitcoindTemplateSource(reactor, [self.rpc], update_interval_s=1.0,
                                             blockpoll_s=0.05, backoff_initial_s=0.1,
                                             backoff_max_s=0.3)
        config = pool_config(logdir, mindiff=1e-12, startdiff=1e-9, update_interval=1)
        self.stats = StatsBook(reactor, os.path.join(logdir, "users"))
        self.submitter = BlockSubmitter(reactor, self.source, os.path.join(logdir, "blocks"),
                                        retry_initial_s=0.1, retry_max_s=0.3)
        self.pool = Pool(reactor, config, self.source, self.stats, self.submitter)
        self.source.addConsumer(self.pool)
        self.pool.startService()
        self.source.startService()
        self.listener = reactor.listenTCP(0, StratumFactory(self.pool), interface="127.0.0.1")
        await self.pool.whenReady()
        self.client: MinerClient = await connect_miner(reactor, self.listener.getHost().port)

    def start_node(self) -> None:
        """(Re)open the node's RPC port, on the same port number as before."""
        self.node = reactor.listenTCP(self.node_port, make_rpc_site(self.chain, "u", "p"),
                                      interface="127.0.0.1")
        self.node_port = self.node.getHost().port

    async def stop_node(self) -> None:
        """Close the node's RPC port and drop its pooled connections."""
        assert self.node is not None
        await self.node.stopListening()
        self.node = None
        await self.rpc.close()

    def setUp(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._start())

    async def _stop(self) -> None:
        if self.client.transport is not None:
            self.client.transport.loseConnection()
            await self.client.closed
        await self.listener.stopListening()
        await defer.maybeDeferred(self.source.stopService)
        await defer.maybeDeferred(self.pool.stopService)
        if self.node is not None:
            await self.node.stopListening()
        await self.rpc.close()

    def tearDown(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._stop())

    def test_outage_and_recovery(self) -> defer.Deferred[None]:
        """work goes on during the outage, a block found then is submitted on recovery,
        and the pool pushes clean work when the node returns"""

        async def scenario() -> None:
            address, script = regtest_addresses()["p2wpkh"]
            job = await self.client.setup(address)
            await self.stop_node()
            await wait_for(reactor, lambda: not self.pool.backend_connected, timeout_s=10)

            # The pool keeps handing out work (refreshed ntime) while the node is away.
            refreshed = await self.client.next_job()
            self.assertFalse(refreshed.clean)
            self.assertEqual(refreshed.prevhash, job.prevhash)

            # A block found during the outage is accepted by the pool and kept.
            height = self.chain.height
            solution = self.client.solve(refreshed, bits_to_target(REGTEST_BITS))
            self.assertIs(await self.client.submit(address, refreshed, solution), True)
            self.assertEqual(len(self.submitter.pending), 1)
            self.assertEqual(self.chain.height, height)

            clean = self.client.next_job()
            self.start_node()
            await wait_for(reactor, lambda: self.chain.height == height + 1, timeout_s=10)
            self.assertEqual(self.submitter.pending, {})
            block = await self.chain.call("getblock", [self.chain.tip_hash, 2])
            self.assertEqual(block["tx"][0]["vout"][0]["scriptPubKey"]["hex"], script.hex())
            fresh = await clean
            self.assertTrue(fresh.clean)
            self.assertTrue(self.pool.backend_connected)

        return defer.Deferred.fromCoroutine(scenario())
