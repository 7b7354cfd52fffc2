"""submitblock on the embedded chain: acceptance and every reject reason, as Core answers them."""

from __future__ import annotations

import dataclasses
import os
import struct
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tbgpool.chain.blockcheck import BlockInvalid, check_block
from tbgpool.chain.pow import REGTEST_POW_LIMIT
from tbgpool.chain.primitives import parse_block
from tests.test_chain_blockbuilder import (
    NOW,
    PAYOUT_SCRIPT,
    REGTEST_GENESIS,
    ZERO32,
    BlockSpec,
    RawTx,
    TxInput,
    block_hash,
    build_block,
    commitment_script,
    dsha,
    gbt_txs,
    make_tx,
    new_chain,
    push,
    rpc,
    rpc_error,
    submit,
    template,
)


def made_up_tx(lock_time: int = 0, sequence: int = 0xFFFFFFFF, witness: bool = False) -> RawTx:
    """A well-formed transaction spending an outpoint the embedded chain never heard of."""
    script_sig = b"" if witness else push(b"\x30" * 71) + push(b"\x02" * 33)
    stack = [b"\x30" * 71, b"\x02" * 33] if witness else []
    return make_tx(
        [(os.urandom(32), 0, script_sig, sequence, stack)],
        [(50_000, PAYOUT_SCRIPT)],
        lock_time=lock_time,
    )


class SubmitBlockTestCase(SynchronousTestCase):
    """A fresh regtest chain and its first template."""

    def setUp(self) -> None:
        """An embedded chain at a realistic time and a template for height 1."""
        self.clock, self.chain = new_chain()
        self.gbt = template(self.chain)

    def spec(self, **changes: Any) -> BlockSpec:
        """A valid block spec for the template, with ``changes`` applied."""
        return dataclasses.replace(BlockSpec(self.gbt, txs=gbt_txs(self.gbt)), **changes)

    def assertRejected(self, block: bytes, reason: str) -> None:
        """submitblock answers ``reason`` and the tip does not move."""
        tip = self.chain.tip_hash
        self.assertEqual(submit(self.chain, block), reason)
        self.assertEqual(self.chain.tip_hash, tip)


class AcceptTests(SubmitBlockTestCase):
    """Blocks built from the template are accepted and extend the chain."""

    def test_template_block_is_accepted(self) -> None:
        """A block built from getblocktemplate is accepted (null) and becomes the tip."""
        block = build_block(self.spec())
        self.assertIsNone(submit(self.chain, block))
        self.assertEqual(self.chain.tip_hash, block_hash(block))
        self.assertEqual(self.chain.height, 1)
        self.assertEqual(self.chain.accepted_blocks, [block_hash(block)])
        self.assertEqual(rpc(self.chain, "getbestblockhash"), block_hash(block))
        self.assertEqual(rpc(self.chain, "getblockcount"), 1)

    def test_getblock_shows_the_coinbase_payout(self) -> None:
        """getblock verbosity 2 shows the coinbase paying the P2WPKH script the template's value."""
        block = build_block(self.spec())
        submit(self.chain, block)
        decoded = rpc(self.chain, "getblock", block_hash(block), 2)
        payout = decoded["tx"][0]["vout"][0]
        self.assertEqual(payout["scriptPubKey"]["hex"], PAYOUT_SCRIPT.hex())
        self.assertEqual(payout["scriptPubKey"]["type"], "witness_v0_keyhash")
        self.assertEqual(round(payout["value"] * 100_000_000), self.gbt["coinbasevalue"])
        self.assertEqual(decoded["height"], 1)
        self.assertEqual(decoded["previousblockhash"], REGTEST_GENESIS)
        self.assertEqual(decoded["nTx"], 1 + len(self.gbt["transactions"]))
        self.assertEqual(rpc(self.chain, "getblock", block_hash(block), 0), block.hex())
        stored = self.chain.block(block_hash(block))
        self.assertEqual(stored.transactions[0].outputs[0].script_pubkey, PAYOUT_SCRIPT)

    def test_accepted_transactions_leave_the_mempool(self) -> None:
        """The next template builds on the new tip and holds none of the confirmed transactions."""
        block = build_block(self.spec())
        submit(self.chain, block)
        following = template(self.chain)
        self.assertEqual(following["previousblockhash"], block_hash(block))
        self.assertEqual(following["height"], 2)
        confirmed = {tx["txid"] for tx in self.gbt["transactions"]}
        self.assertFalse(confirmed & {tx["txid"] for tx in following["transactions"]})
        self.assertTrue(following["transactions"], "new synthetic transactions were added")

    def test_coinbase_without_witness_gets_the_nonce(self) -> None:
        """A committing coinbase without witness is accepted and stored with the zero nonce (Core)."""
        block = build_block(self.spec(coinbase_witness=[]))
        self.assertIsNone(submit(self.chain, block))
        coinbase = rpc(self.chain, "getblock", block_hash(block), 2)["tx"][0]
        self.assertEqual(coinbase["vin"][0]["txinwitness"], ["00" * 32])

    def test_coinbase_only_block_is_accepted(self) -> None:
        """A block with only a coinbase (no commitment needed) is accepted with the subsidy."""
        block = build_block(
            self.spec(txs=[], commitment=None, coinbase_witness=[], coinbase_value=50 * 10**8)
        )
        self.assertIsNone(submit(self.chain, block))

    def test_coinbase_may_pay_less(self) -> None:
        """Paying less than subsidy + fees is allowed."""
        self.assertIsNone(submit(self.chain, build_block(self.spec(coinbase_value=1))))

    def test_chain_of_two_blocks(self) -> None:
        """A second block on the first is accepted with BIP34 height 2."""
        submit(self.chain, build_block(self.spec()))
        second = template(self.chain)
        block = build_block(BlockSpec(second, txs=gbt_txs(second)))
        self.assertIsNone(submit(self.chain, block))
        self.assertEqual(self.chain.height, 2)


class DuplicateAndOrphanTests(SubmitBlockTestCase):
    """duplicate, duplicate-invalid, inconclusive and prev-blk-not-found."""

    def test_duplicate(self) -> None:
        """Submitting an accepted block again answers "duplicate"."""
        block = build_block(self.spec())
        submit(self.chain, block)
        self.assertEqual(submit(self.chain, block), "duplicate")
        self.assertEqual(len(self.chain.accepted_blocks), 1)

    def test_inconclusive_on_a_stale_parent(self) -> None:
        """A valid block on a non-tip parent is stored, answered "inconclusive", and not made tip."""
        first = build_block(self.spec())
        submit(self.chain, first)
        rival = build_block(self.spec(coinbase_value=1))
        self.assertEqual(submit(self.chain, rival), "inconclusive")
        self.assertEqual(self.chain.tip_hash, block_hash(first))
        header = rpc(self.chain, "getblockheader", block_hash(rival))
        self.assertEqual(header["confirmations"], -1)
        self.assertEqual(header["height"], 1)
        self.assertEqual(submit(self.chain, rival), "duplicate")

    def test_stale_block_still_gets_contextual_checks(self) -> None:
        """A stale-parent block with a wrong BIP34 height is rejected, not inconclusive."""
        submit(self.chain, build_block(self.spec()))
        self.assertRejected(build_block(self.spec(height=5, coinbase_value=1)), "bad-cb-height")

    def test_prev_blk_not_found(self) -> None:
        """A block whose parent is unknown answers "prev-blk-not-found"."""
        self.assertRejected(build_block(self.spec(prev_hash="ab" * 32)), "prev-blk-not-found")

    def test_duplicate_invalid(self) -> None:
        """A block that failed validation answers "duplicate-invalid" when sent again."""
        block = build_block(self.spec(coinbase_value=self.gbt["coinbasevalue"] + 1))
        self.assertRejected(block, "bad-cb-amount")
        self.assertRejected(block, "duplicate-invalid")

    def test_bad_prevblk(self) -> None:
        """A block building on an invalid block answers "bad-prevblk"."""
        bad = build_block(self.spec(coinbase_value=self.gbt["coinbasevalue"] + 1))
        submit(self.chain, bad)
        child_gbt = dict(self.gbt, previousblockhash=block_hash(bad), height=2)
        child = build_block(
            BlockSpec(child_gbt, commitment=None, coinbase_witness=[], coinbase_value=1)
        )
        self.assertRejected(child, "bad-prevblk")

    def test_mutated_block_can_be_resubmitted_fixed(self) -> None:
        """After a witness-mutation rejection the same header with good data is accepted."""
        good = build_block(self.spec())
        bad = build_block(self.spec(coinbase_witness=[b"\x00" * 31]))
        self.assertEqual(block_hash(good), block_hash(bad))
        self.assertRejected(bad, "bad-witness-nonce-size")
        self.assertIsNone(submit(self.chain, good))


class HeaderRejectTests(SubmitBlockTestCase):
    """Header-level reject reasons."""

    def test_high_hash(self) -> None:
        """A hash above the target of its bits answers "high-hash"."""
        self.assertRejected(build_block(self.spec(meet_target=False)), "high-hash")

    def test_high_hash_for_bits_easier_than_the_limit(self) -> None:
        """Bits beyond regtest's proof-of-work limit fail the PoW check ("high-hash")."""
        self.assertRejected(build_block(self.spec(bits=0x2100FFFF)), "high-hash")

    def test_bad_diffbits(self) -> None:
        """Valid PoW for other bits than the chain expects answers "bad-diffbits"."""
        self.assertRejected(build_block(self.spec(bits=0x207FFFFE)), "bad-diffbits")

    def test_time_too_old(self) -> None:
        """A timestamp at (not above) the median time past answers "time-too-old"."""
        self.assertRejected(build_block(self.spec(time=self.gbt["mintime"] - 1)), "time-too-old")

    def test_time_at_mintime_is_fine(self) -> None:
        """The template's mintime itself is an acceptable timestamp."""
        self.assertIsNone(submit(self.chain, build_block(self.spec(time=self.gbt["mintime"]))))

    def test_time_too_new(self) -> None:
        """More than two hours ahead of the clock answers "time-too-new"; exactly two is fine."""
        self.assertRejected(build_block(self.spec(time=NOW + 7201)), "time-too-new")
        self.assertIsNone(submit(self.chain, build_block(self.spec(time=NOW + 7200))))

    def test_bad_version(self) -> None:
        """Versions below 4 answer Core's "bad-version(0x...)" with the version in hex."""
        self.assertRejected(build_block(self.spec(version=3)), "bad-version(0x00000003)")
        self.assertRejected(build_block(self.spec(version=0x80000000)), "bad-version(0x80000000)")

    def test_version_rolled_bits_are_fine(self) -> None:
        """BIP320 version rolling (bits in 0x1fffe000) is accepted."""
        self.assertIsNone(submit(self.chain, build_block(self.spec(version=0x3FFFE000))))


class BodyRejectTests(SubmitBlockTestCase):
    """Reject reasons about the transactions."""

    def test_bad_txnmrklroot(self) -> None:
        """A header merkle root that does not match the transactions answers "bad-txnmrklroot"."""
        self.assertRejected(build_block(self.spec(merkle_root=b"\x01" * 32)), "bad-txnmrklroot")

    def test_bad_txns_duplicate(self) -> None:
        """A repeated transaction pair that keeps the merkle root valid answers "bad-txns-duplicate"."""
        txs = gbt_txs(self.gbt)
        self.assertRejected(
            build_block(self.spec(txs=[txs[0], txs[1], txs[1]])), "bad-txns-duplicate"
        )

    def test_first_tx_not_coinbase(self) -> None:
        """A block not starting with a coinbase fails with -22, as Core v26/v27's submitblock does."""
        block = build_block(self.spec(leading_txs=[]))
        error = rpc_error(self.chain, "submitblock", block.hex())
        self.assertEqual((error.code, error.message), (-22, "Block does not start with a coinbase"))

    def test_bad_cb_multiple(self) -> None:
        """A second coinbase answers "bad-cb-multiple"."""
        extra = make_tx([(ZERO32, 0xFFFFFFFF, b"\x52\x00", 0xFFFFFFFF, [])], [(1, PAYOUT_SCRIPT)])
        self.assertRejected(build_block(self.spec(txs=[extra])), "bad-cb-multiple")

    def test_bad_cb_height(self) -> None:
        """A coinbase not starting with the BIP34 height answers "bad-cb-height"."""
        self.assertRejected(build_block(self.spec(height=2)), "bad-cb-height")

    def test_height_one_as_data_push_is_bad_cb_height(self) -> None:
        """Height 1 pushed as data (01 01) instead of OP_1 answers "bad-cb-height"."""
        script_sig = b"\x01\x01" + push(b"tbgpool")
        self.assertRejected(build_block(self.spec(script_sig=script_sig)), "bad-cb-height")

    def test_bad_cb_length(self) -> None:
        """A coinbase scriptSig of 1 or 101 bytes answers "bad-cb-length"; 2 and 100 are fine."""
        self.assertRejected(build_block(self.spec(script_sig=b"\x51")), "bad-cb-length")
        self.assertRejected(
            build_block(self.spec(script_sig=b"\x51" + b"\x00" * 100)), "bad-cb-length"
        )
        self.assertIsNone(
            submit(self.chain, build_block(self.spec(script_sig=b"\x51" + b"\x00" * 99)))
        )

    def test_bad_cb_amount(self) -> None:
        """One satoshi above subsidy + fees answers "bad-cb-amount"."""
        value = self.gbt["coinbasevalue"] + 1
        self.assertRejected(build_block(self.spec(coinbase_value=value)), "bad-cb-amount")

    def test_bad_cb_amount_without_the_fees(self) -> None:
        """Claiming the fees of transactions left out answers "bad-cb-amount"."""
        block = build_block(self.spec(txs=gbt_txs(self.gbt)[1:]))
        self.assertRejected(block, "bad-cb-amount")

    def test_bad_witness_nonce_size(self) -> None:
        """A committing coinbase with a 31-byte or two-item witness answers "bad-witness-nonce-size"."""
        self.assertRejected(
            build_block(self.spec(coinbase_witness=[b"\x00" * 31])), "bad-witness-nonce-size"
        )
        self.assertRejected(
            build_block(self.spec(coinbase_witness=[ZERO32, ZERO32])), "bad-witness-nonce-size"
        )

    def test_bad_witness_merkle_match(self) -> None:
        """A commitment to the wrong witness root answers "bad-witness-merkle-match"."""
        wrong = commitment_script([b"\x07" * 32])
        self.assertRejected(build_block(self.spec(commitment=wrong)), "bad-witness-merkle-match")

    def test_last_commitment_output_counts(self) -> None:
        """With two commitment outputs the last one is checked (Core's GetWitnessCommitmentIndex)."""
        good = commitment_script([tx.wtxid for tx in gbt_txs(self.gbt)])
        wrong = commitment_script([b"\x07" * 32])
        first_good = self.spec(coinbase_extra_outputs=[(0, good)], commitment=wrong)
        self.assertRejected(build_block(first_good), "bad-witness-merkle-match")
        last_good = self.spec(coinbase_extra_outputs=[(0, wrong)], commitment=good)
        self.assertIsNone(submit(self.chain, build_block(last_good)))

    def test_unexpected_witness(self) -> None:
        """Segwit transactions without a commitment output answer "unexpected-witness"."""
        txs = gbt_txs(self.gbt)
        self.assertTrue(any(tx.txid != tx.wtxid for tx in txs), "the template has segwit txs")
        block = build_block(self.spec(commitment=None, coinbase_witness=[]))
        self.assertRejected(block, "unexpected-witness")

    def test_coinbase_witness_without_commitment(self) -> None:
        """A coinbase witness alone, with no commitment, is "unexpected-witness"."""
        block = build_block(self.spec(txs=[], commitment=None, coinbase_value=1))
        self.assertRejected(block, "unexpected-witness")

    def test_bad_blk_weight(self) -> None:
        """A block over 4M weight (by witness data) answers "bad-blk-weight"."""
        heavy = make_tx(
            [(os.urandom(32), 0, b"", 0xFFFFFFFF, [b"\x01" * 3_999_000])], [(1000, PAYOUT_SCRIPT)]
        )
        self.assertRejected(build_block(self.spec(txs=[heavy])), "bad-blk-weight")

    def test_unknown_transaction(self) -> None:
        """A transaction that is not in the mempool answers "bad-txns-inputs-missingorspent"."""
        txs = [*gbt_txs(self.gbt), made_up_tx()]
        self.assertRejected(build_block(self.spec(txs=txs)), "bad-txns-inputs-missingorspent")

    def test_transaction_twice(self) -> None:
        """The same mempool transaction twice (not adjacent) spends its inputs twice."""
        txs = gbt_txs(self.gbt)
        spec = self.spec(txs=[txs[0], txs[1], txs[0]], coinbase_value=1)
        self.assertRejected(build_block(spec), "bad-txns-inputs-missingorspent")

    def test_already_confirmed_transaction(self) -> None:
        """Including a transaction confirmed in an earlier block answers "bad-txns-BIP30"."""
        submit(self.chain, build_block(self.spec()))
        following = template(self.chain)
        txs = [*gbt_txs(following), gbt_txs(self.gbt)[0]]
        block = build_block(BlockSpec(following, txs=txs, coinbase_value=1))
        self.assertRejected(block, "bad-txns-BIP30")

    def test_malleated_witness(self) -> None:
        """A mempool transaction with a changed witness fails script checks ("block-validation-failed")."""
        original = next(tx for tx in gbt_txs(self.gbt) if tx.txid != tx.wtxid)
        data = bytearray(original.data)
        data[-10] ^= 0x01  # inside the last witness item, just before nLockTime
        tampered = RawTx(bytes(data), original.txid, dsha(bytes(data)))
        txs = [tampered if tx.txid == original.txid else tx for tx in gbt_txs(self.gbt)]
        self.assertRejected(build_block(self.spec(txs=txs)), "block-validation-failed")

    def test_non_final_transaction(self) -> None:
        """A transaction locked to a future height answers "bad-txns-nonfinal"."""
        txs = [*gbt_txs(self.gbt), made_up_tx(lock_time=500, sequence=0xFFFFFFFE)]
        self.assertRejected(build_block(self.spec(txs=txs)), "bad-txns-nonfinal")

    def test_coinbase_spending_too_much_legacy_sigops(self) -> None:
        """More than 20,000 legacy sigops answers "bad-blk-sigops"."""
        heavy_script = b"\xac" * 20_001
        spec = self.spec(coinbase_extra_outputs=[(0, heavy_script)])
        self.assertRejected(build_block(spec), "bad-blk-sigops")


class DecodeTests(SubmitBlockTestCase):
    """Undecodable submissions fail with RPC error -22 as in Core."""

    def assertDecodeFailed(self, hexdata: str, message: str = "Block decode failed") -> None:
        """submitblock fails with -22 and ``message``."""
        error = rpc_error(self.chain, "submitblock", hexdata)
        self.assertEqual((error.code, error.message), (-22, message))

    def test_not_hex(self) -> None:
        """Non-hex, odd-length and empty strings fail to decode."""
        self.assertDecodeFailed("zz")
        self.assertDecodeFailed("abc")
        self.assertDecodeFailed("")

    def test_truncated_block(self) -> None:
        """A block cut short fails to decode."""
        block = build_block(self.spec())
        self.assertDecodeFailed(block[:-1].hex())
        self.assertDecodeFailed(block[:79].hex())

    def test_trailing_garbage(self) -> None:
        """Bytes after the last transaction fail to decode (stricter than Core, on purpose)."""
        self.assertDecodeFailed((build_block(self.spec()) + b"\x00").hex())

    def test_no_transactions(self) -> None:
        """A header with an empty transaction list fails with "Block does not start with a coinbase"."""
        block = build_block(self.spec())
        self.assertDecodeFailed(
            (block[:80] + b"\x00").hex(), "Block does not start with a coinbase"
        )

    def test_huge_transaction_count(self) -> None:
        """A transaction count far beyond the data fails to decode without allocating it."""
        block = build_block(self.spec())
        self.assertDecodeFailed((block[:80] + b"\xfe\xff\xff\xff\x01").hex())

    def test_non_canonical_count(self) -> None:
        """A non-canonical CompactSize transaction count fails to decode."""
        block = build_block(self.spec(txs=[], commitment=None, coinbase_witness=[]))
        body = block[81:]
        self.assertDecodeFailed((block[:80] + b"\xfd" + struct.pack("<H", 1) + body).hex())

    def test_uppercase_hex_is_accepted(self) -> None:
        """Upper-case hex decodes like lower-case (Core's IsHex accepts both)."""
        self.assertIsNone(rpc(self.chain, "submitblock", build_block(self.spec()).hex().upper()))


class ChainAfterRejectsTests(SubmitBlockTestCase):
    """Rejections leave no trace on the active chain."""

    def test_rejects_leave_the_chain_usable(self) -> None:
        """After a run of rejected blocks a good block is still accepted at height 1."""
        for changes in ({"version": 1}, {"height": 3}, {"coinbase_value": 10**12}):
            self.assertNotEqual(submit(self.chain, build_block(self.spec(**changes))), None)
        self.assertIsNone(submit(self.chain, build_block(self.spec())))
        self.assertEqual(self.chain.height, 1)


class TransactionCheckTests(SubmitBlockTestCase):
    """Core's CheckTransaction reasons, reached through submitblock."""

    def assertTxRejected(self, tx: RawTx, reason: str) -> None:
        """A block carrying ``tx`` (with a matching commitment) is refused with ``reason``."""
        self.assertRejected(build_block(self.spec(txs=[tx], coinbase_value=1)), reason)

    def test_vin_empty(self) -> None:
        """No inputs (and no outputs) is "bad-txns-vin-empty"."""
        data = struct.pack("<i", 2) + b"\x00\x00" + struct.pack("<I", 0)
        self.assertTxRejected(RawTx(data, dsha(data), dsha(data)), "bad-txns-vin-empty")

    def test_vout_empty(self) -> None:
        """No outputs is "bad-txns-vout-empty"."""
        self.assertTxRejected(make_tx([(b"\x01" * 32, 0, b"", 0, [])], []), "bad-txns-vout-empty")

    def test_output_values(self) -> None:
        """Negative, above-MAX_MONEY and overflowing output totals are refused."""
        max_money = 21_000_000 * 100_000_000
        prevout: TxInput = (b"\x01" * 32, 0, b"", 0, [])
        self.assertTxRejected(make_tx([prevout], [(-1, b"\x51")]), "bad-txns-vout-negative")
        self.assertTxRejected(
            make_tx([prevout], [(max_money + 1, b"\x51")]), "bad-txns-vout-toolarge"
        )
        two_max = [(max_money, b"\x51"), (max_money, b"\x51")]
        self.assertTxRejected(make_tx([prevout], two_max), "bad-txns-txouttotal-toolarge")

    def test_inputs_duplicate(self) -> None:
        """Spending one outpoint twice in a transaction is "bad-txns-inputs-duplicate"."""
        prevout: TxInput = (b"\x01" * 32, 0, b"", 0, [])
        self.assertTxRejected(
            make_tx([prevout, prevout], [(1, b"\x51")]), "bad-txns-inputs-duplicate"
        )

    def test_prevout_null(self) -> None:
        """A non-coinbase input spending the null prevout is "bad-txns-prevout-null"."""
        inputs: list[TxInput] = [(b"\x01" * 32, 0, b"", 0, []), (ZERO32, 0xFFFFFFFF, b"", 0, [])]
        self.assertTxRejected(make_tx(inputs, [(1, b"\x51")]), "bad-txns-prevout-null")

    def test_check_block_reasons_submitblock_cannot_reach(self) -> None:
        """check_block itself reports "bad-cb-missing" and "bad-blk-length" (v29+ submitblock reasons)."""
        block = parse_block(build_block(self.spec()))
        no_coinbase = dataclasses.replace(block, transactions=block.transactions[1:])
        empty = dataclasses.replace(block, transactions=())
        for candidate, reason in ((no_coinbase, "bad-cb-missing"), (empty, "bad-blk-length")):
            with self.assertRaises(BlockInvalid) as caught:
                check_block(candidate, REGTEST_POW_LIMIT, check_pow=False, check_merkle=False)
            self.assertEqual(caught.exception.reason, reason)
