"""The coinbase transaction, split around the extranonce for Stratum.

Layout of the (non-witness) coinbase a miner hashes::

    coinb1 = version | 1 input | null prevout | scriptSig length |
             BIP34 height | push(extranonce size)
    ... extranonce1 | extranonce2 ...
    coinb2 = push(pool tag + user tag) | sequence | outputs | locktime

The scriptSig is kept within consensus' 100 bytes: the pool tag (``btcsig``) is
bounded by the config, and a per-user tag is truncated to whatever room is left.
There is one payout output carrying all of ``coinbasevalue`` to the miner's own
script, followed by the witness commitment when the template has one. With
typical settings coinb1 is about 50 bytes and the whole coinbase about 180 bytes,
well inside the limits of common firmware (stock Antminer ~750 bytes, NiceHash
wants coinb1 under ~500).
"""

from __future__ import annotations

import struct

#: Consensus bounds on a coinbase scriptSig.
MAX_SCRIPTSIG = 100
MIN_SCRIPTSIG = 2
#: The witness reserved value the pool commits to (BIP141); all zeros.
WITNESS_RESERVED_VALUE = bytes(32)
_COINBASE_TX_VERSION = 2
_SEQUENCE_FINAL = b"\xff\xff\xff\xff"


def compact_size(n: int) -> bytes:
    """Bitcoin's CompactSize encoding of ``n``."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def script_number(n: int) -> bytes:
    """Minimal CScriptNum serialization of a non-negative integer."""
    if n == 0:
        return b""
    out = bytearray()
    while n:
        out.append(n & 0xFF)
        n >>= 8
    if out[-1] & 0x80:
        out.append(0)
    return bytes(out)


def push_data(data: bytes) -> bytes:
    """A minimal script push of ``data`` (at most 75 bytes here, enough for the scriptSig)."""
    if len(data) > 75:
        raise ValueError("push_data only handles direct pushes of up to 75 bytes")
    return bytes([len(data)]) + data


def height_script(height: int) -> bytes:
    """``CScript() << height`` as BIP34 requires the scriptSig to begin.

    Core pushes 1..16 as OP_1..OP_16 and 0 as OP_0, so a regtest chain's first
    blocks need those opcodes rather than a one-byte data push.
    """
    if height < 0:
        raise ValueError("negative height")
    if height == 0:
        return b"\x00"
    if height <= 16:
        return bytes([0x50 + height])
    return push_data(script_number(height))


def serialize_output(value: int, script: bytes) -> bytes:
    """One transaction output: 8-byte value and length-prefixed script."""
    return struct.pack("<q", value) + compact_size(len(script)) + script


class CoinbaseTemplate:
    """The coinbase of one template, split into (coinb1, coinb2) per payout script and user tag."""

    __slots__ = ("height", "value", "witness_commitment", "extranonce_size", "_height_part",
                 "_pool_tag", "_tag_room", "_prefix")

    def __init__(
        self,
        height: int,
        coinbase_value: int,
        witness_commitment: bytes | None,
        pool_tag: bytes,
        extranonce_size: int,
    ) -> None:
        self.height = height
        self.value = coinbase_value
        self.witness_commitment = witness_commitment
        self.extranonce_size = extranonce_size
        self._height_part = height_script(height)
        # scriptSig = height | push-opcode | extranonce | push-opcode | tag
        room = MAX_SCRIPTSIG - (len(self._height_part) + 1 + extranonce_size + 1)
        if extranonce_size > 75 or room < len(pool_tag):
            raise ValueError("pool tag and extranonce do not fit in a 100-byte coinbase scriptSig")
        self._pool_tag = pool_tag
        self._tag_room = min(room, 75)
        self._prefix = (
            struct.pack("<i", _COINBASE_TX_VERSION) + b"\x01" + bytes(32) + b"\xff\xff\xff\xff"
        )

    def tag(self, user_tag: bytes = b"") -> bytes:
        """The scriptSig tag: the pool tag followed by the user tag, cut to the room left."""
        return (self._pool_tag + user_tag)[: self._tag_room]

    def parts(self, payout_script: bytes, user_tag: bytes = b"") -> tuple[bytes, bytes]:
        """(coinb1, coinb2) of a coinbase paying the whole value to ``payout_script``."""
        tag = self.tag(user_tag)
        script_len = len(self._height_part) + 1 + self.extranonce_size + len(tag) + 1
        coinb1 = (
            self._prefix
            + compact_size(script_len)
            + self._height_part
            + bytes([self.extranonce_size])
        )
        outputs = [serialize_output(self.value, payout_script)]
        if self.witness_commitment is not None:
            outputs.append(serialize_output(0, self.witness_commitment))
        coinb2 = (
            bytes([len(tag)])
            + tag
            + _SEQUENCE_FINAL
            + compact_size(len(outputs))
            + b"".join(outputs)
            + b"\x00\x00\x00\x00"
        )
        return coinb1, coinb2


def witness_coinbase(coinbase: bytes) -> bytes:
    """Re-serialize a non-witness coinbase with the BIP141 witness (one 32-byte zero item)."""
    # version(4) | marker 00 | flag 01 | inputs+outputs | witness | locktime(4)
    return (
        coinbase[:4]
        + b"\x00\x01"
        + coinbase[4:-4]
        + b"\x01\x20"
        + WITNESS_RESERVED_VALUE
        + coinbase[-4:]
    )
