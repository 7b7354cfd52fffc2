"""JSON shapes of blocks, headers and transactions as Core v27's RPC renders them.

Only JSON types appear in the results. Not rendered (the embedded chain has no
address encoder or real prevouts): ``scriptPubKey.desc``/``address`` and the
``prevout`` objects of ``getblock`` verbosity 3, which is rendered as 2.
"""

from __future__ import annotations

from typing import Any

from tbgpool.chain.chainstate import BlockRecord, ChainState
from tbgpool.chain.params import COIN
from tbgpool.chain.pow import bits_to_difficulty
from tbgpool.chain.primitives import Block, Transaction
from tbgpool.chain.script import output_type, script_to_asm
from tbgpool.chain.serialize import hash_to_display


def amount_to_btc(satoshis: int) -> float:
    """Satoshis as the BTC number Core prints (ValueFromAmount)."""
    return satoshis / COIN


def header_to_json(chain: ChainState, record: BlockRecord) -> dict[str, Any]:
    """getblockheader's verbose result (Core's blockheaderToJSON)."""
    header = record.header
    active = chain.is_active(record)
    result: dict[str, Any] = {
        "hash": record.display_hash,
        "confirmations": chain.tip.height - record.height + 1 if active else -1,
        "height": record.height,
        "version": header.version,
        "versionHex": f"{header.version & 0xFFFFFFFF:08x}",
        "merkleroot": hash_to_display(header.merkle_root),
        "time": header.time,
        "mediantime": record.median_time_past,
        "nonce": header.nonce,
        "bits": f"{header.bits:08x}",
        "difficulty": bits_to_difficulty(header.bits),
        "chainwork": f"{record.chainwork:064x}",
        "nTx": record.tx_count,
    }
    if record.parent is not None:
        result["previousblockhash"] = record.parent.display_hash
    following = chain.at_height(record.height + 1) if active else None
    if following is not None:
        result["nextblockhash"] = following.display_hash
    return result


def block_to_json(
    chain: ChainState, record: BlockRecord, block: Block, verbosity: int
) -> dict[str, Any]:
    """getblock's result for verbosity 1 (txids) or 2+ (decoded transactions)."""
    result = header_to_json(chain, record)
    result["strippedsize"] = block.stripped_size
    result["size"] = block.total_size
    result["weight"] = block.weight
    if verbosity == 1:
        result["tx"] = [hash_to_display(tx.txid) for tx in block.transactions]
    else:
        fees = record.fees or {}
        result["tx"] = [
            tx_to_json(tx, None if index == 0 else fees.get(tx.txid))
            for index, tx in enumerate(block.transactions)
        ]
    return result


def script_pubkey_to_json(script: bytes) -> dict[str, Any]:
    """The ``scriptPubKey`` object of an output (asm, hex, type)."""
    return {"asm": script_to_asm(script), "hex": script.hex(), "type": output_type(script)}


def tx_to_json(tx: Transaction, fee: int | None = None) -> dict[str, Any]:
    """A decoded transaction (Core's TxToUniv with hex, no block hash)."""
    vin: list[dict[str, Any]] = []
    for txin in tx.inputs:
        entry: dict[str, Any]
        if tx.is_coinbase():
            entry = {"coinbase": txin.script_sig.hex()}
        else:
            entry = {
                "txid": hash_to_display(txin.prevout.txid),
                "vout": txin.prevout.index,
                "scriptSig": {
                    "asm": script_to_asm(txin.script_sig, decode_sighash=True),
                    "hex": txin.script_sig.hex(),
                },
            }
        if txin.witness:
            entry["txinwitness"] = [item.hex() for item in txin.witness]
        entry["sequence"] = txin.sequence
        vin.append(entry)
    result: dict[str, Any] = {
        "txid": hash_to_display(tx.txid),
        "hash": hash_to_display(tx.wtxid),
        "version": tx.version & 0xFFFFFFFF,
        "size": tx.total_size,
        "vsize": tx.vsize,
        "weight": tx.weight,
        "locktime": tx.lock_time,
        "vin": vin,
        "vout": [
            {
                "value": amount_to_btc(txout.value),
                "n": n,
                "scriptPubKey": script_pubkey_to_json(txout.script_pubkey),
            }
            for n, txout in enumerate(tx.outputs)
        ],
    }
    if fee is not None:
        result["fee"] = amount_to_btc(fee)
    result["hex"] = tx.serialize().hex()
    return result
