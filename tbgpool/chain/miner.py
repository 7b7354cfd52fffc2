"""Blocks found by "another miner": assembled on the tip and ground with hashlib when cheap.

Grinding happens only when the target needs fewer than
:data:`MAX_EXPECTED_GRIND_HASHES` hashes on average (regtest difficulty takes
about two). At higher difficulty the block is accepted without proof of work:
network blocks are a development convenience, and grinding a real difficulty
in Python would stall the reactor.
"""

from __future__ import annotations

import hashlib
import struct

from tbgpool.chain.blockcheck import WITNESS_NONCE
from tbgpool.chain.chainstate import ChainState
from tbgpool.chain.gbt import TEMPLATE_VERSION, witness_commitment_script
from tbgpool.chain.mempool import MempoolEntry
from tbgpool.chain.params import SEQUENCE_FINAL, block_subsidy
from tbgpool.chain.pow import expected_hashes
from tbgpool.chain.primitives import (
    NULL_HASH,
    NULL_INDEX,
    Block,
    BlockHeader,
    OutPoint,
    Transaction,
    TxIn,
    TxOut,
    block_merkle_root,
)
from tbgpool.chain.script import OP_TRUE, bip34_height_script, push_data

#: Network blocks pay to a bare OP_TRUE: anyone can spend it, nobody needs a key.
NETWORK_PAYOUT_SCRIPT = bytes([OP_TRUE])
NETWORK_COINBASE_TAG = b"/tbgpool-embedded/"
MAX_EXPECTED_GRIND_HASHES = 200_000
#: Give up grinding after this many times the expected number of hashes.
_GRIND_PATIENCE = 64


def assemble_block(
    chain: ChainState, entries: list[MempoolEntry], time: int, extranonce: int
) -> Block:
    """A complete, valid block on the tip (nonce 0) paying subsidy and fees to OP_TRUE."""
    tip = chain.tip
    height = tip.height + 1
    txs = [entry.tx for entry in entries]
    value = block_subsidy(height, chain.params.subsidy_halving_interval) + sum(
        e.fee for e in entries
    )
    script_sig = (
        bip34_height_script(height)
        + push_data(struct.pack("<Q", extranonce))
        + push_data(NETWORK_COINBASE_TAG)
    )
    coinbase = Transaction(
        version=2,
        inputs=(
            TxIn(OutPoint(NULL_HASH, NULL_INDEX), script_sig, SEQUENCE_FINAL, (WITNESS_NONCE,)),
        ),
        outputs=(
            TxOut(value, NETWORK_PAYOUT_SCRIPT),
            TxOut(0, witness_commitment_script([tx.wtxid for tx in txs])),
        ),
        lock_time=0,
    )
    transactions = (coinbase, *txs)
    root, _ = block_merkle_root(transactions)
    header = BlockHeader(TEMPLATE_VERSION, tip.hash, root, time, chain.bits, 0)
    return Block(header, transactions)


def grind(header: BlockHeader, target: int, max_tries: int) -> BlockHeader | None:
    """The header with the first nonce (from 0) whose hash meets ``target``, or None."""
    prefix = hashlib.sha256(header.serialize()[:76])
    for nonce in range(min(max_tries, 1 << 32)):
        inner = prefix.copy()
        inner.update(struct.pack("<I", nonce))
        digest = hashlib.sha256(inner.digest()).digest()
        if int.from_bytes(digest, "little") <= target:
            return BlockHeader(
                header.version,
                header.prev_hash,
                header.merkle_root,
                header.time,
                header.bits,
                nonce,
            )
    return None


def grind_budget(target: int) -> int | None:
    """How many hashes to try for ``target``, or None when grinding is too expensive."""
    expected = expected_hashes(target)
    if expected > MAX_EXPECTED_GRIND_HASHES:
        return None
    return int(expected * _GRIND_PATIENCE) + 1000
