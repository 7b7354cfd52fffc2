"""Reference encoders written apart from tbgpool's decoders, to check what those accept.

Straight from BIP173/BIP350 and the Base58Check description; slow and simple on purpose.
"""

from __future__ import annotations

import hashlib

BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32_CONSTANT = 1
BECH32M_CONSTANT = 0x2BC830A3
BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = ((checksum & 0x1FFFFFF) << 5) ^ value
        for i, coefficient in enumerate(generator):
            if (top >> i) & 1:
                checksum ^= coefficient
    return checksum


def bech32_encode(hrp: str, data: list[int], constant: int) -> str:
    """``hrp`` + '1' + the 5-bit ``data`` + checksum, lower case (constant picks bech32/m)."""
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _polymod(expanded + data + [0] * 6) ^ constant
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32_CHARSET[d] for d in data + checksum)


def to_5bit(program: bytes) -> list[int]:
    """Bytes regrouped into 5-bit values, the last one zero-padded."""
    bits = "".join(f"{byte:08b}" for byte in program)
    bits += "0" * (-len(bits) % 5)
    return [int(bits[i : i + 5], 2) for i in range(0, len(bits), 5)]


def segwit_address(hrp: str, version: int, program: bytes) -> str:
    """A segwit address: bech32 for v0, bech32m for v1..v16."""
    constant = BECH32_CONSTANT if version == 0 else BECH32M_CONSTANT
    return bech32_encode(hrp, [version, *to_5bit(program)], constant)


def base58_encode(raw: bytes) -> str:
    """Base58 of ``raw``: one '1' per leading zero byte, then the number's digits."""
    number = int.from_bytes(raw, "big")
    digits = ""
    while number:
        number, digit = divmod(number, 58)
        digits = BASE58_ALPHABET[digit] + digits
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + digits


def base58check_encode(payload: bytes) -> str:
    """Base58 of ``payload`` followed by the first four bytes of its double SHA-256."""
    checksum = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return base58_encode(payload + checksum)


def share_hash(
    coinb1: bytes, extranonce1: bytes, extranonce2: bytes, coinb2: bytes, branch: bytes,
    version: int, prevhash: bytes, ntime: int, bits: int, nonce: int,
) -> bytes:
    """The Stratum share's header hash, with hashlib (what tbgpool.sha256.share_hash must give)."""

    def sha256d(data: bytes) -> bytes:
        return hashlib.sha256(hashlib.sha256(data).digest()).digest()

    root = sha256d(coinb1 + extranonce1 + extranonce2 + coinb2)
    for i in range(0, len(branch), 32):
        root = sha256d(root + branch[i : i + 32])
    header = (
        version.to_bytes(4, "little") + prevhash + root + ntime.to_bytes(4, "little")
        + bits.to_bytes(4, "little") + nonce.to_bytes(4, "little")
    )
    return sha256d(header)
