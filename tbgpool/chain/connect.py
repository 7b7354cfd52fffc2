"""Connecting a block to the tip: the input-dependent checks of Core's ConnectBlock.

The embedded chain has no real UTXO set. A non-coinbase transaction is
spendable when it is in the synthetic mempool (which knows its fee and sigop
cost) and not already spent earlier in the same block; anything else fails
with Core's ``bad-txns-inputs-missingorspent``. A transaction with a mempool
txid but a different witness stands for a script failure, reported as Core
v27 does with parallel script checking (``block-validation-failed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tbgpool.chain.blockcheck import BlockInvalid
from tbgpool.chain.mempool import MempoolEntry
from tbgpool.chain.params import MAX_BLOCK_SIGOPS_COST, block_subsidy
from tbgpool.chain.primitives import WITNESS_SCALE_FACTOR, Block
from tbgpool.chain.script import legacy_sigop_count
from tbgpool.chain.serialize import hash_to_display


class CoinView(Protocol):
    """What connecting a block needs to know about spendable coins."""

    def mempool_entry(self, txid: bytes) -> MempoolEntry | None:
        """The spendable (mempool) transaction with this txid, or None."""

    def has_unspent_outputs(self, txid: bytes) -> bool:
        """True when a confirmed transaction with this txid still has unspent outputs (BIP30)."""


@dataclass(frozen=True)
class ConnectResult:
    """Fees of a block that connected: per transaction (txid) and in total, in satoshis."""

    fees: dict[bytes, int]
    total_fees: int


def connect_block(
    block: Block, height: int, view: CoinView, halving_interval: int
) -> ConnectResult:
    """Check a block that extends the tip as ConnectBlock would; BlockInvalid on failure."""
    for tx in block.transactions:
        if view.has_unspent_outputs(tx.txid):
            raise BlockInvalid("bad-txns-BIP30", "tried to overwrite transaction")
    spent: set[bytes] = set()
    fees: dict[bytes, int] = {}
    sigop_cost = 0
    script_failure = False
    coinbase = block.transactions[0]
    for tx in block.transactions:
        if tx is coinbase:
            legacy = sum(legacy_sigop_count(o.script_pubkey) for o in tx.outputs)
            legacy += legacy_sigop_count(tx.inputs[0].script_sig)
            sigop_cost += legacy * WITNESS_SCALE_FACTOR
        else:
            entry = view.mempool_entry(tx.txid)
            if entry is None or tx.txid in spent:
                raise BlockInvalid(
                    "bad-txns-inputs-missingorspent",
                    f"CheckTxInputs: inputs missing/spent in transaction {hash_to_display(tx.txid)}",
                )
            spent.add(tx.txid)
            fees[tx.txid] = entry.fee
            sigop_cost += entry.sigop_cost
            script_failure = script_failure or tx.wtxid != entry.tx.wtxid
        if sigop_cost > MAX_BLOCK_SIGOPS_COST:
            raise BlockInvalid("bad-blk-sigops", "too many sigops")
    total_fees = sum(fees.values())
    reward = total_fees + block_subsidy(height, halving_interval)
    if coinbase.value_out() > reward:
        raise BlockInvalid(
            "bad-cb-amount",
            f"coinbase pays too much (actual={coinbase.value_out()} vs limit={reward})",
        )
    if script_failure:
        raise BlockInvalid("block-validation-failed", "parallel script check failed")
    return ConnectResult(fees, total_fees)
