"""Proof of work: compact "bits" ↔ target, difficulty and chain work, as Core computes them.

The compact encoding follows ``arith_uint256::SetCompact``/``GetCompact``
exactly, including the sign bit (0x00800000) and the overflow rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

#: The target of difficulty 1 (bits 0x1d00ffff).
DIFFICULTY_1_TARGET = 0xFFFF << 208
#: Regtest's proof-of-work limit (bits 0x207fffff): the easiest target there is.
REGTEST_POW_LIMIT = (1 << 255) - 1
REGTEST_BITS = 0x207FFFFF

_UINT256_MASK = (1 << 256) - 1


@dataclass(frozen=True, slots=True)
class CompactTarget:
    """What SetCompact yields: the (truncated) target and Core's two failure flags."""

    target: int
    negative: bool
    overflow: bool


def decode_compact(bits: int) -> CompactTarget:
    """Core's ``arith_uint256::SetCompact`` for a 32-bit ``bits``."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 0 <= bits <= 0xFFFFFFFF:
        raise ValueError(f"bits must be a 32-bit unsigned value, got {bits!r}")
    size = bits >> 24
    word = bits & 0x007FFFFF
    if size <= 3:
        # Core shifts the mantissa itself, so the flags below see what is left of it.
        word >>= 8 * (3 - size)
        target = word
    else:
        target = (word << (8 * (size - 3))) & _UINT256_MASK
    negative = word != 0 and (bits & 0x00800000) != 0
    overflow = word != 0 and (
        size > 34 or (word > 0xFF and size > 33) or (word > 0xFFFF and size > 32)
    )
    return CompactTarget(target, negative, overflow)


def bits_to_target(bits: int) -> int:
    """The target encoded by ``bits``; ValueError for negative or overflowing encodings."""
    decoded = decode_compact(bits)
    if decoded.negative:
        raise ValueError(f"bits {bits:08x} encode a negative target")
    if decoded.overflow:
        raise ValueError(f"bits {bits:08x} overflow 256 bits")
    return decoded.target


def target_to_bits(target: int, negative: bool = False) -> int:
    """Core's ``arith_uint256::GetCompact``: the compact form (mantissa truncated) of ``target``."""
    if not 0 <= target <= _UINT256_MASK:
        raise ValueError("target must be a 256-bit unsigned value")
    size = (target.bit_length() + 7) // 8
    if size <= 3:
        compact = (target << (8 * (3 - size))) & 0xFFFFFFFF
    else:
        compact = (target >> (8 * (size - 3))) & 0xFFFFFFFF
    if compact & 0x00800000:
        compact >>= 8
        size += 1
    compact |= size << 24
    if negative and compact & 0x007FFFFF:
        compact |= 0x00800000
    return compact


def target_to_difficulty(target: int) -> float:
    """Difficulty of ``target``: the difficulty-1 target divided by it."""
    if target <= 0:
        raise ValueError("target must be positive")
    return DIFFICULTY_1_TARGET / target


def _exact_target(difficulty: float) -> Fraction:
    if isinstance(difficulty, bool) or not isinstance(difficulty, int | float):
        raise ValueError(f"difficulty must be a number, got {difficulty!r}")
    if not math.isfinite(difficulty) or difficulty <= 0:
        raise ValueError(f"difficulty must be a positive finite number, got {difficulty!r}")
    exact = Fraction(DIFFICULTY_1_TARGET) / Fraction(difficulty)
    if exact < 1:
        raise ValueError(f"difficulty {difficulty!r} is too high: the target would be zero")
    if exact > _UINT256_MASK:
        raise ValueError(f"difficulty {difficulty!r} is too low: the target exceeds 256 bits")
    return exact


def difficulty_to_bits(difficulty: float) -> int:
    """Compact bits whose target is nearest to that of ``difficulty`` (1.0 → 0x1d00ffff).

    Rounding to the nearest representable target (not down) makes a difficulty
    read off real bits convert back to exactly those bits despite float error.
    ValueError for non-positive, non-finite or out-of-range difficulties.
    """
    exact = _exact_target(difficulty)
    low_bits = target_to_bits(math.floor(exact))
    low = decode_compact(low_bits).target
    exponent = low_bits >> 24
    step = 1 << (8 * (exponent - 3)) if exponent > 3 else 1
    high = low + step
    if high > _UINT256_MASK or exact - low <= high - exact:
        return low_bits
    return target_to_bits(high)


def bits_to_difficulty(bits: int) -> float:
    """Core's GetDifficulty for a block index's nBits (the value RPC reports)."""
    shift = (bits >> 24) & 0xFF
    mantissa = bits & 0x00FFFFFF
    if mantissa == 0:
        raise ValueError(f"bits {bits:08x} have a zero mantissa")
    difficulty = 0x0000FFFF / mantissa
    while shift < 29:
        difficulty *= 256.0
        shift += 1
    while shift > 29:
        difficulty /= 256.0
        shift -= 1
    return difficulty


def is_valid_bits(bits: int, pow_limit: int) -> bool:
    """True when ``bits`` is a 32-bit value decoding to a positive target no easier than ``pow_limit``."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 0 <= bits <= 0xFFFFFFFF:
        return False
    decoded = decode_compact(bits)
    return not (decoded.negative or decoded.overflow) and 0 < decoded.target <= pow_limit


def check_proof_of_work(block_hash: bytes, bits: int, pow_limit: int) -> bool:
    """Core's CheckProofOfWork: the encoding is sane, within the limit, and the hash meets it."""
    decoded = decode_compact(bits)
    if decoded.negative or decoded.overflow or decoded.target == 0 or decoded.target > pow_limit:
        return False
    return int.from_bytes(block_hash, "little") <= decoded.target


def block_proof(bits: int) -> int:
    """Core's GetBlockProof: the expected number of hashes for one block at ``bits``."""
    decoded = decode_compact(bits)
    if decoded.negative or decoded.overflow or decoded.target == 0:
        return 0
    return (1 << 256) // (decoded.target + 1)


def expected_hashes(target: int) -> float:
    """Average number of header hashes needed to meet ``target``."""
    return float((1 << 256) / (target + 1))
