"""Base58Check decoding, the format of legacy (P2PKH and P2SH) Bitcoin addresses."""

from __future__ import annotations

import hashlib

from tbgpool.errors import AddressError

#: The 58 digits, in value order; '0', 'O', 'I' and 'l' are left out.
ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

#: Bytes of double-SHA256 appended to the payload.
CHECKSUM_LENGTH = 4

#: Longest string accepted; far beyond any address, it bounds the big-integer work.
MAX_BASE58_LENGTH = 90

_DIGIT_VALUE: dict[str, int] = {char: value for value, char in enumerate(ALPHABET)}


def base58_decode(text: str) -> bytes:
    """Decode base58 digits to bytes; each leading '1' stands for one leading zero byte."""
    if not isinstance(text, str):
        raise AddressError("base58 string must be text")
    if len(text) > MAX_BASE58_LENGTH:
        raise AddressError(
            f"base58 string too long ({len(text)} characters, at most {MAX_BASE58_LENGTH})"
        )
    number = 0
    for position, char in enumerate(text):
        value = _DIGIT_VALUE.get(char)
        if value is None:
            raise AddressError(f"invalid base58 character at position {position}")
        number = number * 58 + value
    leading_zero_bytes = len(text) - len(text.lstrip(ALPHABET[0]))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return bytes(leading_zero_bytes) + body


def base58check_decode(text: str) -> bytes:
    """Return the payload (version byte first) of a Base58Check string whose checksum holds."""
    raw = base58_decode(text)
    if len(raw) < CHECKSUM_LENGTH:
        raise AddressError("base58 string too short for a checksum")
    payload, checksum = raw[:-CHECKSUM_LENGTH], raw[-CHECKSUM_LENGTH:]
    digest = hashlib.sha256(hashlib.sha256(payload).digest()).digest()
    if digest[:CHECKSUM_LENGTH] != checksum:
        raise AddressError("bad base58 checksum")
    return payload
