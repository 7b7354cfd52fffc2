"""Blocks found by "another miner": mine_network_block, the timer, and difficulty changes."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tbgpool.chain.embedded import EmbeddedChain, difficulty_to_bits
from tests.test_chain_blockbuilder import (
    NOW,
    BlockSpec,
    build_block,
    dsha,
    gbt_txs,
    new_chain,
    rpc,
    submit,
    template,
)


class MineNetworkBlockTests(SynchronousTestCase):
    """mine_network_block builds a valid block on the tip."""

    def setUp(self) -> None:
        """A fresh chain."""
        self.clock, self.chain = new_chain()

    def test_extends_the_tip(self) -> None:
        """The new block becomes the tip and its hash is returned."""
        block_hash = self.chain.mine_network_block()
        self.assertEqual(self.chain.tip_hash, block_hash)
        self.assertEqual(self.chain.height, 1)
        self.assertEqual(rpc(self.chain, "getbestblockhash"), block_hash)
        self.assertEqual(self.chain.accepted_blocks, [], "network blocks are not submissions")

    def test_meets_the_regtest_target(self) -> None:
        """At regtest difficulty the nonce is ground: the hash meets the target."""
        block = self.chain.block(self.chain.mine_network_block())
        header = block.header.serialize()
        self.assertLessEqual(int.from_bytes(dsha(header), "little"), 0x7FFFFF << 232)

    def test_pays_op_true_with_fees(self) -> None:
        """The coinbase pays subsidy plus the fees of the included mempool transactions to OP_TRUE."""
        gbt = template(self.chain)
        fees = {tx["txid"]: tx["fee"] for tx in gbt["transactions"]}
        decoded = rpc(self.chain, "getblock", self.chain.mine_network_block(), 2)
        included = [tx["txid"] for tx in decoded["tx"][1:]]
        self.assertTrue(0 < len(included) <= 4)
        payout = decoded["tx"][0]["vout"][0]
        self.assertEqual(payout["scriptPubKey"]["hex"], "51")
        expected = 50 * 100_000_000 + sum(fees[txid] for txid in included)
        self.assertEqual(round(payout["value"] * 100_000_000), expected)

    def test_time_is_now_or_after_the_median(self) -> None:
        """The block is timed at the clock, or at median time past + 1 when that is later."""
        first = rpc(self.chain, "getblockheader", self.chain.mine_network_block())
        self.assertEqual(first["time"], NOW)
        second = rpc(self.chain, "getblockheader", self.chain.mine_network_block())
        self.assertEqual(second["time"], NOW + 1)

    def test_pool_block_after_network_block_is_stale(self) -> None:
        """A pool block on the old tip is inconclusive once another miner found one."""
        gbt = template(self.chain)
        self.chain.mine_network_block()
        block = build_block(BlockSpec(gbt, txs=gbt_txs(gbt)[4:]))
        self.assertEqual(submit(self.chain, block), "inconclusive")

    def test_mempool_refills(self) -> None:
        """After a network block the mempool holds new transactions for the next template."""
        before = {tx["txid"] for tx in template(self.chain)["transactions"]}
        self.chain.mine_network_block()
        after = {tx["txid"] for tx in template(self.chain)["transactions"]}
        self.assertTrue(after - before)

    def test_clock_far_behind_is_refused_clearly(self) -> None:
        """With the clock before the chain's median time every block is "time-too-new"."""
        chain = EmbeddedChain(Clock())
        error = self.assertRaises(RuntimeError, chain.mine_network_block)
        self.assertIn("time-too-new", str(error))


class DifficultyTests(SynchronousTestCase):
    """set_bits and configured difficulties."""

    def test_set_bits_changes_the_template(self) -> None:
        """After set_bits the template asks for the new bits and target."""
        _, chain = new_chain()
        chain.set_bits(0x1D00FFFF)
        gbt = template(chain)
        self.assertEqual(gbt["bits"], "1d00ffff")
        self.assertEqual(gbt["target"], "00000000ffff" + "0" * 52)
        self.assertAlmostEqual(rpc(chain, "getmininginfo")["difficulty"], 4.656542373906925e-10)

    def test_old_bits_are_bad_diffbits(self) -> None:
        """A block with the previous bits is refused after set_bits."""
        _, chain = new_chain()
        gbt = template(chain)
        chain.set_bits(0x207FFFFE)
        self.assertEqual(
            submit(chain, build_block(BlockSpec(gbt, txs=gbt_txs(gbt)))), "bad-diffbits"
        )

    def test_high_difficulty_network_block_skips_pow(self) -> None:
        """At difficulty 1 network blocks are accepted without proof of work."""
        _, chain = new_chain()
        chain.set_bits(difficulty_to_bits(1.0))
        block_hash = chain.mine_network_block()
        self.assertEqual(chain.height, 1)
        self.assertEqual(rpc(chain, "getblockheader", block_hash)["bits"], "1d00ffff")
        self.assertEqual(rpc(chain, "getdifficulty"), 1.0)

    def test_moderate_difficulty_is_ground(self) -> None:
        """At difficulty 0.00001 (~43,000 hashes) the network block really meets the target."""
        _, chain = new_chain(bits=difficulty_to_bits(0.00001))
        block = chain.block(chain.mine_network_block())
        target = int(template(chain)["target"], 16)
        self.assertLessEqual(int.from_bytes(dsha(block.header.serialize()), "little"), target)

    def test_invalid_bits_refused(self) -> None:
        """Bits easier than the regtest limit, negative or zero are ValueError."""
        _, chain = new_chain()
        for bits in (0x2100FFFF, 0x04923456, 0x00000000, -1, 1 << 32):
            self.assertRaises(ValueError, chain.set_bits, bits)
        self.assertEqual(template(chain)["bits"], "207fffff")


class TimerTests(SynchronousTestCase):
    """The "network block" timer runs on the injected clock."""

    def test_blocks_every_interval(self) -> None:
        """A block arrives every block_interval_s after start(), none after stop()."""
        clock, chain = new_chain(block_interval_s=600)
        chain.start()
        clock.advance(599)
        self.assertEqual(chain.height, 0)
        clock.advance(1)
        self.assertEqual(chain.height, 1)
        for _ in range(3):
            clock.advance(600)
        self.assertEqual(chain.height, 4)
        chain.stop()
        clock.advance(600 * 5)
        self.assertEqual(chain.height, 4)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_start_twice_is_one_timer(self) -> None:
        """Starting again while running does not double the block rate."""
        clock, chain = new_chain(block_interval_s=10)
        chain.start()
        chain.start()
        clock.advance(10)
        self.assertEqual(chain.height, 1)
        chain.stop()

    def test_zero_interval_means_no_timer(self) -> None:
        """With block_interval_s 0, start() schedules nothing."""
        clock, chain = new_chain()
        chain.start()
        self.assertEqual(clock.getDelayedCalls(), [])
        chain.stop()

    def test_failure_does_not_stop_the_timer(self) -> None:
        """A failing network block is logged and the timer keeps running."""
        clock = Clock()
        chain = EmbeddedChain(clock, block_interval_s=5)
        chain.start()
        clock.advance(5)
        clock.advance(5)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)
        self.assertEqual(chain.height, 0)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(NOW)
        self.assertEqual(chain.height, 1)
        chain.stop()
