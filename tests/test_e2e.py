"""End to end over real TCP: miners doing real proof of work find blocks the embedded chain accepts."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.interfaces import IListeningPort
from twisted.trial.unittest import TestCase

from tbgpool.bitcoind.source import BitcoindTemplateSource
from tbgpool.blocks import BlockSubmitter
from tbgpool.chain.embedded import EmbeddedChain
from tbgpool.difficulty import bits_to_target
from tbgpool.pool import Pool
from tbgpool.stats import StatsBook
from tbgpool.stratum.protocol import StratumFactory
from tbgpool.testing import regtest_addresses, sha256d
from tests.helpers import pool_config
from tests.miner import MinerClient, StratumRequestError, connect_miner, wait_for

REGTEST_BITS = 0x207FFFFF


class EmbeddedPoolTestCase(TestCase):
    """The real pool (template source, pool, Stratum listener) on the embedded chain."""

    timeout = 60
    chain_bits = REGTEST_BITS

    async def _start(self) -> None:
        logdir = self.mktemp()
        self.chain = EmbeddedChain(reactor, bits=self.chain_bits, seed=7)
        # Every miner here connects from 127.0.0.1: exempt it from the per-IP limits.
        self.config = pool_config(logdir, mindiff=1e-12, startdiff=1e-9,
                                  rate_limits={"exempt": ["127.0.0.0/8"]})
        self.source = BitcoindTemplateSource(reactor, [self.chain], update_interval_s=30,
                                             blockpoll_s=0.05)
        self.stats = StatsBook(reactor, os.path.join(logdir, "users"))
        self.submitter = BlockSubmitter(reactor, self.source, os.path.join(logdir, "blocks"))
        self.pool = Pool(reactor, self.config, self.source, self.stats, self.submitter)
        self.source.addConsumer(self.pool)
        self.pool.startService()
        self.source.startService()
        self.listener: IListeningPort = reactor.listenTCP(0, StratumFactory(self.pool),
                                                          interface="127.0.0.1")
        self.port = self.listener.getHost().port
        self.clients: list[MinerClient] = []
        await self.pool.whenReady()

    def setUp(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._start())

    async def _stop(self) -> None:
        for client in self.clients:
            if client.transport is not None:
                client.transport.loseConnection()
                await client.closed
        await self.listener.stopListening()
        await defer.maybeDeferred(self.source.stopService)
        await defer.maybeDeferred(self.pool.stopService)

    def tearDown(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._stop())

    async def miner(self) -> MinerClient:
        """A new miner connection."""
        client = await connect_miner(reactor, self.port)
        self.clients.append(client)
        return client

    def network_target(self) -> int:
        """The embedded chain's current block target."""
        return bits_to_target(self.chain_bits)


def _run(coroutine: Any) -> defer.Deferred[Any]:
    return defer.Deferred.fromCoroutine(coroutine)


class BlockPerAddressTypeTests(EmbeddedPoolTestCase):
    """A block found for each address type pays exactly that address."""

    async def _mine_block_for(self, address: str, script: bytes, **setup: Any) -> None:
        client = await self.miner()
        username = address + ".e2e"
        job = await client.setup(username, **setup)
        template = self.pool.jobs.current
        assert template is not None
        expected_value = template.template.coinbase_value
        height_before = self.chain.height
        version_bits = 0x00ABE000 if setup.get("version_mask") else None
        solution = client.solve(job, self.network_target(), version_bits=version_bits)
        result = await client.submit(username, job, solution)
        self.assertIs(result, True)
        self.assertEqual(self.chain.height, height_before + 1)
        block_hash = self.chain.tip_hash
        self.assertEqual(block_hash, sha256d(solution.header)[::-1].hex())
        self.assertEqual(self.chain.accepted_blocks[-1], block_hash)
        block = await self.chain.call("getblock", [block_hash, 2])
        coinbase = block["tx"][0]
        payouts = [out for out in coinbase["vout"] if out["value"] > 0]
        self.assertEqual(len(payouts), 1)
        self.assertEqual(payouts[0]["scriptPubKey"]["hex"], script.hex())
        self.assertEqual(round(payouts[0]["value"] * 100_000_000), expected_value)
        if version_bits is not None:
            self.assertEqual(int(block["versionHex"], 16) & 0x1FFFE000, version_bits)
        outcome = self.pool.outcomes[-1]
        self.assertTrue(outcome.accepted)
        self.assertEqual(outcome.block.block_hash, block_hash)

    def test_p2pkh(self) -> defer.Deferred[None]:
        """P2PKH (base58check) payout"""
        return _run(self._mine_block_for(*regtest_addresses()["p2pkh"]))

    def test_p2sh(self) -> defer.Deferred[None]:
        """P2SH (base58check) payout"""
        return _run(self._mine_block_for(*regtest_addresses()["p2sh"]))

    def test_p2wpkh(self) -> defer.Deferred[None]:
        """P2WPKH (bech32) payout"""
        return _run(self._mine_block_for(*regtest_addresses()["p2wpkh"]))

    def test_p2wsh(self) -> defer.Deferred[None]:
        """P2WSH (bech32) payout"""
        return _run(self._mine_block_for(*regtest_addresses()["p2wsh"]))

    def test_p2tr(self) -> defer.Deferred[None]:
        """P2TR (bech32m) payout"""
        return _run(self._mine_block_for(*regtest_addresses()["p2tr"]))

    def test_version_rolled_block(self) -> defer.Deferred[None]:
        """a block whose header version was rolled inside the BIP310 mask is accepted"""
        return _run(self._mine_block_for(*regtest_addresses()["p2wpkh"], version_mask="ffffffff"))


class NetworkBlockTests(EmbeddedPoolTestCase):
    """Another miner's block: clean work at once, and old work becomes stale."""

    def test_clean_jobs_and_stale_shares(self) -> defer.Deferred[None]:
        """a network block sends clean_jobs=true promptly; a share on the old job is stale"""

        async def scenario() -> None:
            client = await self.miner()
            address, _ = regtest_addresses()["p2wpkh"]
            job = await client.setup(address)
            # A share that is NOT a block (hash above the network target) on the current job.
            any_hash = (1 << 256) - 1
            extranonce2 = 0
            old_share = client.solve(job, target=any_hash)
            while old_share.hash_value <= bits_to_target(REGTEST_BITS):
                extranonce2 += 1
                old_share = client.solve(job, target=any_hash, extranonce2=extranonce2)
            clean = client.next_job()
            self.chain.mine_network_block()
            new_job = await clean
            self.assertTrue(new_job.clean)
            self.assertNotEqual(new_job.prevhash, job.prevhash)
            error = await self.assertFailure(client.submit(address, job, old_share),
                                             StratumRequestError)
            self.assertEqual(error.code, 21)
        return _run(scenario())

    def test_duplicate_share(self) -> defer.Deferred[None]:
        """the same share submitted twice is rejected as a duplicate"""

        async def scenario() -> None:
            self.chain.set_bits(0x1E00FFFF)  # blocks out of reach: shares stay shares
            self.chain.mine_network_block()
            client = await self.miner()
            address, _ = regtest_addresses()["p2wsh"]
            await wait_for(reactor, lambda: (self.pool.jobs.current is not None
                                             and self.pool.jobs.current.bits == 0x1E00FFFF))
            job = await client.setup(address)
            solution = client.solve(job)
            self.assertIs(await client.submit(address, job, solution), True)
            error = await self.assertFailure(client.submit(address, job, solution),
                                             StratumRequestError)
            self.assertEqual(error.code, 22)
            user = self.stats.user(address)
            assert user is not None
            self.assertEqual((user.shares_accepted, user.shares_rejected), (1, 1))
        return _run(scenario())

    def test_many_miners_unique_extranonces(self) -> defer.Deferred[None]:
        """twenty concurrent miners each get a distinct extranonce1 and all get work"""

        async def scenario() -> None:
            address, _ = regtest_addresses()["p2tr"]
            clients = [await self.miner() for _ in range(20)]
            jobs = await defer.gatherResults(
                [defer.Deferred.fromCoroutine(c.setup(f"{address}.m{i}"))
                 for i, c in enumerate(clients)])
            self.assertEqual(len({c.extranonce1 for c in clients}), 20)
            self.assertEqual(len({j.job_id for j in jobs}), 1)
        return _run(scenario())
