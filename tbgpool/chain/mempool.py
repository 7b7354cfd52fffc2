"""A synthetic mempool: deterministic, valid-looking transactions with fees.

The transactions spend made-up outpoints (the embedded chain has no UTXO set
for them); the mempool itself is the authority on which of them are spendable
and what fee each pays. Half of them are legacy P2PKH spends, half P2WPKH
spends with a witness (so their wtxid differs from their txid). All of them
serialize exactly as Core would and carry DER-shaped signatures.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tbgpool.chain.params import COINBASE_RESERVED_WEIGHT, MAX_BLOCK_SIGOPS_COST, MAX_BLOCK_WEIGHT
from tbgpool.chain.primitives import WITNESS_SCALE_FACTOR, OutPoint, Transaction, TxIn, TxOut
from tbgpool.chain.script import legacy_sigop_count, push_data

#: nSequence of wallet transactions that signal BIP125 replaceability.
SEQUENCE_RBF = 0xFFFFFFFD
#: The mempool stops growing at this many transactions.
DEFAULT_MAX_MEMPOOL_TXS = 1000


@dataclass(frozen=True)
class MempoolEntry:
    """A transaction the embedded chain treats as spendable, with what it pays."""

    tx: Transaction
    fee: int  #: satoshis
    sigop_cost: int  #: as counted against the block's 80,000 limit

    @property
    def fee_per_weight(self) -> float:
        """Fee rate in satoshis per weight unit (the ordering used for templates)."""
        return self.fee / self.tx.weight


def transaction_sigop_cost(tx: Transaction, spent_script_types: list[str]) -> int:
    """Sigop cost as Core's GetTransactionSigOpCost counts it for P2PKH/P2WPKH spends."""
    legacy = sum(legacy_sigop_count(txin.script_sig) for txin in tx.inputs)
    legacy += sum(legacy_sigop_count(txout.script_pubkey) for txout in tx.outputs)
    witness = sum(1 for kind in spent_script_types if kind == "witness_v0_keyhash")
    return legacy * WITNESS_SCALE_FACTOR + witness


class SyntheticMempool:
    """Deterministic (seeded) synthetic transactions, consumed by blocks and refilled."""

    def __init__(self, seed: int = 0, max_txs: int = DEFAULT_MAX_MEMPOOL_TXS) -> None:
        self._rng = random.Random(seed)
        self._max_txs = max_txs
        self._entries: dict[bytes, MempoolEntry] = {}
        #: Bumped on every change; getblocktemplate's longpollid carries it (as Core's does).
        self.transactions_updated = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, txid: bytes) -> MempoolEntry | None:
        """The entry for ``txid`` (internal order), or None."""
        return self._entries.get(txid)

    def entries(self) -> list[MempoolEntry]:
        """All entries, oldest first."""
        return list(self._entries.values())

    def add_synthetic(self, count: int, tip_height: int) -> list[MempoolEntry]:
        """Create up to ``count`` new transactions (fewer when the mempool is full)."""
        added = []
        for _ in range(max(0, min(count, self._max_txs - len(self._entries)))):
            entry = self._make_entry(tip_height)
            self._entries[entry.tx.txid] = entry
            added.append(entry)
        if added:
            self.transactions_updated += 1
        return added

    def remove(self, txids: list[bytes]) -> None:
        """Drop the given transactions (they were confirmed)."""
        removed = [txid for txid in txids if self._entries.pop(txid, None) is not None]
        if removed:
            self.transactions_updated += 1

    def select_for_block(
        self,
        max_weight: int = MAX_BLOCK_WEIGHT - COINBASE_RESERVED_WEIGHT,
        max_sigop_cost: int = MAX_BLOCK_SIGOPS_COST - 400,
        max_count: int | None = None,
    ) -> list[MempoolEntry]:
        """Best-paying transactions (by fee per weight) that fit the limits."""
        chosen: list[MempoolEntry] = []
        weight = sigops = 0
        ranked = sorted(self._entries.values(), key=lambda e: (-e.fee_per_weight, e.tx.txid))
        for entry in ranked:
            if max_count is not None and len(chosen) >= max_count:
                break
            if weight + entry.tx.weight > max_weight or sigops + entry.sigop_cost > max_sigop_cost:
                continue
            chosen.append(entry)
            weight += entry.tx.weight
            sigops += entry.sigop_cost
        return chosen

    def _make_entry(self, tip_height: int) -> MempoolEntry:
        rng = self._rng
        segwit = rng.random() < 0.5
        spent_type = "witness_v0_keyhash" if segwit else "pubkeyhash"
        inputs = []
        for _ in range(rng.choice((1, 1, 2))):
            prevout = OutPoint(rng.randbytes(32), rng.randrange(4))
            signature, pubkey = self._signature(), bytes([rng.choice((2, 3))]) + rng.randbytes(32)
            if segwit:
                inputs.append(TxIn(prevout, b"", SEQUENCE_RBF, (signature, pubkey)))
            else:
                inputs.append(TxIn(prevout, push_data(signature) + push_data(pubkey), SEQUENCE_RBF))
        outputs = tuple(
            TxOut(rng.randrange(10_000, 50_000_000), self._output_script())
            for _ in range(rng.choice((1, 2, 2)))
        )
        # Like Core's wallet: nLockTime at the current tip against fee sniping, most of the time.
        lock_time = tip_height if rng.random() < 0.75 else 0
        tx = Transaction(2, tuple(inputs), outputs, lock_time)
        fee = tx.vsize * rng.randint(1, 50)
        sigop_cost = transaction_sigop_cost(tx, [spent_type] * len(inputs))
        return MempoolEntry(tx, fee, sigop_cost)

    def _signature(self) -> bytes:
        """A DER-encoded (r, s) with SIGHASH_ALL; r and s are random 32-byte positive integers."""
        rng = self._rng
        r = bytes([rng.randint(1, 0x7F)]) + rng.randbytes(31)
        s = bytes([rng.randint(1, 0x7F)]) + rng.randbytes(31)
        return b"\x30\x44\x02\x20" + r + b"\x02\x20" + s + b"\x01"

    def _output_script(self) -> bytes:
        """A random P2WPKH or P2PKH output script."""
        rng = self._rng
        if rng.random() < 0.5:
            return b"\x00\x14" + rng.randbytes(20)
        return b"\x76\xa9\x14" + rng.randbytes(20) + b"\x88\xac"
