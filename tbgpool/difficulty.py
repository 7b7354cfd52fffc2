"""Difficulty and target arithmetic.

Difficulty 1 is the target ``0x00000000FFFF0000...0000``. Targets are compared as
integers, never as floats, whenever a decision depends on them (is this a share?
is this a block?). Difficulties are floats so that tiny regtest and signet
difficulties (say 1e-9) work; ckpool's integer-only difficulty cannot express them.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

#: The target of difficulty 1 (the "pool difficulty 1" target, bdiff).
DIFF1_TARGET = 0x00000000FFFF0000000000000000000000000000000000000000000000000000
#: The largest value a 256-bit hash can take.
MAX_TARGET = (1 << 256) - 1


def bits_to_target(bits: int) -> int:
    """Expand a compact ``nBits`` value into its target, as Core's SetCompact does."""
    exponent = bits >> 24
    mantissa = bits & 0x007FFFFF
    if bits & 0x00800000:
        # Negative compact values encode no valid target.
        return 0
    if exponent <= 3:
        return mantissa >> (8 * (3 - exponent))
    return mantissa << (8 * (exponent - 3))


@lru_cache(maxsize=4096)
def target_for_difficulty(difficulty: float) -> int:
    """The integer share target of a (finite, positive) float difficulty, exactly."""
    if not math.isfinite(difficulty) or difficulty <= 0:
        raise ValueError(f"difficulty must be finite and positive, not {difficulty!r}")
    ratio = Fraction(difficulty)
    target = (DIFF1_TARGET * ratio.denominator) // ratio.numerator
    return min(target, MAX_TARGET)


def difficulty_for_target(target: int) -> float:
    """The float difficulty whose target is ``target`` (for reporting)."""
    if target <= 0:
        return math.inf
    return DIFF1_TARGET / target


def hash_difficulty(hash_value: int) -> float:
    """The difficulty a hash achieved: diff1 target / the hash as an integer."""
    if hash_value == 0:
        return math.inf
    return DIFF1_TARGET / hash_value
