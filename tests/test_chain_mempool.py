"""The synthetic mempool: deterministic, well-formed transactions with fees."""

from __future__ import annotations

from bitcoin.core import CTransaction, b2lx
from twisted.trial.unittest import SynchronousTestCase

from tbgpool.chain.blockcheck import check_transaction, is_final_tx
from tbgpool.chain.mempool import SyntheticMempool
from tbgpool.chain.script import output_type, script_to_asm
from tbgpool.chain.serialize import hash_to_display


class SyntheticMempoolTests(SynchronousTestCase):
    """Generated transactions look like wallet transactions and pass Core's checks."""

    def setUp(self) -> None:
        """A mempool with fifty transactions created at tip height 10."""
        self.mempool = SyntheticMempool(seed=3)
        self.mempool.add_synthetic(50, tip_height=10)

    def test_deterministic(self) -> None:
        """The same seed creates the same transactions; another seed others."""
        again = SyntheticMempool(seed=3)
        again.add_synthetic(50, tip_height=10)
        other = SyntheticMempool(seed=4)
        other.add_synthetic(50, tip_height=10)
        txids = [e.tx.txid for e in self.mempool.entries()]
        self.assertEqual([e.tx.txid for e in again.entries()], txids)
        self.assertNotEqual([e.tx.txid for e in other.entries()], txids)

    def test_decode_with_bitcoinlib(self) -> None:
        """Every transaction round-trips through python-bitcoinlib with the same txid."""
        for entry in self.mempool.entries():
            data = entry.tx.serialize()
            parsed = CTransaction.deserialize(data)
            self.assertEqual(parsed.serialize(), data)
            self.assertEqual(b2lx(parsed.GetTxid()), hash_to_display(entry.tx.txid))

    def test_legacy_and_segwit(self) -> None:
        """Both kinds appear; segwit ones have wtxid ≠ txid and an empty scriptSig."""
        segwit = [e.tx for e in self.mempool.entries() if e.tx.has_witness()]
        legacy = [e.tx for e in self.mempool.entries() if not e.tx.has_witness()]
        self.assertTrue(segwit and legacy)
        for tx in segwit:
            self.assertNotEqual(tx.txid, tx.wtxid)
            self.assertTrue(
                all(txin.script_sig == b"" and len(txin.witness) == 2 for txin in tx.inputs)
            )
        for tx in legacy:
            self.assertTrue(
                all(
                    script_to_asm(i.script_sig, True).split()[0].endswith("[ALL]")
                    for i in tx.inputs
                )
            )

    def test_valid_and_final(self) -> None:
        """Each transaction passes CheckTransaction and is final in the next block."""
        for entry in self.mempool.entries():
            check_transaction(entry.tx)
            self.assertTrue(is_final_tx(entry.tx, 11, 0))
            self.assertLessEqual(entry.tx.lock_time, 10)

    def test_fees_and_sigops(self) -> None:
        """Fees are 1..50 sat/vB; sigop cost is 4 per P2PKH output plus 1 per P2WPKH input."""
        for entry in self.mempool.entries():
            self.assertTrue(entry.tx.vsize <= entry.fee <= 50 * entry.tx.vsize)
            p2pkh_outputs = sum(
                1 for o in entry.tx.outputs if output_type(o.script_pubkey) == "pubkeyhash"
            )
            witness_inputs = len(entry.tx.inputs) if entry.tx.has_witness() else 0
            self.assertEqual(entry.sigop_cost, 4 * p2pkh_outputs + witness_inputs)

    def test_selection_by_fee_rate(self) -> None:
        """select_for_block orders by fee per weight and honours the limits."""
        chosen = self.mempool.select_for_block()
        rates = [e.fee / e.tx.weight for e in chosen]
        self.assertEqual(rates, sorted(rates, reverse=True))
        self.assertEqual(len(chosen), 50)
        self.assertEqual(len(self.mempool.select_for_block(max_count=3)), 3)
        small = self.mempool.select_for_block(max_weight=2000)
        self.assertLessEqual(sum(e.tx.weight for e in small), 2000)

    def test_remove_and_counter(self) -> None:
        """Removing transactions shrinks the pool and bumps the update counter; unknown ids do not."""
        counter = self.mempool.transactions_updated
        first = self.mempool.entries()[0].tx.txid
        self.mempool.remove([first])
        self.assertIsNone(self.mempool.get(first))
        self.assertEqual(len(self.mempool), 49)
        self.assertEqual(self.mempool.transactions_updated, counter + 1)
        self.mempool.remove([b"\x00" * 32])
        self.assertEqual(self.mempool.transactions_updated, counter + 1)

    def test_capacity(self) -> None:
        """The pool stops growing at its maximum size."""
        small = SyntheticMempool(seed=1, max_txs=5)
        self.assertEqual(len(small.add_synthetic(8, tip_height=0)), 5)
        self.assertEqual(small.add_synthetic(8, tip_height=0), [])
        self.assertEqual(len(small), 5)
