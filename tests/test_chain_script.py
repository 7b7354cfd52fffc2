"""Script helpers: BIP34 heights, sigop counting, asm and output types as Core computes them."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tbgpool.chain.script import (
    bip34_height_script,
    is_push_only,
    legacy_sigop_count,
    output_type,
    push_data,
    script_num_decode,
    script_num_encode,
    script_to_asm,
    witness_commitment_index,
)

SIG = bytes.fromhex(
    "3044022054e74a6e5bdc0e7e6368f670d60c8959a8831f3d40220f4627f77e838fc2d9b0"
    "022002997c3c759bd1d7bd042e3e148ea0fe551a2930bdf0c3b20bca85588bf5e74701"
)
PUBKEY = bytes.fromhex("02a12f793d975a1dc3d74800f41b05597b5b742b5ab2d9319ced5db2494c2b64ac")


class HeightScriptTests(SynchronousTestCase):
    """CScript() << height, the BIP34 coinbase prefix."""

    def test_small_heights_are_opcodes(self) -> None:
        """0 is OP_0 and 1..16 are OP_1..OP_16 (0x51..0x60), not data pushes."""
        self.assertEqual(bip34_height_script(0), b"\x00")
        for height in range(1, 17):
            self.assertEqual(bip34_height_script(height), bytes([0x50 + height]))

    def test_larger_heights_are_minimal_pushes(self) -> None:
        """From 17 on the height is a minimal little-endian CScriptNum push."""
        cases = {
            17: "0111", 127: "017f", 128: "028000", 255: "02ff00", 256: "020001",
            32767: "02ff7f", 32768: "03008000", 227931: "035b7a03", 8388608: "0400008000",
        }  # fmt: skip
        for height, expected in cases.items():
            self.assertEqual(bip34_height_script(height).hex(), expected, height)

    def test_negative_height(self) -> None:
        """A negative height is a ValueError."""
        self.assertRaises(ValueError, bip34_height_script, -1)

    def test_script_num_round_trip(self) -> None:
        """CScriptNum encodes the sign in the top bit and decodes back."""
        for value in (0, 1, -1, 127, 128, -128, 255, -255, 0x7FFFFFFF, -0x7FFFFFFF):
            self.assertEqual(script_num_decode(script_num_encode(value)), value)
        self.assertEqual(script_num_encode(-1), b"\x81")
        self.assertEqual(script_num_encode(128), b"\x80\x00")


class SigopTests(SynchronousTestCase):
    """Core's legacy (inaccurate) sigop counting."""

    def test_counts(self) -> None:
        """CHECKSIG counts 1, CHECKMULTISIG 20, pushed bytes nothing, and a bad push stops counting."""
        self.assertEqual(
            legacy_sigop_count(bytes.fromhex("76a914") + b"\x00" * 20 + bytes.fromhex("88ac")), 1
        )
        self.assertEqual(legacy_sigop_count(b"\x52\xae"), 20)
        self.assertEqual(legacy_sigop_count(push_data(b"\xac" * 10)), 0)
        self.assertEqual(legacy_sigop_count(b"\xac\xad\x4c\x05\xac"), 2)


class AsmTests(SynchronousTestCase):
    """ScriptToAsmStr."""

    def test_p2pkh(self) -> None:
        """A P2PKH output renders with opcode names and the key hash."""
        script = bytes.fromhex("76a914") + b"\x11" * 20 + bytes.fromhex("88ac")
        self.assertEqual(
            script_to_asm(script), "OP_DUP OP_HASH160 " + "11" * 20 + " OP_EQUALVERIFY OP_CHECKSIG"
        )

    def test_scriptsig_sighash_decoding(self) -> None:
        """With sighash decoding a DER signature ends in [ALL]; without, it is plain hex."""
        script = push_data(SIG) + push_data(PUBKEY)
        self.assertEqual(
            script_to_asm(script, decode_sighash=True), SIG[:-1].hex() + "[ALL] " + PUBKEY.hex()
        )
        self.assertEqual(script_to_asm(script), SIG.hex() + " " + PUBKEY.hex())

    def test_numbers_and_errors(self) -> None:
        """Small pushes print as numbers, OP_N as digits, and a truncated push as [error]."""
        self.assertEqual(
            script_to_asm(b"\x00\x51\x60\x4f\x01\x85\x02\xe8\x03"), "0 1 16 -1 -5 1000"
        )
        self.assertEqual(script_to_asm(b"\x51\x05\x01"), "1 [error]")
        self.assertEqual(
            script_to_asm(b"\xba\xb1\xfe"), "OP_CHECKSIGADD OP_CHECKLOCKTIMEVERIFY OP_UNKNOWN"
        )


class OutputTypeTests(SynchronousTestCase):
    """Solver's output type names."""

    def test_types(self) -> None:
        """Standard scripts get Core's type names; everything else is nonstandard."""
        cases = {
            "76a914" + "11" * 20 + "88ac": "pubkeyhash",
            "a914" + "11" * 20 + "87": "scripthash",
            "0014" + "11" * 20: "witness_v0_keyhash",
            "0020" + "11" * 32: "witness_v0_scripthash",
            "5120" + "11" * 32: "witness_v1_taproot",
            "5210" + "11" * 16: "witness_unknown",
            "0015" + "11" * 21: "nonstandard",
            "6a24aa21a9ed" + "11" * 32: "nulldata",
            "6a": "nulldata",
            "21" + PUBKEY.hex() + "ac": "pubkey",
            "51" + "21" + PUBKEY.hex() + "51ae": "multisig",
            "51": "nonstandard",
            "": "nonstandard",
        }
        for script, expected in cases.items():
            self.assertEqual(output_type(bytes.fromhex(script)), expected, script)

    def test_push_only(self) -> None:
        """Pushes and OP_1..OP_16 are push-only; other opcodes and bad pushes are not."""
        self.assertTrue(is_push_only(b"\x00\x51\x60\x01\xff"))
        self.assertFalse(is_push_only(b"\x61"))
        self.assertFalse(is_push_only(b"\x05\x00"))


class CommitmentIndexTests(SynchronousTestCase):
    """GetWitnessCommitmentIndex."""

    def test_last_matching_output(self) -> None:
        """The last output starting with the commitment header and at least 38 bytes long wins."""
        commitment = bytes.fromhex("6a24aa21a9ed") + b"\x00" * 32
        short = bytes.fromhex("6a24aa21a9ed") + b"\x00" * 31
        self.assertEqual(
            witness_commitment_index([b"\x51", commitment, b"\x51", commitment + b"\x00"]), 3
        )
        self.assertIsNone(witness_commitment_index([b"\x51", short]))
        self.assertIsNone(witness_commitment_index([]))
