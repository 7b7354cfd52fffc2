"""Compact bits, targets and difficulty, checked against the values Bitcoin Core produces."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tbgpool.chain.embedded import (
    bits_to_target,
    difficulty_to_bits,
    target_to_bits,
    target_to_difficulty,
)
from tbgpool.chain.pow import (
    DIFFICULTY_1_TARGET,
    REGTEST_POW_LIMIT,
    bits_to_difficulty,
    block_proof,
    check_proof_of_work,
    decode_compact,
    is_valid_bits,
)

# (compact, target, negative, overflow, compact re-encoded) as arith_uint256's
# SetCompact/GetCompact give them in Core's unit tests.
COMPACT_VECTORS = [
    (0x00000000, 0, False, False, 0x00000000),
    (0x00123456, 0, False, False, 0x00000000),
    (0x01003456, 0, False, False, 0x00000000),
    (0x02000056, 0, False, False, 0x00000000),
    (0x03000000, 0, False, False, 0x00000000),
    (0x04000000, 0, False, False, 0x00000000),
    (0x00923456, 0, False, False, 0x00000000),
    (0x01803456, 0, False, False, 0x00000000),
    (0x02800056, 0, False, False, 0x00000000),
    (0x03800000, 0, False, False, 0x00000000),
    (0x04800000, 0, False, False, 0x00000000),
    (0x01123456, 0x12, False, False, 0x01120000),
    (0x02123456, 0x1234, False, False, 0x02123400),
    (0x03123456, 0x123456, False, False, 0x03123456),
    (0x04123456, 0x12345600, False, False, 0x04123456),
    (0x05009234, 0x92340000, False, False, 0x05009234),
    (0x20123456, 0x123456 << 232, False, False, 0x20123456),
    (0x1D00FFFF, DIFFICULTY_1_TARGET, False, False, 0x1D00FFFF),
    (0x207FFFFF, REGTEST_POW_LIMIT >> 232 << 232, False, False, 0x207FFFFF),
]


class CompactTests(SynchronousTestCase):
    """SetCompact / GetCompact as in Core's arith_uint256."""

    def test_vectors(self) -> None:
        """Each vector decodes to its target and flags and re-encodes to Core's compact form."""
        for bits, target, negative, overflow, reencoded in COMPACT_VECTORS:
            decoded = decode_compact(bits)
            self.assertEqual(
                (decoded.target, decoded.negative, decoded.overflow),
                (target, negative, overflow),
                hex(bits),
            )
            self.assertEqual(target_to_bits(target), reencoded, hex(bits))

    def test_negative_flags(self) -> None:
        """The sign bit with a non-zero mantissa marks a negative target, and GetCompact(true) keeps it."""
        decoded = decode_compact(0x01FEDCBA)
        self.assertEqual((decoded.target, decoded.negative), (0x7E, True))
        self.assertEqual(target_to_bits(0x7E, negative=True), 0x01FE0000)
        self.assertTrue(decode_compact(0x04923456).negative)
        self.assertEqual(target_to_bits(0x12345600, negative=True), 0x04923456)

    def test_overflow(self) -> None:
        """Exponents beyond 256 bits overflow."""
        self.assertTrue(decode_compact(0xFF123456).overflow)
        self.assertTrue(decode_compact(0x23000001).overflow)
        self.assertTrue(decode_compact(0x22000100).overflow)
        self.assertFalse(decode_compact(0x220000FF).overflow)

    def test_mantissa_high_bit_shifts_the_exponent(self) -> None:
        """A target whose top byte has bit 7 set gets a zero-padded mantissa (0x80 → 0x02008000)."""
        self.assertEqual(target_to_bits(0x80), 0x02008000)
        self.assertEqual(target_to_bits(0x800000), 0x04008000)

    def test_bits_to_target_refuses_bad_encodings(self) -> None:
        """bits_to_target raises ValueError for negative, overflowing or non-32-bit bits."""
        for bits in (0x04923456, 0xFF123456, -1, 1 << 32):
            self.assertRaises(ValueError, bits_to_target, bits)
        self.assertEqual(bits_to_target(0x1B04864C), 0x04864C << 192)

    def test_round_trip(self) -> None:
        """Encoding any compact value's target and decoding it again is stable."""
        for bits in (0x1D00FFFF, 0x1B04864C, 0x207FFFFF, 0x170331DB, 0x1A05DB8B):
            self.assertEqual(target_to_bits(bits_to_target(bits)), bits)


class DifficultyTests(SynchronousTestCase):
    """difficulty ↔ bits ↔ target."""

    def test_difficulty_one(self) -> None:
        """Difficulty 1 is bits 0x1d00ffff and the other way round."""
        self.assertEqual(difficulty_to_bits(1.0), 0x1D00FFFF)
        self.assertEqual(target_to_difficulty(DIFFICULTY_1_TARGET), 1.0)
        self.assertEqual(bits_to_difficulty(0x1D00FFFF), 1.0)

    def test_regtest(self) -> None:
        """Regtest's difficulty round-trips to 0x207fffff, reported as Core reports it."""
        difficulty = target_to_difficulty(bits_to_target(0x207FFFFF))
        self.assertEqual(difficulty_to_bits(difficulty), 0x207FFFFF)
        self.assertAlmostEqual(bits_to_difficulty(0x207FFFFF), 4.656542373906925e-10, places=20)

    def test_mainnet_block(self) -> None:
        """A real mainnet nBits (block 100,000: 0x1b04864c) has difficulty 14484.162361225399."""
        self.assertAlmostEqual(bits_to_difficulty(0x1B04864C), 14484.162361225399)
        self.assertEqual(difficulty_to_bits(14484.162361225399), 0x1B04864C)

    def test_rounding_is_to_the_nearest_compact_target(self) -> None:
        """The chosen target is within half a mantissa step of the difficulty's exact target."""
        for difficulty in (0.5, 3.0, 1e-6, 12345.678, 1e12, 7.0):
            exact = DIFFICULTY_1_TARGET / difficulty
            chosen = bits_to_target(difficulty_to_bits(difficulty))
            self.assertLessEqual(abs(chosen - exact) / exact, 1 / 0x10000, difficulty)

    def test_difficulties_read_off_bits_convert_back(self) -> None:
        """bits → difficulty (float) → bits is the identity for real-world bits."""
        for bits in (0x1D00FFFF, 0x1B04864C, 0x207FFFFF, 0x170331DB, 0x1A05DB8B, 0x1C00800E):
            self.assertEqual(difficulty_to_bits(target_to_difficulty(bits_to_target(bits))), bits)

    def test_bad_difficulties(self) -> None:
        """Zero, negative, infinite, NaN, non-numbers and absurd values are ValueError."""
        for difficulty in (0, -1.0, float("inf"), float("nan"), "1", True, 1e-80, 1e80):
            self.assertRaises(ValueError, difficulty_to_bits, difficulty)
        self.assertRaises(ValueError, target_to_difficulty, 0)


class ProofOfWorkTests(SynchronousTestCase):
    """CheckProofOfWork and chain work."""

    def test_check_proof_of_work(self) -> None:
        """A hash at the target passes, one above fails, and bad bits always fail."""
        target = bits_to_target(0x207FFFFF)
        at_target = target.to_bytes(32, "little")
        above = (target + 1).to_bytes(32, "little")
        self.assertTrue(check_proof_of_work(at_target, 0x207FFFFF, REGTEST_POW_LIMIT))
        self.assertFalse(check_proof_of_work(above, 0x207FFFFF, REGTEST_POW_LIMIT))
        for bits in (0x04923456, 0xFF123456, 0x00000000, 0x2100FFFF):
            self.assertFalse(check_proof_of_work(b"\x00" * 32, bits, REGTEST_POW_LIMIT))

    def test_block_proof(self) -> None:
        """A regtest block is worth 2 hashes; a difficulty-1 block 0x100010001."""
        self.assertEqual(block_proof(0x207FFFFF), 2)
        self.assertEqual(block_proof(0x1D00FFFF), 0x100010001)

    def test_is_valid_bits(self) -> None:
        """Only positive, in-range targets within the limit are valid chain bits."""
        self.assertTrue(is_valid_bits(0x207FFFFF, REGTEST_POW_LIMIT))
        self.assertTrue(is_valid_bits(0x1D00FFFF, REGTEST_POW_LIMIT))
        for bits in (0x2100FFFF, 0x00000000, 0x04923456, True, -5):
            self.assertFalse(is_valid_bits(bits, REGTEST_POW_LIMIT))
