"""Checks for the coinbase-tag and SHA-256 targets (no atheris here, so tests can replay).

check_tag: only ValueError, with a printable ASCII message; what is accepted is 1..73
printable ASCII characters, no edge spaces, returned as exactly those bytes.
check_hashes / check_share_hash: the C-backed wrappers equal hashlib and the reference,
and share_hash raises its documented ValueError exactly for out-of-range arguments.
"""

from __future__ import annotations

import hashlib

from fuzz import reference
from fuzz.harness import InvariantViolation
from tbgpool import sha256
from tbgpool.coinbase_tag import validate_coinbase_tag

UINT32_MAX = 0xFFFFFFFF
_PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F))


def check_tag(value: object) -> None:
    """Validate ``value``; raise InvariantViolation if the validator misbehaved."""
    try:
        tag = validate_coinbase_tag(value)
    except ValueError as e:
        message = str(e)
        if not message or not _PRINTABLE.issuperset(message) or len(message) > 200:
            raise InvariantViolation(f"error message {message!r}") from None
        return
    text = value.decode("latin-1") if isinstance(value, bytes | bytearray) else value
    if not isinstance(text, str) or tag != text.encode("latin-1"):
        raise InvariantViolation(f"{value!r} accepted as {tag!r}")
    if not 1 <= len(tag) <= 73 or not _PRINTABLE.issuperset(text):
        raise InvariantViolation(f"{value!r} accepted")
    if text[0] == " " or text[-1] == " ":
        raise InvariantViolation(f"{value!r} accepted with a leading or trailing space")


def check_hashes(data: bytes) -> None:
    """sha256 and sha256d equal hashlib's."""
    once = hashlib.sha256(data).digest()
    if sha256.sha256(data) != once:
        raise InvariantViolation(f"sha256 differs from hashlib for {len(data)} bytes")
    if sha256.sha256d(data) != hashlib.sha256(once).digest():
        raise InvariantViolation(f"sha256d differs from hashlib for {len(data)} bytes")


def check_share_hash(parts: list[bytes], branch: bytes, prevhash: bytes, ints: list[int]) -> None:
    """share_hash raises ValueError exactly for out-of-range arguments, else equals the reference."""
    coinb1, extranonce1, extranonce2, coinb2 = parts
    version, ntime, bits, nonce = ints
    valid = (
        len(branch) % 32 == 0
        and len(branch) // 32 <= sha256.MAX_MERKLE_BRANCH_COUNT
        and len(prevhash) == 32
        and sum(map(len, parts)) <= sha256.MAX_COINBASE_BYTES
        and all(0 <= value <= UINT32_MAX for value in ints)
    )
    try:
        digest = sha256.share_hash(coinb1, extranonce1, extranonce2, coinb2, branch, version,
                                   prevhash, ntime, bits, nonce)
    except ValueError as e:
        if valid:
            raise InvariantViolation(f"share_hash refused valid arguments: {e}") from None
        return
    if not valid:
        raise InvariantViolation("share_hash accepted out-of-range arguments")
    expected = reference.share_hash(coinb1, extranonce1, extranonce2, coinb2, branch, version,
                                    prevhash, ntime, bits, nonce)
    if digest != expected:
        raise InvariantViolation("share_hash differs from the hashlib reference")
