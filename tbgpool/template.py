"""The block template message that crosses from the node side to the Stratum side.

A :class:`BlockTemplate` is plain data: it is built from ``getblocktemplate``
output and can be turned into a JSON-ready dict and back, so the template
source and the Stratum servers can later live in different processes or hosts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tbgpool.errors import RPCUnavailable

#: Networks as ``getblockchaininfo`` names them.
NETWORKS = frozenset({"main", "test", "testnet4", "signet", "regtest"})


@dataclass(frozen=True, slots=True)
class TemplateTransaction:
    """One transaction of a template, as the node gave it."""

    data: bytes  #: full serialization, with witness when it has one
    txid: bytes  #: internal byte order (the order that is hashed)
    wtxid: bytes  #: internal byte order
    fee: int  #: satoshis


@dataclass(frozen=True, slots=True)
class BlockTemplate:
    """Everything the Stratum side needs to build jobs for one template."""

    network: str
    height: int
    previous_block_hash: str  #: RPC (display) hex, big-endian
    version: int
    bits: int
    target: int
    curtime: int
    mintime: int
    coinbase_value: int
    transactions: tuple[TemplateTransaction, ...]
    witness_commitment: bytes | None  #: the commitment output's scriptPubKey
    clean: bool = False  #: the source asks for clean jobs (first work after a (re)connect)

    @classmethod
    def from_gbt(cls, result: dict[str, Any], network: str, clean: bool = False) -> BlockTemplate:
        """Build a template from a ``getblocktemplate`` result; RPCUnavailable if malformed."""
        try:
            txs = tuple(
                TemplateTransaction(
                    data=bytes.fromhex(tx["data"]),
                    txid=bytes.fromhex(tx["txid"])[::-1],
                    wtxid=bytes.fromhex(tx.get("hash", tx["txid"]))[::-1],
                    fee=int(tx.get("fee", 0)),
                )
                for tx in result.get("transactions", [])
            )
            commitment = result.get("default_witness_commitment")
            template = cls(
                network=network,
                height=int(result["height"]),
                previous_block_hash=str(result["previousblockhash"]),
                version=int(result["version"]),
                bits=int(result["bits"], 16),
                target=int(result["target"], 16),
                curtime=int(result["curtime"]),
                mintime=int(result.get("mintime", result["curtime"])),
                coinbase_value=int(result["coinbasevalue"]),
                transactions=txs,
                witness_commitment=bytes.fromhex(commitment) if commitment else None,
                clean=clean,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RPCUnavailable(f"malformed getblocktemplate result: {e!r}") from e
        if len(bytes.fromhex(template.previous_block_hash)) != 32:
            raise RPCUnavailable("malformed getblocktemplate result: previousblockhash")
        return template

    def to_message(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_message` turns back into this template."""
        return {
            "network": self.network,
            "height": self.height,
            "previous_block_hash": self.previous_block_hash,
            "version": self.version,
            "bits": self.bits,
            "target": f"{self.target:064x}",
            "curtime": self.curtime,
            "mintime": self.mintime,
            "coinbase_value": self.coinbase_value,
            "transactions": [
                {
                    "data": tx.data.hex(),
                    "txid": tx.txid.hex(),
                    "wtxid": tx.wtxid.hex(),
                    "fee": tx.fee,
                }
                for tx in self.transactions
            ],
            "witness_commitment": (
                self.witness_commitment.hex() if self.witness_commitment is not None else None
            ),
            "clean": self.clean,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> BlockTemplate:
        """Rebuild a template from :meth:`to_message` output."""
        commitment = message["witness_commitment"]
        return cls(
            network=message["network"],
            height=message["height"],
            previous_block_hash=message["previous_block_hash"],
            version=message["version"],
            bits=message["bits"],
            target=int(message["target"], 16),
            curtime=message["curtime"],
            mintime=message["mintime"],
            coinbase_value=message["coinbase_value"],
            transactions=tuple(
                TemplateTransaction(
                    data=bytes.fromhex(tx["data"]),
                    txid=bytes.fromhex(tx["txid"]),
                    wtxid=bytes.fromhex(tx["wtxid"]),
                    fee=tx["fee"],
                )
                for tx in message["transactions"]
            ),
            witness_commitment=bytes.fromhex(commitment) if commitment is not None else None,
            clean=message["clean"],
        )
