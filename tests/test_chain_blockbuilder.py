"""An independent block builder for the embedded chain's tests, and its own checks.

Blocks are built here from a getblocktemplate result with hashlib and struct
only (no code from tbgpool.chain), so that the embedded chain's decoding and
validation are checked against a second implementation; python-bitcoinlib is
a third that must agree with this one.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any

from bitcoin.core import CBlock, CTransaction, b2lx
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tbgpool.chain.embedded import EmbeddedChain
from tbgpool.errors import RPCError

#: Tests run at a realistic time: Core refuses block times more than 2 h ahead of "now".
NOW = 1_700_000_000
#: A P2WPKH payout (the key hash is arbitrary).
PAYOUT_SCRIPT = bytes.fromhex("0014") + bytes(range(20))
ZERO32 = b"\x00" * 32
REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


def dsha(data: bytes) -> bytes:
    """Double SHA-256."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def varint(n: int) -> bytes:
    """CompactSize."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def push(data: bytes) -> bytes:
    """A script data push (direct or OP_PUSHDATA1/2)."""
    if len(data) < 0x4C:
        return bytes([len(data)]) + data
    if len(data) <= 0xFF:
        return b"\x4c" + bytes([len(data)]) + data
    return b"\x4d" + struct.pack("<H", len(data)) + data


def height_prefix(height: int) -> bytes:
    """BIP34's ``CScript() << height``: OP_0, OP_1..OP_16, or a minimal number push."""
    if height == 0:
        return b"\x00"
    if 1 <= height <= 16:
        return bytes([0x50 + height])
    encoded = height.to_bytes((height.bit_length() + 8) // 8, "little")
    if len(encoded) > 1 and encoded[-1] == 0 and not encoded[-2] & 0x80:
        encoded = encoded[:-1]
    return push(encoded)


#: A transaction input as make_tx takes it: (prev txid, index, scriptSig, sequence, witness).
TxInput = tuple[bytes, int, bytes, int, list[bytes]]


@dataclass
class RawTx:
    """A serialized transaction with both of its hashes (internal byte order)."""

    data: bytes
    txid: bytes
    wtxid: bytes

    @classmethod
    def from_gbt(cls, entry: dict[str, Any]) -> RawTx:
        """A getblocktemplate transaction entry."""
        return cls(
            bytes.fromhex(entry["data"]),
            bytes.fromhex(entry["txid"])[::-1],
            bytes.fromhex(entry["hash"])[::-1],
        )


def make_tx(
    inputs: list[TxInput],
    outputs: list[tuple[int, bytes]],
    version: int = 2,
    lock_time: int = 0,
) -> RawTx:
    """Serialize a transaction; inputs are (prev txid, index, scriptSig, sequence, witness)."""
    body = varint(len(inputs))
    for prev, index, script_sig, sequence, _ in inputs:
        body += prev + struct.pack("<I", index) + varint(len(script_sig)) + script_sig
        body += struct.pack("<I", sequence)
    body += varint(len(outputs))
    for value, script in outputs:
        body += struct.pack("<q", value) + varint(len(script)) + script
    head, tail = struct.pack("<i", version), struct.pack("<I", lock_time)
    stripped = head + body + tail
    if not any(witness for *_, witness in inputs):
        return RawTx(stripped, dsha(stripped), dsha(stripped))
    witnesses = b"".join(
        varint(len(witness)) + b"".join(varint(len(item)) + item for item in witness)
        for *_, witness in inputs
    )
    full = head + b"\x00\x01" + body + witnesses + tail
    return RawTx(full, dsha(stripped), dsha(full))


def merkle(hashes: list[bytes]) -> bytes:
    """Merkle root of internal-order hashes (duplicating the last of an odd level)."""
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def commitment_script(wtxids: list[bytes], nonce: bytes = ZERO32) -> bytes:
    """The BIP141 commitment output for these non-coinbase wtxids."""
    return bytes.fromhex("6a24aa21a9ed") + dsha(merkle([ZERO32, *wtxids]) + nonce)


@dataclass
class BlockSpec:
    """Everything a test may want to corrupt in a block built from a template."""

    gbt: dict[str, Any]
    txs: list[RawTx] = field(default_factory=list)
    height: int | None = None  #: BIP34 height in the coinbase (default: the template's)
    script_sig: bytes | None = None  #: whole coinbase scriptSig (overrides height)
    coinbase_value: int | None = None
    payout_script: bytes = PAYOUT_SCRIPT
    commitment: bytes | None | str = "auto"  #: "auto": computed from txs; None: no output
    coinbase_witness: list[bytes] = field(default_factory=lambda: [ZERO32])
    coinbase_extra_outputs: list[tuple[int, bytes]] = field(default_factory=list)
    leading_txs: list[RawTx] | None = None  #: replaces the coinbase position (for odd blocks)
    version: int | None = None
    prev_hash: str | None = None
    time: int | None = None
    bits: int | None = None
    merkle_root: bytes | None = None
    meet_target: bool = True  #: grind until the hash meets the target; False: until it misses


def coinbase_for(spec: BlockSpec) -> RawTx:
    """The coinbase transaction a pool would build for ``spec``."""
    height = spec.gbt["height"] if spec.height is None else spec.height
    script_sig = spec.script_sig
    if script_sig is None:
        script_sig = height_prefix(height) + push(b"tbgpool-test") + struct.pack("<I", 7)
    value = spec.gbt["coinbasevalue"] if spec.coinbase_value is None else spec.coinbase_value
    outputs = [(value, spec.payout_script), *spec.coinbase_extra_outputs]
    if spec.commitment == "auto":
        outputs.append((0, commitment_script([tx.wtxid for tx in spec.txs])))
    elif isinstance(spec.commitment, bytes):
        outputs.append((0, spec.commitment))
    return make_tx(
        [(ZERO32, 0xFFFFFFFF, script_sig, 0xFFFFFFFF, spec.coinbase_witness)], outputs, version=1
    )


def build_block(spec: BlockSpec) -> bytes:
    """Serialize the block ``spec`` describes, with a nonce ground against its bits."""
    leading = [coinbase_for(spec)] if spec.leading_txs is None else spec.leading_txs
    txs = leading + spec.txs
    bits = int(spec.gbt["bits"], 16) if spec.bits is None else spec.bits
    exponent, mantissa = bits >> 24, bits & 0x7FFFFF
    target = mantissa << (8 * (exponent - 3))
    root = spec.merkle_root if spec.merkle_root is not None else merkle([tx.txid for tx in txs])
    prefix = struct.pack("<I", spec.gbt["version"] if spec.version is None else spec.version)
    prefix += bytes.fromhex(spec.prev_hash or spec.gbt["previousblockhash"])[::-1] + root
    prefix += struct.pack("<II", spec.gbt["curtime"] if spec.time is None else spec.time, bits)
    for nonce in range(1 << 32):
        header = prefix + struct.pack("<I", nonce)
        meets = int.from_bytes(dsha(header), "little") <= target
        if meets == spec.meet_target:
            break
    return header + varint(len(txs)) + b"".join(tx.data for tx in txs)


def block_hash(block: bytes) -> str:
    """RPC hex hash of a serialized block."""
    return dsha(block[:80])[::-1].hex()


def gbt_txs(gbt: dict[str, Any]) -> list[RawTx]:
    """The template's transactions, in order."""
    return [RawTx.from_gbt(entry) for entry in gbt["transactions"]]


def new_chain(**kwargs: Any) -> tuple[Clock, EmbeddedChain]:
    """A clock at :data:`NOW` and an embedded regtest chain on it."""
    clock = Clock()
    clock.advance(NOW)
    return clock, EmbeddedChain(clock, **kwargs)


def result_of(d: defer.Deferred[Any]) -> Any:
    """The result of an already-fired Deferred; raises its failure (e.g. RPCError)."""
    outcome: list[Any] = []
    d.addBoth(outcome.append)
    assert outcome, "the Deferred has not fired"
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    if hasattr(outcome[0], "raiseException"):
        outcome[0].raiseException()
    return outcome[0]


def rpc(chain: EmbeddedChain, method: str, *params: Any) -> Any:
    """Call ``method`` and return its (synchronous) result."""
    return result_of(chain.call(method, list(params)))


def template(chain: EmbeddedChain) -> dict[str, Any]:
    """getblocktemplate with the segwit rule."""
    return rpc(chain, "getblocktemplate", {"rules": ["segwit"]})  # type: ignore[no-any-return]


def submit(chain: EmbeddedChain, block: bytes) -> Any:
    """submitblock's answer for ``block``."""
    return rpc(chain, "submitblock", block.hex())


def rpc_error(chain: EmbeddedChain, method: str, *params: Any) -> RPCError:
    """The RPCError ``method`` fails with (the test fails if it succeeds)."""
    outcome: list[Any] = []
    chain.call(method, list(params)).addBoth(outcome.append)
    failure = outcome[0]
    if not hasattr(failure, "check") or not failure.check(RPCError):
        raise AssertionError(f"{method} did not fail with RPCError: {failure!r}")
    return failure.value  # type: ignore[no-any-return]


class BlockBuilderTests(SynchronousTestCase):
    """The test builder agrees with python-bitcoinlib, so it can be trusted as a reference."""

    def test_height_prefix_small_heights_are_opcodes(self) -> None:
        """Heights 1..16 are OP_1..OP_16; 17 and up are minimal number pushes."""
        self.assertEqual(height_prefix(1), b"\x51")
        self.assertEqual(height_prefix(16), b"\x60")
        self.assertEqual(height_prefix(17), b"\x01\x11")
        self.assertEqual(height_prefix(128), b"\x02\x80\x00")
        self.assertEqual(height_prefix(65535), b"\x03\xff\xff\x00")

    def test_segwit_tx_hashes_match_bitcoinlib(self) -> None:
        """A built segwit transaction deserializes in bitcoinlib with the same txid and wtxid."""
        tx = make_tx(
            [(b"\x11" * 32, 1, b"", 0xFFFFFFFD, [b"\x30" * 71, b"\x02" * 33])],
            [(1000, PAYOUT_SCRIPT)],
        )
        parsed = CTransaction.deserialize(tx.data)
        self.assertEqual(parsed.GetTxid()[::-1].hex(), tx.txid[::-1].hex())
        self.assertEqual(dsha(parsed.serialize())[::-1].hex(), tx.wtxid[::-1].hex())
        self.assertNotEqual(tx.txid, tx.wtxid)

    def test_block_from_template_matches_bitcoinlib(self) -> None:
        """A block built from a template parses in bitcoinlib with our merkle root and hash."""
        _, chain = new_chain()
        gbt = template(chain)
        block = build_block(BlockSpec(gbt, txs=gbt_txs(gbt)))
        parsed = CBlock.deserialize(block)
        self.assertEqual(b2lx(parsed.GetHash()), block_hash(block))
        self.assertEqual(parsed.hashMerkleRoot, parsed.calc_merkle_root())
        self.assertEqual(len(parsed.vtx), 1 + len(gbt["transactions"]))
