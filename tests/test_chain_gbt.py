"""getblocktemplate on the embedded chain: shape, values, rules, proposals and long polling."""

from __future__ import annotations

import json
from typing import Any

from bitcoin.core import CTransaction, b2lx
from twisted.internet.defer import CancelledError
from twisted.trial.unittest import SynchronousTestCase

from tbgpool.chain.embedded import EmbeddedChain
from tbgpool.errors import RPCError
from tbgpool.template import BlockTemplate
from tests.test_chain_blockbuilder import (
    NOW,
    REGTEST_GENESIS,
    BlockSpec,
    block_hash,
    build_block,
    commitment_script,
    dsha,
    gbt_txs,
    new_chain,
    rpc,
    rpc_error,
    submit,
    template,
)

SEGWIT_MESSAGE = (
    'getblocktemplate must be called with the segwit rule set (call with {"rules": ["segwit"]})'
)
COIN = 100_000_000

TEMPLATE_KEYS = {
    "capabilities", "version", "rules", "vbavailable", "vbrequired", "previousblockhash",
    "transactions", "coinbaseaux", "coinbasevalue", "longpollid", "target", "mintime", "mutable",
    "noncerange", "sigoplimit", "sizelimit", "weightlimit", "curtime", "bits", "height",
    "default_witness_commitment",
}  # fmt: skip


def mine(chain: EmbeddedChain, count: int) -> None:
    """Let "another miner" find ``count`` blocks."""
    for _ in range(count):
        chain.mine_network_block()


class TemplateShapeTests(SynchronousTestCase):
    """The result has Core v27's keys and regtest's values."""

    def setUp(self) -> None:
        """A fresh chain and its first template."""
        self.clock, self.chain = new_chain()
        self.gbt = template(self.chain)

    def test_keys(self) -> None:
        """Exactly Core's keys are present."""
        self.assertEqual(set(self.gbt), TEMPLATE_KEYS)

    def test_fixed_values(self) -> None:
        """Version, rules, limits and ranges are regtest's."""
        gbt = self.gbt
        self.assertEqual(gbt["version"], 0x20000000)
        self.assertEqual(gbt["rules"], ["csv", "!segwit", "taproot"])
        self.assertEqual(gbt["capabilities"], ["proposal"])
        self.assertEqual((gbt["vbavailable"], gbt["vbrequired"], gbt["coinbaseaux"]), ({}, 0, {}))
        self.assertEqual(gbt["mutable"], ["time", "transactions", "prevblock"])
        self.assertEqual(gbt["noncerange"], "00000000ffffffff")
        self.assertEqual(
            (gbt["sigoplimit"], gbt["sizelimit"], gbt["weightlimit"]), (80000, 4000000, 4000000)
        )

    def test_chain_values(self) -> None:
        """Height, parent, bits and target describe the block after regtest genesis."""
        gbt = self.gbt
        self.assertEqual(gbt["height"], 1)
        self.assertEqual(gbt["previousblockhash"], REGTEST_GENESIS)
        self.assertEqual(gbt["bits"], "207fffff")
        self.assertEqual(gbt["target"], "7fffff" + "0" * 58)
        self.assertEqual(gbt["curtime"], NOW)
        self.assertEqual(gbt["longpollid"], REGTEST_GENESIS + gbt["longpollid"][64:])
        self.assertTrue(gbt["longpollid"][64:].isdigit())

    def test_coinbasevalue_is_subsidy_plus_fees(self) -> None:
        """coinbasevalue is 50 BTC plus the fees of the listed transactions."""
        fees = sum(tx["fee"] for tx in self.gbt["transactions"])
        self.assertGreater(fees, 0)
        self.assertEqual(self.gbt["coinbasevalue"], 50 * COIN + fees)

    def test_default_witness_commitment(self) -> None:
        """The commitment is 6a24aa21a9ed + sha256d(witness root with a zero coinbase wtxid ‖ zeros)."""
        expected = commitment_script([tx.wtxid for tx in gbt_txs(self.gbt)])
        self.assertEqual(self.gbt["default_witness_commitment"], expected.hex())

    def test_commitment_without_transactions(self) -> None:
        """With an empty mempool the commitment is over the coinbase alone."""
        _, chain = new_chain(mempool_tx_per_block=0)
        gbt = template(chain)
        self.assertEqual(gbt["transactions"], [])
        self.assertEqual(gbt["default_witness_commitment"], commitment_script([]).hex())
        self.assertEqual(gbt["coinbasevalue"], 50 * COIN)

    def test_transactions_decode_with_bitcoinlib(self) -> None:
        """Every transaction decodes with python-bitcoinlib to the listed txid, hash and weight."""
        for entry in self.gbt["transactions"]:
            data = bytes.fromhex(entry["data"])
            tx = CTransaction.deserialize(data)
            self.assertEqual(b2lx(tx.GetTxid()), entry["txid"])
            self.assertEqual(dsha(data)[::-1].hex(), entry["hash"])
            stripped = tx.serialize({"include_witness": False})
            self.assertEqual(entry["weight"], 3 * len(stripped) + len(data))
            self.assertEqual(entry["depends"], [])
            self.assertGreater(entry["fee"], 0)
            self.assertIsInstance(entry["sigops"], int)

    def test_transactions_mix_legacy_and_segwit(self) -> None:
        """Some transactions are segwit (wtxid differs) and some legacy."""
        segwit = [tx["txid"] != tx["hash"] for tx in self.gbt["transactions"]]
        self.assertIn(True, segwit)
        self.assertIn(False, segwit)

    def test_same_seed_same_mempool(self) -> None:
        """The synthetic mempool is deterministic for a seed and differs across seeds."""
        _, same = new_chain()
        _, other = new_chain(seed=1)
        self.assertEqual(template(same)["transactions"], self.gbt["transactions"])
        self.assertNotEqual(template(other)["transactions"], self.gbt["transactions"])

    def test_json_round_trip(self) -> None:
        """The result survives a strict JSON round trip unchanged."""
        self.assertEqual(json.loads(json.dumps(self.gbt, allow_nan=False)), self.gbt)

    def test_block_template_from_gbt(self) -> None:
        """The pool's BlockTemplate.from_gbt consumes the result."""
        parsed = BlockTemplate.from_gbt(self.gbt, "regtest", clean=True)
        self.assertEqual(parsed.height, 1)
        self.assertEqual(parsed.previous_block_hash, REGTEST_GENESIS)
        self.assertEqual(parsed.bits, 0x207FFFFF)
        self.assertEqual(parsed.target, 0x7FFFFF << 232)
        self.assertEqual(parsed.coinbase_value, self.gbt["coinbasevalue"])
        self.assertEqual(parsed.mintime, self.gbt["mintime"])
        assert parsed.witness_commitment is not None
        self.assertEqual(parsed.witness_commitment.hex(), self.gbt["default_witness_commitment"])
        self.assertEqual(
            [tx.txid for tx in parsed.transactions], [tx.txid for tx in gbt_txs(self.gbt)]
        )
        self.assertEqual(
            [tx.fee for tx in parsed.transactions], [tx["fee"] for tx in self.gbt["transactions"]]
        )


class RuleTests(SynchronousTestCase):
    """The segwit rule is required, and the request object is checked as Core checks it."""

    def setUp(self) -> None:
        """A fresh chain."""
        _, self.chain = new_chain()

    def test_no_request_object(self) -> None:
        """Without any request, -8 with Core's segwit message."""
        error = rpc_error(self.chain, "getblocktemplate")
        self.assertEqual((error.code, error.message), (-8, SEGWIT_MESSAGE))

    def test_rules_without_segwit(self) -> None:
        """Empty rules, or rules that are not a list, give the segwit error."""
        requests: list[dict[str, Any]] = [
            {},
            {"rules": []},
            {"rules": ["csv"]},
            {"rules": "segwit"},
        ]
        for request in requests:
            error = rpc_error(self.chain, "getblocktemplate", request)
            self.assertEqual((error.code, error.message), (-8, SEGWIT_MESSAGE))

    def test_non_string_rule(self) -> None:
        """A non-string rule is a JSON type error (-3)."""
        error = rpc_error(self.chain, "getblocktemplate", {"rules": ["segwit", 5]})
        self.assertEqual(error.code, -3)
        self.assertEqual(error.message, "JSON value of type number is not of expected type string")

    def test_request_not_an_object(self) -> None:
        """A request that is not an object is refused with Core's "Wrong type passed"."""
        error = rpc_error(self.chain, "getblocktemplate", ["segwit"])
        self.assertEqual(error.code, -3)
        self.assertEqual(
            error.message,
            'Wrong type passed:\n{\n    "Position 1 (template_request)": '
            '"JSON value of type array is not of expected type object"\n}',
        )

    def test_invalid_mode(self) -> None:
        """An unknown or non-string mode is -8 "Invalid mode"."""
        for mode in ("bogus", 5):
            error = rpc_error(self.chain, "getblocktemplate", {"rules": ["segwit"], "mode": mode})
            self.assertEqual((error.code, error.message), (-8, "Invalid mode"))

    def test_explicit_template_mode(self) -> None:
        """mode "template" is the default made explicit."""
        result = rpc(self.chain, "getblocktemplate", {"rules": ["segwit"], "mode": "template"})
        self.assertEqual(result["height"], 1)

    def test_too_many_arguments(self) -> None:
        """Two arguments are a usage error (-1)."""
        error = rpc_error(self.chain, "getblocktemplate", {"rules": ["segwit"]}, {})
        self.assertEqual(error.code, -1)
        self.assertTrue(error.message.startswith("getblocktemplate"))


class SubsidyTests(SynchronousTestCase):
    """coinbasevalue follows regtest's 150-block halving."""

    def test_halving_at_150_on_regtest(self) -> None:
        """Height 149 pays 50 BTC + fees, height 150 pays 25 BTC + fees."""
        _, chain = new_chain()
        mine(chain, 148)
        before = template(chain)
        self.assertEqual(before["height"], 149)
        self.assertEqual(
            before["coinbasevalue"], 50 * COIN + sum(t["fee"] for t in before["transactions"])
        )
        mine(chain, 1)
        after = template(chain)
        self.assertEqual(after["height"], 150)
        self.assertEqual(
            after["coinbasevalue"], 25 * COIN + sum(t["fee"] for t in after["transactions"])
        )

    def test_other_networks_halve_at_210000(self) -> None:
        """A chain named "main" reports chain "main" and pays 50 BTC well past height 150."""
        _, chain = new_chain(network="main", mempool_tx_per_block=0)
        mine(chain, 151)
        self.assertEqual(template(chain)["coinbasevalue"], 50 * COIN)
        self.assertEqual(rpc(chain, "getblockchaininfo")["chain"], "main")


class TimeTests(SynchronousTestCase):
    """mintime is median-time-past + 1 and curtime never precedes it."""

    def setUp(self) -> None:
        """A fresh chain with an empty mempool."""
        self.clock, self.chain = new_chain(mempool_tx_per_block=0)

    def accept_at(self, time: int) -> None:
        """Accept a block on the tip with this timestamp."""
        gbt = template(self.chain)
        block = build_block(BlockSpec(gbt, time=time))
        self.assertIsNone(submit(self.chain, block))

    def test_mintime_of_first_block(self) -> None:
        """On genesis, mintime is the genesis time + 1."""
        self.assertEqual(template(self.chain)["mintime"], 1296688602 + 1)

    def test_mintime_is_the_median_not_the_tip(self) -> None:
        """With block times [genesis, +5000, +6000, +5001, +5500] mintime is the median +5001, + 1."""
        for offset in (5000, 6000, 5001, 5500):
            self.accept_at(NOW + offset)
        self.assertEqual(template(self.chain)["mintime"], NOW + 5002)

    def test_block_at_the_median_is_too_old(self) -> None:
        """A block timed at the median time past (above the tip's parent) is refused."""
        self.accept_at(NOW + 5000)
        gbt = template(self.chain)
        block = build_block(BlockSpec(gbt, time=NOW + 5000))
        self.assertEqual(submit(self.chain, block), "time-too-old")

    def test_mintime_uses_the_last_eleven_blocks(self) -> None:
        """After 13 blocks the median runs over the last 11 block times only."""
        times = []
        for step in (7, 3, 11, 2, 5, 13, 1, 17, 4, 9, 6, 8, 10):
            self.clock.advance(step * 60)
            times.append(int(self.clock.seconds()))
            self.chain.mine_network_block()
        expected = sorted(times[-11:])[5] + 1
        self.assertEqual(template(self.chain)["mintime"], expected)

    def test_curtime_never_before_mintime(self) -> None:
        """When the median time past is ahead of the clock, curtime is mintime."""
        self.accept_at(NOW + 7000)
        self.accept_at(NOW + 7100)
        gbt = template(self.chain)
        self.assertEqual(gbt["mintime"], NOW + 7001)
        self.assertEqual(gbt["curtime"], NOW + 7001)

    def test_curtime_follows_the_clock(self) -> None:
        """curtime is the clock's time in whole seconds."""
        self.clock.advance(12.7)
        self.assertEqual(template(self.chain)["curtime"], NOW + 12)


class ProposalTests(SynchronousTestCase):
    """BIP23 proposals are checked without proof of work."""

    def setUp(self) -> None:
        """A fresh chain and its first template."""
        _, self.chain = new_chain()
        self.gbt = template(self.chain)

    def propose(self, block: bytes) -> Any:
        """Core's answer to a proposal of ``block``."""
        return rpc(self.chain, "getblocktemplate", {"mode": "proposal", "data": block.hex()})

    def test_valid_proposal(self) -> None:
        """A valid block is answered null even without proof of work, and is not stored."""
        block = build_block(BlockSpec(self.gbt, txs=gbt_txs(self.gbt), meet_target=False))
        self.assertIsNone(self.propose(block))
        self.assertEqual(self.chain.height, 0)

    def test_invalid_proposal(self) -> None:
        """An overpaying coinbase is answered "bad-cb-amount"."""
        spec = BlockSpec(
            self.gbt, txs=gbt_txs(self.gbt), coinbase_value=self.gbt["coinbasevalue"] + 1
        )
        self.assertEqual(self.propose(build_block(spec)), "bad-cb-amount")

    def test_proposal_not_on_the_tip(self) -> None:
        """A proposal on another parent is "inconclusive-not-best-prevblk"."""
        block = build_block(BlockSpec(self.gbt, prev_hash="11" * 32))
        self.assertEqual(self.propose(block), "inconclusive-not-best-prevblk")

    def test_proposal_of_a_known_block(self) -> None:
        """Proposing an accepted block answers "duplicate"."""
        block = build_block(BlockSpec(self.gbt, txs=gbt_txs(self.gbt)))
        submit(self.chain, block)
        self.assertEqual(self.propose(block), "duplicate")

    def test_proposal_without_data(self) -> None:
        """A proposal without a data string is -3 "Missing data String key for proposal"."""
        error = rpc_error(self.chain, "getblocktemplate", {"mode": "proposal"})
        self.assertEqual((error.code, error.message), (-3, "Missing data String key for proposal"))

    def test_proposal_undecodable(self) -> None:
        """Undecodable proposal data is -22 "Block decode failed"."""
        error = rpc_error(self.chain, "getblocktemplate", {"mode": "proposal", "data": "00"})
        self.assertEqual((error.code, error.message), (-22, "Block decode failed"))


class LongPollTests(SynchronousTestCase):
    """longpollid requests wait for a new tip, timed by the injected clock."""

    def setUp(self) -> None:
        """A fresh chain and its first template."""
        self.clock, self.chain = new_chain()
        self.gbt = template(self.chain)

    def longpoll(self, longpollid: object, rules: list[str] | None = None) -> list[Any]:
        """Start a long poll; the returned list receives its outcome."""
        outcome: list[Any] = []
        request = {"rules": ["segwit"] if rules is None else rules, "longpollid": longpollid}
        self.chain.call("getblocktemplate", [request]).addBoth(outcome.append)
        return outcome

    def test_waits_for_a_new_block(self) -> None:
        """The poll stays open (also past the mempool checks) until a block arrives."""
        outcome = self.longpoll(self.gbt["longpollid"])
        self.clock.advance(60 + 10 * 5)
        self.assertEqual(outcome, [])
        new_tip = self.chain.mine_network_block()
        self.assertEqual(outcome[0]["previousblockhash"], new_tip)
        self.assertEqual(outcome[0]["height"], 2)

    def test_stale_longpollid_returns_now(self) -> None:
        """A longpollid naming another tip is answered at once."""
        outcome = self.longpoll("ab" * 32 + "0")
        self.assertEqual(outcome[0]["height"], 1)

    def test_non_string_longpollid_watches_the_tip(self) -> None:
        """A non-string longpollid waits on the current tip (as Core does)."""
        outcome = self.longpoll(True)
        self.assertEqual(outcome, [])
        self.chain.mine_network_block()
        self.assertEqual(outcome[0]["height"], 2)

    def test_bad_longpollid(self) -> None:
        """A longpollid shorter than a hash is -8 from ParseHashV."""
        outcome = self.longpoll("xyz")
        error = outcome[0].value
        self.assertIsInstance(error, RPCError)
        self.assertEqual(
            (error.code, error.message), (-8, "longpollid must be of length 64 (not 3, for 'xyz')")
        )

    def test_cancel(self) -> None:
        """Cancelling a long poll fails it with CancelledError and forgets it."""
        d = self.chain.call(
            "getblocktemplate", [{"rules": ["segwit"], "longpollid": self.gbt["longpollid"]}]
        )
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.chain.mine_network_block()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_segwit_rule_checked_after_the_wait(self) -> None:
        """Without the segwit rule the poll ends with Core's -8 error when the tip moves."""
        outcome = self.longpoll(self.gbt["longpollid"], rules=[])
        self.assertEqual(outcome, [])
        self.chain.mine_network_block()
        self.assertEqual(outcome[0].value.code, -8)

    def test_submitted_block_ends_the_poll(self) -> None:
        """A block accepted through submitblock also answers waiting polls."""
        outcome = self.longpoll(self.gbt["longpollid"])
        block = build_block(BlockSpec(self.gbt, txs=gbt_txs(self.gbt)))
        submit(self.chain, block)
        self.assertEqual(outcome[0]["previousblockhash"], block_hash(block))
