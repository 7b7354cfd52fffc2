"""Transactions and blocks: immutable values, Core's serialization and hashes.

Hashes are kept in internal byte order (the order that is hashed); RPC shows
them reversed (see :func:`tbgpool.chain.serialize.hash_to_display`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

from tbgpool.chain.serialize import (
    ByteReader,
    DecodeError,
    compact_size,
    i32,
    i64,
    sha256d,
    u32,
    var_bytes,
)

NULL_HASH = b"\x00" * 32
NULL_INDEX = 0xFFFFFFFF
HEADER_SIZE = 80
WITNESS_SCALE_FACTOR = 4

# Smallest possible serializations, used to refuse absurd vector lengths early.
_MIN_TXIN_SIZE = 32 + 4 + 1 + 4
_MIN_TXOUT_SIZE = 8 + 1
_MIN_TX_SIZE = 4 + 1 + 1 + 4


@dataclass(frozen=True, slots=True)
class OutPoint:
    """A reference to one output of an earlier transaction."""

    txid: bytes  #: internal byte order
    index: int

    def is_null(self) -> bool:
        """True for the coinbase's null prevout (zero hash, index 0xffffffff)."""
        return self.txid == NULL_HASH and self.index == NULL_INDEX


@dataclass(frozen=True, slots=True)
class TxIn:
    """A transaction input with its witness stack (empty when it has none)."""

    prevout: OutPoint
    script_sig: bytes
    sequence: int
    witness: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class TxOut:
    """A transaction output; ``value`` in satoshis (signed, as on the wire)."""

    value: int
    script_pubkey: bytes


@dataclass(frozen=True)
class Transaction:
    """A transaction; hashes and sizes are computed once, on first use."""

    version: int  #: signed 32-bit, as Core holds it in memory
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    lock_time: int

    def has_witness(self) -> bool:
        """True when any input carries witness data."""
        return any(txin.witness for txin in self.inputs)

    def is_coinbase(self) -> bool:
        """Core's IsCoinBase: exactly one input, spending the null prevout."""
        return len(self.inputs) == 1 and self.inputs[0].prevout.is_null()

    def serialize(self, with_witness: bool = True) -> bytes:
        """Wire bytes; the BIP144 witness form only when asked for and there is a witness."""
        return self._full_bytes if with_witness else self._stripped_bytes

    @cached_property
    def _full_bytes(self) -> bytes:
        return self._encode(with_witness=True)

    @cached_property
    def _stripped_bytes(self) -> bytes:
        return self._encode(with_witness=False)

    def _encode(self, with_witness: bool) -> bytes:
        parts = [i32(self.version)]
        witness = with_witness and self.has_witness()
        if witness:
            parts.append(b"\x00\x01")
        parts.append(compact_size(len(self.inputs)))
        for txin in self.inputs:
            parts += (
                txin.prevout.txid,
                u32(txin.prevout.index),
                var_bytes(txin.script_sig),
                u32(txin.sequence),
            )
        parts.append(compact_size(len(self.outputs)))
        for txout in self.outputs:
            parts += (i64(txout.value), var_bytes(txout.script_pubkey))
        if witness:
            for txin in self.inputs:
                parts.append(compact_size(len(txin.witness)))
                parts += (var_bytes(item) for item in txin.witness)
        parts.append(u32(self.lock_time))
        return b"".join(parts)

    @cached_property
    def txid(self) -> bytes:
        """Hash of the serialization without witness (internal order)."""
        return sha256d(self.serialize(with_witness=False))

    @cached_property
    def wtxid(self) -> bytes:
        """Hash of the serialization with witness (internal order); equals txid without one."""
        return sha256d(self.serialize(with_witness=True)) if self.has_witness() else self.txid

    @cached_property
    def total_size(self) -> int:
        """Serialized size in bytes, witness included."""
        return len(self.serialize(with_witness=True))

    @cached_property
    def stripped_size(self) -> int:
        """Serialized size in bytes, witness excluded."""
        return len(self.serialize(with_witness=False))

    @property
    def weight(self) -> int:
        """BIP141 weight: stripped size × 3 + total size."""
        return self.stripped_size * (WITNESS_SCALE_FACTOR - 1) + self.total_size

    @property
    def vsize(self) -> int:
        """Virtual size: weight / 4, rounded up."""
        return (self.weight + WITNESS_SCALE_FACTOR - 1) // WITNESS_SCALE_FACTOR

    def value_out(self) -> int:
        """Sum of the output values in satoshis."""
        return sum(txout.value for txout in self.outputs)

    def with_coinbase_witness(self, witness: tuple[bytes, ...]) -> Transaction:
        """A copy whose first input carries ``witness`` (txid unchanged)."""
        first = dataclasses.replace(self.inputs[0], witness=witness)
        return dataclasses.replace(self, inputs=(first, *self.inputs[1:]))


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """The 80-byte block header."""

    version: int  #: signed 32-bit
    prev_hash: bytes  #: internal order
    merkle_root: bytes  #: internal order
    time: int
    bits: int
    nonce: int

    def serialize(self) -> bytes:
        """The 80 header bytes that are hashed."""
        return b"".join(
            (
                i32(self.version),
                self.prev_hash,
                self.merkle_root,
                u32(self.time),
                u32(self.bits),
                u32(self.nonce),
            )
        )

    def hash(self) -> bytes:
        """Block hash (internal order)."""
        return sha256d(self.serialize())


@dataclass(frozen=True)
class Block:
    """A header and its transactions."""

    header: BlockHeader
    transactions: tuple[Transaction, ...]

    @cached_property
    def hash(self) -> bytes:
        """Block hash (internal order)."""
        return self.header.hash()

    def serialize(self, with_witness: bool = True) -> bytes:
        """Wire bytes of the whole block."""
        return b"".join(
            (
                self.header.serialize(),
                compact_size(len(self.transactions)),
                *(tx.serialize(with_witness) for tx in self.transactions),
            )
        )

    @property
    def total_size(self) -> int:
        """Serialized size with witness data."""
        return (
            HEADER_SIZE
            + len(compact_size(len(self.transactions)))
            + sum(tx.total_size for tx in self.transactions)
        )

    @property
    def stripped_size(self) -> int:
        """Serialized size without witness data."""
        return (
            HEADER_SIZE
            + len(compact_size(len(self.transactions)))
            + sum(tx.stripped_size for tx in self.transactions)
        )

    @property
    def weight(self) -> int:
        """BIP141 block weight."""
        return self.stripped_size * (WITNESS_SCALE_FACTOR - 1) + self.total_size


def merkle_root(hashes: list[bytes]) -> tuple[bytes, bool]:
    """Core's ComputeMerkleRoot: the root and whether the tree is CVE-2012-2459 mutated."""
    if not hashes:
        return NULL_HASH, False
    level = list(hashes)
    mutated = False
    while len(level) > 1:
        for pos in range(0, len(level) - 1, 2):
            if level[pos] == level[pos + 1]:
                mutated = True
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0], mutated


def block_merkle_root(
    transactions: tuple[Transaction, ...] | list[Transaction],
) -> tuple[bytes, bool]:
    """The txid merkle root of a block's transactions, with the mutation flag."""
    return merkle_root([tx.txid for tx in transactions])


def witness_merkle_root(transactions: tuple[Transaction, ...] | list[Transaction]) -> bytes:
    """The BIP141 wtxid merkle root, with the coinbase's wtxid taken as 32 zero bytes."""
    leaves = [NULL_HASH] + [tx.wtxid for tx in transactions[1:]]
    return merkle_root(leaves)[0]


def read_transaction(reader: ByteReader) -> Transaction:
    """Read one transaction the way Core's UnserializeTransaction does (witness allowed)."""
    version = reader.i32()
    flags = 0
    inputs = _read_inputs(reader)
    if not inputs:
        # Either the BIP144 marker or a genuinely empty input vector.
        flags = reader.u8()
        if flags != 0:
            inputs = _read_inputs(reader)
            outputs = _read_outputs(reader)
        else:
            outputs = []
    else:
        outputs = _read_outputs(reader)
    if flags & 1:
        flags ^= 1
        with_witness = []
        for txin in inputs:
            n_items = reader.count(1)
            stack = tuple(reader.var_bytes() for _ in range(n_items))
            with_witness.append(dataclasses.replace(txin, witness=stack))
        inputs = with_witness
        if not any(txin.witness for txin in inputs):
            raise DecodeError("Superfluous witness record")
    if flags:
        raise DecodeError("Unknown transaction optional data")
    lock_time = reader.u32()
    return Transaction(version, tuple(inputs), tuple(outputs), lock_time)


def _read_inputs(reader: ByteReader) -> list[TxIn]:
    n = reader.count(_MIN_TXIN_SIZE)
    inputs = []
    for _ in range(n):
        prevout = OutPoint(reader.read(32), reader.u32())
        script_sig = reader.var_bytes()
        inputs.append(TxIn(prevout, script_sig, reader.u32()))
    return inputs


def _read_outputs(reader: ByteReader) -> list[TxOut]:
    n = reader.count(_MIN_TXOUT_SIZE)
    return [TxOut(reader.i64(), reader.var_bytes()) for _ in range(n)]


def read_header(reader: ByteReader) -> BlockHeader:
    """Read an 80-byte block header."""
    return BlockHeader(
        version=reader.i32(),
        prev_hash=reader.read(32),
        merkle_root=reader.read(32),
        time=reader.u32(),
        bits=reader.u32(),
        nonce=reader.u32(),
    )


def parse_block(data: bytes) -> Block:
    """Decode a whole block; DecodeError when malformed or followed by trailing bytes."""
    reader = ByteReader(data)
    header = read_header(reader)
    n_tx = reader.count(_MIN_TX_SIZE)
    transactions = tuple(read_transaction(reader) for _ in range(n_tx))
    if reader.remaining:
        raise DecodeError(f"{reader.remaining} trailing bytes after the block")
    return Block(header, transactions)


def parse_transaction(data: bytes) -> Transaction:
    """Decode exactly one transaction; DecodeError when malformed or followed by trailing bytes."""
    reader = ByteReader(data)
    tx = read_transaction(reader)
    if reader.remaining:
        raise DecodeError(f"{reader.remaining} trailing bytes after the transaction")
    return tx
