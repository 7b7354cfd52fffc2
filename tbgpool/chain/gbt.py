"""getblocktemplate's result, shaped as Bitcoin Core v27 returns it on regtest.

The template is rebuilt on every call from the tip and the synthetic mempool.
Versionbits are reported as on a fresh regtest chain: nothing signalling
(``vbavailable`` empty, version 0x20000000), "csv", "!segwit" and "taproot"
active.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tbgpool.chain.chainstate import ChainState
from tbgpool.chain.params import (
    COINBASE_RESERVED_WEIGHT,
    MAX_BLOCK_SERIALIZED_SIZE,
    MAX_BLOCK_SIGOPS_COST,
    MAX_BLOCK_WEIGHT,
    block_subsidy,
)
from tbgpool.chain.pow import bits_to_target
from tbgpool.chain.primitives import NULL_HASH, merkle_root
from tbgpool.chain.rpcargs import RPC_INVALID_PARAMETER
from tbgpool.chain.script import WITNESS_COMMITMENT_HEADER
from tbgpool.chain.serialize import hash_to_display, sha256d
from tbgpool.errors import RPCError

#: BIP9 top bits, no deployment signalling.
TEMPLATE_VERSION = 0x20000000

SEGWIT_RULE_MESSAGE = (
    'getblocktemplate must be called with the segwit rule set (call with {"rules": ["segwit"]})'
)


@dataclass(frozen=True)
class AssembledTemplate:
    """A getblocktemplate result plus what getmininginfo reports about the last assembly."""

    result: dict[str, Any]
    block_weight: int  #: including the weight reserved for the coinbase
    tx_count: int  #: excluding the coinbase


def witness_commitment_script(wtxids: list[bytes], witness_nonce: bytes = NULL_HASH) -> bytes:
    """The BIP141 commitment output script for non-coinbase ``wtxids`` (internal order)."""
    root, _ = merkle_root([NULL_HASH, *wtxids])
    return WITNESS_COMMITMENT_HEADER + sha256d(root + witness_nonce)


def build_template(chain: ChainState, client_rules: set[str], now: int) -> AssembledTemplate:
    """Assemble a template on the current tip; RPCError(-8) without the segwit rule."""
    if "segwit" not in client_rules:
        raise RPCError(RPC_INVALID_PARAMETER, SEGWIT_RULE_MESSAGE)
    tip = chain.tip
    height = tip.height + 1
    entries = chain.mempool.select_for_block()
    transactions = [
        {
            "data": entry.tx.serialize().hex(),
            "txid": hash_to_display(entry.tx.txid),
            "hash": hash_to_display(entry.tx.wtxid),
            "depends": [],
            "fee": entry.fee,
            "sigops": entry.sigop_cost,
            "weight": entry.tx.weight,
        }
        for entry in entries
    ]
    mintime = tip.median_time_past + 1
    commitment = witness_commitment_script([entry.tx.wtxid for entry in entries])
    result: dict[str, Any] = {
        "capabilities": ["proposal"],
        "version": TEMPLATE_VERSION,
        "rules": ["csv", "!segwit", "taproot"],
        "vbavailable": {},
        "vbrequired": 0,
        "previousblockhash": tip.display_hash,
        "transactions": transactions,
        "coinbaseaux": {},
        "coinbasevalue": block_subsidy(height, chain.params.subsidy_halving_interval)
        + sum(entry.fee for entry in entries),
        "longpollid": tip.display_hash + str(chain.mempool.transactions_updated),
        "target": f"{bits_to_target(chain.bits):064x}",
        "mintime": mintime,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": MAX_BLOCK_SIGOPS_COST,
        "sizelimit": MAX_BLOCK_SERIALIZED_SIZE,
        "weightlimit": MAX_BLOCK_WEIGHT,
        "curtime": max(now, mintime),
        "bits": f"{chain.bits:08x}",
        "height": height,
        "default_witness_commitment": commitment.hex(),
    }
    weight = COINBASE_RESERVED_WEIGHT + sum(entry.tx.weight for entry in entries)
    return AssembledTemplate(result, weight, len(entries))
