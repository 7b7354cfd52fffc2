"""Byte-level helpers for Bitcoin's wire format, decoding as strictly as Core does.

Core's ``ReadCompactSize`` refuses non-canonical encodings and sizes above
``MAX_SIZE``; :class:`ByteReader` does the same, so a block that Core would fail
to decode fails here too (with :class:`DecodeError`).
"""

from __future__ import annotations

import hashlib
import re
import struct

#: Core's MAX_SIZE: the largest length a CompactSize may announce (32 MiB).
MAX_COMPACT_SIZE = 0x02000000

_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")


class DecodeError(ValueError):
    """The bytes are not a valid serialization (truncated, non-canonical, trailing data...)."""


def sha256d(data: bytes) -> bytes:
    """SHA-256 applied twice, as Bitcoin hashes headers, transactions and merkle nodes."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash_to_display(hash_bytes: bytes) -> str:
    """Internal-order hash bytes as the byte-reversed hex that RPC shows."""
    return hash_bytes[::-1].hex()


def display_to_hash(display_hex: str) -> bytes:
    """RPC (byte-reversed) hex as internal-order hash bytes; ValueError if not 64 hex digits."""
    if len(display_hex) != 64:
        raise ValueError(f"a hash is 64 hex digits, got {len(display_hex)}")
    return bytes.fromhex(display_hex)[::-1]


def is_hex(text: str) -> bool:
    """Core's IsHex: a non-empty, even-length string of hex digits only."""
    if not text or len(text) % 2:
        return False
    return _HEX_DIGITS.fullmatch(text) is not None


def compact_size(n: int) -> bytes:
    """Encode ``n`` as a Bitcoin CompactSize (the varint prefix of vectors)."""
    if n < 0:
        raise ValueError("CompactSize cannot be negative")
    if n < 253:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + _U16.pack(n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + _U32.pack(n)
    return b"\xff" + _U64.pack(n)


def var_bytes(data: bytes) -> bytes:
    """``data`` prefixed with its CompactSize length."""
    return compact_size(len(data)) + data


def u32(n: int) -> bytes:
    """Little-endian unsigned 32-bit."""
    return _U32.pack(n)


def i32(n: int) -> bytes:
    """Little-endian signed 32-bit."""
    return _I32.pack(n)


def i64(n: int) -> bytes:
    """Little-endian signed 64-bit."""
    return _I64.pack(n)


class ByteReader:
    """A cursor over bytes that raises DecodeError instead of reading past the end."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        """How many bytes are left unread."""
        return len(self._data) - self._pos

    def read(self, n: int) -> bytes:
        """The next ``n`` bytes; DecodeError when fewer remain."""
        if n < 0 or n > self.remaining:
            raise DecodeError(f"end of data: wanted {n} bytes, {self.remaining} left")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def u8(self) -> int:
        """One unsigned byte."""
        return self.read(1)[0]

    def u16(self) -> int:
        """Little-endian unsigned 16-bit."""
        return int(_U16.unpack(self.read(2))[0])

    def u32(self) -> int:
        """Little-endian unsigned 32-bit."""
        return int(_U32.unpack(self.read(4))[0])

    def i32(self) -> int:
        """Little-endian signed 32-bit."""
        return int(_I32.unpack(self.read(4))[0])

    def u64(self) -> int:
        """Little-endian unsigned 64-bit."""
        return int(_U64.unpack(self.read(8))[0])

    def i64(self) -> int:
        """Little-endian signed 64-bit."""
        return int(_I64.unpack(self.read(8))[0])

    def compact_size(self, limit: int = MAX_COMPACT_SIZE) -> int:
        """A canonical CompactSize no larger than ``limit`` (Core's range-checked read)."""
        first = self.u8()
        if first < 253:
            value = first
        elif first == 253:
            value = self.u16()
            if value < 253:
                raise DecodeError("non-canonical ReadCompactSize()")
        elif first == 254:
            value = self.u32()
            if value < 0x10000:
                raise DecodeError("non-canonical ReadCompactSize()")
        else:
            value = self.u64()
            if value < 0x100000000:
                raise DecodeError("non-canonical ReadCompactSize()")
        if value > limit:
            raise DecodeError("ReadCompactSize(): size too large")
        return value

    def count(self, min_item_size: int) -> int:
        """A vector length, refused early when the items could not fit in what is left."""
        n = self.compact_size()
        if n * min_item_size > self.remaining:
            raise DecodeError(f"end of data: {n} items cannot fit in {self.remaining} bytes")
        return n

    def var_bytes(self) -> bytes:
        """A CompactSize-prefixed byte string."""
        return self.read(self.compact_size())
