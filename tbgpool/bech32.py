"""Bech32 (BIP173) and Bech32m (BIP350) string decoding, independent of Bitcoin.

This module knows only the checksummed string format: a human-readable part
(HRP), the separator ``1``, and 5-bit data symbols ending in a six-symbol
checksum. What the data means for a segwit address is :mod:`tbgpool.address`'s
business.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from tbgpool.errors import AddressError

#: Longest string BIP173 allows (HRP + separator + data + checksum).
MAX_BECH32_LENGTH = 90

#: The 32 data characters; a character's index is its 5-bit value.
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

#: Number of 5-bit symbols in the checksum.
CHECKSUM_LENGTH = 6

_CHARSET_VALUE: dict[str, int] = {char: value for value, char in enumerate(CHARSET)}

# Generator coefficients of the BCH code (BIP173, "Checksum").
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)

# BIP173 limits every character to printable US-ASCII without space.
_MIN_CHAR = 33
_MAX_CHAR = 126


class Encoding(enum.Enum):
    """Which checksum variant a string uses; the value is the constant the checksum XORs in."""

    BECH32 = 1
    BECH32M = 0x2BC830A3


def _polymod(values: Iterable[int]) -> int:
    """The BCH checksum remainder of a sequence of 5-bit values."""
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, coefficient in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= coefficient
    return checksum


def _expand_hrp(hrp: str) -> list[int]:
    """The HRP as the checksum sees it: high bits of each character, a zero, low bits."""
    codes = [ord(char) for char in hrp]
    return [code >> 5 for code in codes] + [0] + [code & 31 for code in codes]


def bech32_decode(text: str) -> tuple[str, bytes, Encoding]:
    """Split a Bech32/Bech32m string into (lower-case HRP, 5-bit data without checksum, encoding).

    Raises :class:`~tbgpool.errors.AddressError` naming the first rule the
    string breaks; the message never repeats the input.
    """
    if not isinstance(text, str):
        raise AddressError("bech32 string must be text")
    if len(text) > MAX_BECH32_LENGTH:
        raise AddressError(
            f"bech32 string too long ({len(text)} characters, at most {MAX_BECH32_LENGTH})"
        )
    for position, char in enumerate(text):
        if not _MIN_CHAR <= ord(char) <= _MAX_CHAR:
            raise AddressError(f"character out of range at position {position}")
    lower = text.lower()
    if lower != text and text.upper() != text:
        raise AddressError("mixed case")
    separator = lower.rfind("1")
    if separator < 0:
        raise AddressError("no bech32 separator '1'")
    if separator == 0:
        raise AddressError("empty human-readable part")
    hrp = lower[:separator]
    data_part = lower[separator + 1 :]
    if len(data_part) < CHECKSUM_LENGTH:
        raise AddressError(
            f"bech32 checksum too short ({len(data_part)} characters, need {CHECKSUM_LENGTH})"
        )
    values: list[int] = []
    for offset, char in enumerate(data_part):
        value = _CHARSET_VALUE.get(char)
        if value is None:
            raise AddressError(
                f"invalid bech32 data character at position {separator + 1 + offset}"
            )
        values.append(value)
    remainder = _polymod(_expand_hrp(hrp) + values)
    for encoding in Encoding:
        if remainder == encoding.value:
            return hrp, bytes(values[:-CHECKSUM_LENGTH]), encoding
    raise AddressError("bad bech32 checksum")


def convert_bits(data: Iterable[int], from_bits: int, to_bits: int, pad: bool) -> bytes:
    """Regroup a sequence of ``from_bits``-wide values into ``to_bits``-wide values.

    With ``pad`` the last group is zero-filled; without it (decoding), leftover
    bits must be fewer than ``from_bits`` and all zero, or AddressError is raised.
    """
    accumulator = 0
    bit_count = 0
    max_value = (1 << to_bits) - 1
    out = bytearray()
    for value in data:
        if value < 0 or value >> from_bits:
            raise AddressError(f"value out of range for {from_bits}-bit groups")
        accumulator = (accumulator << from_bits) | value
        bit_count += from_bits
        while bit_count >= to_bits:
            bit_count -= to_bits
            out.append((accumulator >> bit_count) & max_value)
        accumulator &= (1 << bit_count) - 1
    if pad:
        if bit_count:
            out.append((accumulator << (to_bits - bit_count)) & max_value)
    elif bit_count >= from_bits:
        raise AddressError(f"padding of more than {from_bits - 1} bits")
    elif accumulator:
        raise AddressError("non-zero padding")
    return bytes(out)
