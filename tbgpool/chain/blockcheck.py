"""Context-free and contextual block checks, in Bitcoin Core's order with Core's reject reasons.

Each check raises :class:`BlockInvalid` carrying Core's reject reason string
(what ``submitblock`` returns) and whether Core would classify the failure as
``BLOCK_MUTATED`` (the data may be corrupted in transit, so the block hash is
not marked invalid). Mirrors ``CheckBlock``, ``CheckTransaction``,
``ContextualCheckBlockHeader`` and ``ContextualCheckBlock`` in
``src/validation.cpp`` / ``src/consensus/tx_check.cpp`` (v26/v27), with
regtest's deployments (BIP34/65/66, CSV and segwit active from height 1).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tbgpool.chain.params import (
    LOCKTIME_THRESHOLD,
    MAX_BLOCK_SIGOPS_COST,
    MAX_BLOCK_WEIGHT,
    MAX_FUTURE_BLOCK_TIME_S,
    MAX_MONEY,
    SEQUENCE_FINAL,
)
from tbgpool.chain.pow import check_proof_of_work
from tbgpool.chain.primitives import (
    WITNESS_SCALE_FACTOR,
    Block,
    BlockHeader,
    Transaction,
    block_merkle_root,
    witness_merkle_root,
)
from tbgpool.chain.script import bip34_height_script, legacy_sigop_count, witness_commitment_index
from tbgpool.chain.serialize import sha256d

#: The coinbase witness nonce Core fills in when a block commits but carries none.
WITNESS_NONCE = b"\x00" * 32


class BlockInvalid(Exception):
    """A block failed a consensus check; ``reason`` is Core's reject reason string."""

    def __init__(self, reason: str, debug: str = "", mutated: bool = False) -> None:
        super().__init__(f"{reason}: {debug}" if debug else reason)
        self.reason = reason
        self.debug = debug
        self.mutated = mutated


@dataclass(frozen=True, slots=True)
class PrevBlockContext:
    """What the contextual checks need to know about the parent block."""

    height: int
    median_time_past: int


def check_transaction(tx: Transaction) -> None:
    """Core's CheckTransaction: context-free transaction sanity."""
    if not tx.inputs:
        raise BlockInvalid("bad-txns-vin-empty")
    if not tx.outputs:
        raise BlockInvalid("bad-txns-vout-empty")
    if tx.stripped_size * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT:
        raise BlockInvalid("bad-txns-oversize")
    value_out = 0
    for txout in tx.outputs:
        if txout.value < 0:
            raise BlockInvalid("bad-txns-vout-negative")
        if txout.value > MAX_MONEY:
            raise BlockInvalid("bad-txns-vout-toolarge")
        value_out += txout.value
        if not 0 <= value_out <= MAX_MONEY:
            raise BlockInvalid("bad-txns-txouttotal-toolarge")
    prevouts = [txin.prevout for txin in tx.inputs]
    if len(set(prevouts)) != len(prevouts):
        raise BlockInvalid("bad-txns-inputs-duplicate")
    if tx.is_coinbase():
        if not 2 <= len(tx.inputs[0].script_sig) <= 100:
            raise BlockInvalid("bad-cb-length")
    elif any(prevout.is_null() for prevout in prevouts):
        raise BlockInvalid("bad-txns-prevout-null")


def legacy_block_sigops(block: Block) -> int:
    """Sum of Core's GetLegacySigOpCount over every transaction."""
    return sum(
        sum(legacy_sigop_count(txin.script_sig) for txin in tx.inputs)
        + sum(legacy_sigop_count(txout.script_pubkey) for txout in tx.outputs)
        for tx in block.transactions
    )


def check_block(
    block: Block, pow_limit: int, check_pow: bool = True, check_merkle: bool = True
) -> None:
    """Core's CheckBlock: proof of work, merkle root, sizes, coinbase placement, each transaction."""
    if check_pow and not check_proof_of_work(block.hash, block.header.bits, pow_limit):
        raise BlockInvalid("high-hash", "proof of work failed")
    if check_merkle:
        root, mutated = block_merkle_root(block.transactions)
        if block.header.merkle_root != root:
            raise BlockInvalid("bad-txnmrklroot", "hashMerkleRoot mismatch", mutated=True)
        if mutated:
            raise BlockInvalid("bad-txns-duplicate", "duplicate transaction", mutated=True)
    txs = block.transactions
    if (
        not txs
        or len(txs) * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT
        or block.stripped_size * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT
    ):
        raise BlockInvalid("bad-blk-length", "size limits failed")
    if not txs[0].is_coinbase():
        raise BlockInvalid("bad-cb-missing", "first tx is not coinbase")
    if any(tx.is_coinbase() for tx in txs[1:]):
        raise BlockInvalid("bad-cb-multiple", "more than one coinbase")
    for tx in txs:
        check_transaction(tx)
    if legacy_block_sigops(block) * WITNESS_SCALE_FACTOR > MAX_BLOCK_SIGOPS_COST:
        raise BlockInvalid("bad-blk-sigops", "out-of-bounds SigOpCount")


def contextual_check_block_header(
    header: BlockHeader, prev: PrevBlockContext, expected_bits: int, now: int
) -> None:
    """Core's ContextualCheckBlockHeader: bits, timestamps, minimum version."""
    if header.bits != expected_bits:
        raise BlockInvalid("bad-diffbits", "incorrect proof of work")
    if header.time <= prev.median_time_past:
        raise BlockInvalid("time-too-old", "block's timestamp is too early")
    if header.time > now + MAX_FUTURE_BLOCK_TIME_S:
        raise BlockInvalid("time-too-new", "block timestamp too far in the future")
    # BIP34, BIP66 and BIP65 are active from height 1, so anything below version 4 is out.
    if header.version < 4:
        version_hex = f"{header.version & 0xFFFFFFFF:08x}"
        raise BlockInvalid(
            f"bad-version(0x{version_hex})", f"rejected nVersion=0x{version_hex} block"
        )


def is_final_tx(tx: Transaction, block_height: int, block_time: int) -> bool:
    """Core's IsFinalTx: lock time reached, or every input's sequence final."""
    if tx.lock_time == 0:
        return True
    cutoff = block_height if tx.lock_time < LOCKTIME_THRESHOLD else block_time
    if tx.lock_time < cutoff:
        return True
    return all(txin.sequence == SEQUENCE_FINAL for txin in tx.inputs)


def contextual_check_block(block: Block, prev: PrevBlockContext) -> None:
    """Core's ContextualCheckBlock: finality (BIP113), BIP34 height, BIP141 witness, weight."""
    height = prev.height + 1
    for tx in block.transactions:
        if not is_final_tx(tx, height, prev.median_time_past):
            raise BlockInvalid("bad-txns-nonfinal", "non-final transaction")
    expected = bip34_height_script(height)
    if not block.transactions[0].inputs[0].script_sig.startswith(expected):
        raise BlockInvalid("bad-cb-height", "block height mismatch in coinbase")
    check_witness_malleation(block)
    if block.weight > MAX_BLOCK_WEIGHT:
        raise BlockInvalid("bad-blk-weight", "ContextualCheckBlock : weight limit failed")


def check_witness_malleation(block: Block) -> None:
    """BIP141 commitment rules (Core's CheckWitnessMalleation with segwit active)."""
    coinbase = block.transactions[0]
    position = witness_commitment_index([txout.script_pubkey for txout in coinbase.outputs])
    if position is not None:
        stack = coinbase.inputs[0].witness
        if len(stack) != 1 or len(stack[0]) != 32:
            raise BlockInvalid(
                "bad-witness-nonce-size",
                "CheckWitnessMalleation : invalid witness reserved value size",
                mutated=True,
            )
        commitment = sha256d(witness_merkle_root(block.transactions) + stack[0])
        if coinbase.outputs[position].script_pubkey[6:38] != commitment:
            raise BlockInvalid(
                "bad-witness-merkle-match",
                "CheckWitnessMalleation : witness merkle commitment mismatch",
                mutated=True,
            )
        return
    if any(tx.has_witness() for tx in block.transactions):
        raise BlockInvalid(
            "unexpected-witness",
            "CheckWitnessMalleation : unexpected witness data found",
            mutated=True,
        )


def update_uncommitted_block_structures(block: Block) -> Block:
    """Core's UpdateUncommittedBlockStructures: give a committing coinbase the zero witness nonce.

    The block hash is unchanged (witness data is not part of the txid).
    """
    coinbase = block.transactions[0]
    outputs = [txout.script_pubkey for txout in coinbase.outputs]
    if witness_commitment_index(outputs) is None or coinbase.has_witness():
        return block
    fixed = coinbase.with_coinbase_witness((WITNESS_NONCE,))
    return dataclasses.replace(block, transactions=(fixed, *block.transactions[1:]))
