"""Tests for payout address decoding (tbgpool.address, tbgpool.bech32, tbgpool.base58).

The Bech32/Bech32m and segwit vectors are the official ones from BIP173 and
BIP350. The other constants were checked against independent implementations
(the BIP reference code and python-bitcoinlib) while writing these tests, and the
Base58Check ones are re-derived here with hashlib by ``_base58check``.
"""

from __future__ import annotations

import hashlib
import random

from twisted.trial.unittest import SynchronousTestCase

from tbgpool.address import (
    MAX_ADDRESS_LENGTH,
    AddressType,
    Encoding,
    PayoutAddress,
    address_type,
    bech32_decode,
    decode_address,
    parse_address,
)
from tbgpool.bech32 import CHARSET, convert_bits
from tbgpool.errors import AddressError

NETWORKS = ("main", "test", "testnet4", "signet", "regtest")
NETWORKS_FOR_HRP = {
    "bc": ("main",),
    "tb": ("test", "testnet4", "signet"),
    "bcrt": ("regtest",),
}

# --- BIP173 / BIP350: generic checksum vectors --------------------------------------------

VALID_BECH32 = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]

VALID_BECH32M = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]

# (string, BIP reason, substring of our message)
INVALID_BECH32 = [
    (" 1nwldj5", "HRP character out of range", "character out of range at position 0"),
    ("\x7f1axkwrx", "HRP character out of range", "character out of range at position 0"),
    ("\x801eym55h", "HRP character out of range", "character out of range at position 0"),
    (
        "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
        "overall max length exceeded",
        "too long (91 characters",
    ),
    ("pzry9x0s0muk", "No separator character", "no bech32 separator"),
    ("1pzry9x0s0muk", "Empty HRP", "empty human-readable part"),
    ("x1b4n0q5v", "Invalid data character", "invalid bech32 data character at position 2"),
    ("li1dgmt3", "Too short checksum", "checksum too short"),
    ("de1lg7wt\xff", "Invalid character in checksum", "character out of range at position 8"),
    ("A1G7SGD8", "checksum calculated with uppercase form of HRP", "bad bech32 checksum"),
    ("10a06t8", "empty HRP", "empty human-readable part"),
    ("1qzzfhee", "empty HRP", "empty human-readable part"),
]

INVALID_BECH32M = [
    (" 1xj0phk", "HRP character out of range", "character out of range at position 0"),
    ("\x7f1g6xzxy", "HRP character out of range", "character out of range at position 0"),
    ("\x801vctc34", "HRP character out of range", "character out of range at position 0"),
    (
        "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
        "overall max length exceeded",
        "too long (91 characters",
    ),
    ("qyrz8wqd2c9m", "No separator character", "no bech32 separator"),
    ("1qyrz8wqd2c9m", "Empty HRP", "empty human-readable part"),
    ("y1b0jsk6g", "Invalid data character", "invalid bech32 data character at position 2"),
    ("lt1igcx5c0", "Invalid data character", "invalid bech32 data character at position 3"),
    ("in1muywd", "Too short checksum", "checksum too short"),
    ("mm1crxm3i", "Invalid character in checksum", "invalid bech32 data character at position 8"),
    ("au1s5cgom", "Invalid character in checksum", "invalid bech32 data character at position 7"),
    ("M1VUXWEZ", "checksum calculated with uppercase form of HRP", "bad bech32 checksum"),
    ("16plkw9", "empty HRP", "empty human-readable part"),
    ("1p2gdwpf", "empty HRP", "empty human-readable part"),
]

# --- BIP350 (and BIP173) segwit address vectors -------------------------------------------

# (address, scriptPubKey hex, address type)
VALID_SEGWIT = [
    (
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "0014751e76e8199196d454941c45d1b3a323f1433bd6",
        "p2wpkh",
    ),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
        "p2wsh",
    ),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
        "witness_unknown",
    ),
    ("BC1SW50QGDZ25J", "6002751e", "witness_unknown"),
    (
        "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
        "5210751e76e8199196d454941c45d1b3a323",
        "witness_unknown",
    ),
    (
        "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
        "p2wsh",
    ),
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
        "p2tr",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        "p2tr",
    ),
]

# (address, BIP350 reason, substring of our message on the network its HRP names)
INVALID_SEGWIT_BIP350 = [
    (
        "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
        "Invalid human-readable part",
        "unknown address prefix",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
        "Invalid checksum (Bech32 instead of Bech32m)",
        "bech32 checksum used for witness v1",
    ),
    (
        "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
        "Invalid checksum (Bech32 instead of Bech32m)",
        "bech32 checksum used for witness v2",
    ),
    (
        "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
        "Invalid checksum (Bech32 instead of Bech32m)",
        "bech32 checksum used for witness v16",
    ),
    (
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
        "Invalid checksum (Bech32m instead of Bech32)",
        "bech32m checksum used for witness v0",
    ),
    (
        "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
        "Invalid checksum (Bech32m instead of Bech32)",
        "bech32m checksum used for witness v0",
    ),
    (
        "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
        "Invalid character in checksum",
        "invalid bech32 data character at position 59",
    ),
    (
        "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
        "Invalid witness version",
        "invalid witness version 17",
    ),
    ("bc1pw5dgrnzv", "Invalid program length (1 byte)", "invalid witness program length 1 for v1"),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
        "Invalid program length (41 bytes)",
        "invalid witness program length 41 for v1",
    ),
    (
        "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
        "Invalid program length for witness version 0 (per BIP141)",
        "invalid witness program length 16 for v0",
    ),
    (
        "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",
        "Mixed case",
        "mixed case",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
        "zero padding of more than 4 bits",
        "padding of more than 4 bits",
    ),
    (
        "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
        "Non-zero padding in 8-to-5 conversion",
        "non-zero padding",
    ),
    ("bc1gmk9yu", "Empty data section", "empty data section"),
]

# BIP173's invalid list. Where BIP350 changed the rules (v1+ now needs bech32m),
# our message names that first failure instead of BIP173's reason.
INVALID_SEGWIT_BIP173 = [
    (
        "tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty",
        "Invalid human-readable part",
        "unknown address prefix",
    ),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "Invalid checksum", "bad bech32 checksum"),
    (
        "BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2",
        "Invalid witness version",
        "invalid witness version 17",
    ),
    ("bc1rw5uspcuh", "Invalid program length", "bech32 checksum used for witness v3"),
    (
        "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",
        "Invalid program length",
        "bech32 checksum used for witness v15",
    ),
    (
        "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
        "Invalid program length for witness version 0 (per BIP141)",
        "invalid witness program length 16 for v0",
    ),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
        "Mixed case",
        "mixed case",
    ),
    (
        "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",
        "zero padding of more than 4 bits",
        "bech32 checksum used for witness v2",
    ),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv",
        "Non-zero padding in 8-to-5 conversion",
        "non-zero padding",
    ),
    ("bc1gmk9yu", "Empty data section", "empty data section"),
]

# BIP173 listed these v1+ addresses as valid; BIP350 made them invalid (bech32, not bech32m).
SUPERSEDED_BIP173_VALID = [
    ("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx", 1),
    ("BC1SW50QA3JX3S", 16),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj", 2),
]

# --- Our own segwit vectors (checked against the BIP350 reference encoder) -----------------

PROGRAM_20 = bytes(range(1, 21))
PROGRAM_32 = hashlib.sha256(b"tbgpool").digest()

REGTEST_P2WPKH = "bcrt1qqypqxpq9qcrsszg2pvxq6rs0zqg3yyc5phstwt"
REGTEST_P2WSH = "bcrt1qrzsgtulqsekr4guv2fefwkrpgl6r9hesenuh6em2xdpxjlxsq9sstlkja2"
REGTEST_P2TR = "bcrt1przsgtulqsekr4guv2fefwkrpgl6r9hesenuh6em2xdpxjlxsq9sspgkm9k"
TESTNET_P2WPKH = "tb1qqypqxpq9qcrsszg2pvxq6rs0zqg3yyc5r7fxez"
MAINNET_V1_33_BYTES = "bc1przsgtulqsekr4guv2fefwkrpgl6r9hesenuh6em2xdpxjlxsq9sszpcgf5y"

# (address, network, substring of our message)
INVALID_SEGWIT_OURS = [
    (
        "bc1qqypqxpq9qcrsszg2pvxq6rs0zqg3yyc7yfh6w",
        "main",
        "invalid witness program length 19 for v0",
    ),
    (
        "bc1qqypqxpq9qcrsszg2pvxq6rs0zqg3yyc5qq4rz32s",
        "main",
        "invalid witness program length 21 for v0",
    ),
    ("bc1q9zpgru", "main", "invalid witness program length 0 for v0"),
    ("bc1qqypqxpq9qcrsszg2pvxq6rs0zqg3yyc5qms9mnw", "main", "padding of more than 4 bits"),
    ("bc1qrzsgtulqsekr4guv2fefwkrpgl6r9hesenuh6em2xdpxjlxsq9s3vc7w0d", "main", "non-zero padding"),
    (
        "bc1lrzsgtulqsekr4guv2fefwkrpgl6r9hesenuh6em2xdpxjlxsq9sse5x0al",
        "main",
        "invalid witness version 31",
    ),
    ("ltc1qqypqxpq9qcrsszg2pvxq6rs0zqg3yyc5dyg36p", "main", "unknown address prefix"),
    (REGTEST_P2WPKH, "main", "address is for regtest, pool runs on mainnet"),
    (REGTEST_P2WPKH, "signet", "address is for regtest, pool runs on signet"),
    (TESTNET_P2WPKH, "regtest", "address is for testnet/signet, pool runs on regtest"),
    (TESTNET_P2WPKH, "main", "address is for testnet/signet, pool runs on mainnet"),
    (
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "regtest",
        "address is for mainnet, pool runs on regtest",
    ),
]

# --- Base58Check ---------------------------------------------------------------------------

GENESIS_HASH160 = bytes.fromhex("62e907b15cbf27d5425399ebf6f0fb50ebb88f18")
GENESIS_P2PKH = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
GENESIS_P2PKH_SCRIPT = "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"
P2SH_EXAMPLE = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
P2SH_EXAMPLE_SCRIPT = "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87"

# (address, networks it is valid on, scriptPubKey hex, type)
VALID_BASE58 = [
    (GENESIS_P2PKH, ("main",), GENESIS_P2PKH_SCRIPT, "p2pkh"),
    (P2SH_EXAMPLE, ("main",), P2SH_EXAMPLE_SCRIPT, "p2sh"),
    # Leading '1's are leading zero bytes: an all-zero and a 0000-prefixed key hash.
    ("1111111111111111111114oLvT2", ("main",), "76a914" + "00" * 20 + "88ac", "p2pkh"),
    ("1115dfKdSNuU75eToA4NdU2TPpxLxVAKa", ("main",), "76a9140000" + "11" * 18 + "88ac", "p2pkh"),
    ("31h1vYVSYuKP6AhS86fbRdMw9XHieotbST", ("main",), "a914" + "00" * 20 + "87", "p2sh"),
    # The test networks share version bytes 0x6f ('m'/'n') and 0xc4 ('2').
    ("mpXwg4jMtRhuSpVq4xS3HFHmCmWp9NyGKt", NETWORKS[1:], GENESIS_P2PKH_SCRIPT, "p2pkh"),
    ("mfWxJ45yp2SFn7UciZyNpvDKrzbhyfKrY8", NETWORKS[1:], "76a914" + "00" * 20 + "88ac", "p2pkh"),
    ("n4rZHAPGXCu8bYchjzJhK3V7VVreascJxe", NETWORKS[1:], "76a914" + "ff" * 20 + "88ac", "p2pkh"),
    (
        "n3GNqMveyvaPvUbH469vDRadqpJMPc84JA",
        NETWORKS[1:],
        "76a914ee9103399bfb42a091a7b537bed4a8552e9611ca88ac",
        "p2pkh",
    ),
    (
        "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc",
        NETWORKS[1:],
        "a9144e9f39ca4688ff102128ea4ccda34105324305b087",
        "p2sh",
    ),
]

_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _base58check(payload: bytes) -> str:
    """Encode ``payload`` plus its double-SHA256 checksum; written apart from the decoder."""
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(raw, "big")
    digits = []
    while number:
        number, digit = divmod(number, 58)
        digits.append(_BASE58_ALPHABET[digit])
    leading_zeros = len(raw) - len(raw.lstrip(b"\x00"))
    return "1" * leading_zeros + "".join(reversed(digits))


def _segwit_script(version: int, program: bytes) -> bytes:
    """The scriptPubKey of a witness program, built as BIP141 describes."""
    return bytes([0x50 + version if version else 0, len(program)]) + program


class AddressTestCase(SynchronousTestCase):
    """Shared assertions for error messages."""

    def assertRejected(self, address: object, network: str, reason: str | None = None) -> str:
        """Assert ``address`` raises AddressError (containing ``reason``) without echoing it."""
        with self.assertRaises(AddressError) as caught:
            decode_address(address, network)  # type: ignore[arg-type]
        message = str(caught.exception)
        if reason is not None:
            self.assertIn(reason, message)
        if isinstance(address, str):
            for start in range(len(address) - 7):
                self.assertNotIn(address[start : start + 8], message)
        return message


class Bech32ChecksumTests(SynchronousTestCase):
    """bech32_decode on the BIP173/BIP350 generic checksum vectors."""

    def test_valid_bech32(self) -> None:
        """every BIP173 valid string decodes as bech32 with its lower-case HRP."""
        for text in VALID_BECH32:
            hrp, _, encoding = bech32_decode(text)
            self.assertIs(encoding, Encoding.BECH32, text)
            self.assertEqual(hrp, text[: text.rfind("1")].lower())

    def test_valid_bech32m(self) -> None:
        """every BIP350 valid string decodes as bech32m with its lower-case HRP."""
        for text in VALID_BECH32M:
            hrp, _, encoding = bech32_decode(text)
            self.assertIs(encoding, Encoding.BECH32M, text)
            self.assertEqual(hrp, text[: text.rfind("1")].lower())

    def test_data_symbols(self) -> None:
        """the returned data is the 5-bit symbols before the checksum, in order."""
        self.assertEqual(bech32_decode("a12uel5l"), ("a", b"", Encoding.BECH32))
        _, data, _ = bech32_decode("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw")
        self.assertEqual(data, bytes(range(32)))
        _, data, _ = bech32_decode("abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx")
        self.assertEqual(data, bytes(reversed(range(32))))
        hrp, data, _ = bech32_decode(VALID_BECH32[4])
        self.assertEqual((hrp, data), ("1", bytes(82)))

    def test_single_change_after_separator_rejected(self) -> None:
        """flipping the first data character of any valid string breaks its checksum."""
        for text in VALID_BECH32 + VALID_BECH32M:
            position = text.rfind("1") + 1
            broken = text[:position] + chr(ord(text[position]) ^ 1) + text[position + 1 :]
            self.assertRaises(AddressError, bech32_decode, broken)

    def test_invalid_bech32(self) -> None:
        """every BIP173 invalid string is rejected with the matching reason."""
        for text, _bip_reason, reason in INVALID_BECH32:
            with self.assertRaises(AddressError) as caught:
                bech32_decode(text)
            self.assertIn(reason, str(caught.exception), repr(text))

    def test_invalid_bech32m(self) -> None:
        """every BIP350 invalid string is rejected with the matching reason."""
        for text, _bip_reason, reason in INVALID_BECH32M:
            with self.assertRaises(AddressError) as caught:
                bech32_decode(text)
            self.assertIn(reason, str(caught.exception), repr(text))

    def test_not_text(self) -> None:
        """bech32_decode rejects bytes and other non-str input with AddressError."""
        self.assertRaises(AddressError, bech32_decode, b"a12uel5l")
        self.assertRaises(AddressError, bech32_decode, None)

    def test_convert_bits(self) -> None:
        """convert_bits regroups bits, pads on request, and rejects out-of-range values."""
        self.assertEqual(convert_bits(b"\xff", 8, 5, pad=True), bytes([31, 28]))
        self.assertEqual(convert_bits(bytes([31, 28]), 5, 8, pad=False), b"\xff")
        self.assertRaises(AddressError, convert_bits, bytes([32]), 5, 8, False)
        self.assertEqual(CHARSET[0] + CHARSET[31], "ql")


class SegwitVectorTests(AddressTestCase):
    """decode_address on the BIP173/BIP350 segwit address vectors."""

    def test_valid_on_own_network(self) -> None:
        """each valid vector decodes to its scriptPubKey and type on its HRP's networks."""
        for address, script_hex, kind in VALID_SEGWIT:
            for network in NETWORKS_FOR_HRP[address[:2].lower()]:
                self.assertEqual(decode_address(address, network).hex(), script_hex, address)
                self.assertEqual(address_type(address, network), kind, address)

    def test_valid_vector_scripts_match_bip141(self) -> None:
        """each valid vector's scriptPubKey is OP_n, a push of the program, the program."""
        for address, script_hex, _ in VALID_SEGWIT:
            _, data, _ = bech32_decode(address)
            program = convert_bits(data[1:], 5, 8, pad=False)
            self.assertEqual(_segwit_script(data[0], program).hex(), script_hex)

    def test_valid_rejected_on_other_networks(self) -> None:
        """each valid vector is refused, naming the network, everywhere its HRP is not."""
        for address, _, _ in VALID_SEGWIT:
            home = NETWORKS_FOR_HRP[address[:2].lower()]
            for network in NETWORKS:
                if network not in home:
                    self.assertRejected(address, network, "address is for ")

    def test_bip350_invalid(self) -> None:
        """each BIP350 invalid address is rejected with its reason, and on every network."""
        for address, _bip_reason, reason in INVALID_SEGWIT_BIP350:
            home = NETWORKS_FOR_HRP.get(address[:2].lower(), ("main",))
            for network in NETWORKS:
                self.assertRejected(address, network, reason if network in home else None)

    def test_bip173_invalid(self) -> None:
        """each BIP173 invalid address is rejected with its reason, and on every network."""
        for address, _bip_reason, reason in INVALID_SEGWIT_BIP173:
            home = NETWORKS_FOR_HRP.get(address[:2].lower(), ("main",))
            for network in NETWORKS:
                self.assertRejected(address, network, reason if network in home else None)

    def test_bip173_v1_plus_superseded(self) -> None:
        """BIP173's bech32 v1+ examples are rejected: BIP350 requires bech32m for them."""
        for address, version in SUPERSEDED_BIP173_VALID:
            self.assertRejected(address, "main", f"bech32 checksum used for witness v{version}")


class SegwitRuleTests(AddressTestCase):
    """Network, length, version and padding rules on our own segwit vectors."""

    def test_regtest_addresses(self) -> None:
        """bcrt addresses decode on regtest to P2WPKH, P2WSH and P2TR scripts."""
        cases: list[tuple[str, bytes, AddressType]] = [
            (REGTEST_P2WPKH, _segwit_script(0, PROGRAM_20), "p2wpkh"),
            (REGTEST_P2WSH, _segwit_script(0, PROGRAM_32), "p2wsh"),
            (REGTEST_P2TR, _segwit_script(1, PROGRAM_32), "p2tr"),
            (REGTEST_P2WPKH.upper(), _segwit_script(0, PROGRAM_20), "p2wpkh"),
        ]
        for address, script, kind in cases:
            self.assertEqual(parse_address(address, "regtest"), PayoutAddress(script, kind))

    def test_testnet_address_on_all_test_networks(self) -> None:
        """a tb address is valid on test, testnet4 and signet."""
        for network in ("test", "testnet4", "signet"):
            self.assertEqual(decode_address(TESTNET_P2WPKH, network), _segwit_script(0, PROGRAM_20))

    def test_our_invalid_vectors(self) -> None:
        """crafted addresses break one rule each and get that rule's message."""
        for address, network, reason in INVALID_SEGWIT_OURS:
            self.assertRejected(address, network, reason)

    def test_v1_non_taproot_lengths_are_witness_unknown(self) -> None:
        """v1 programs other than 32 bytes decode, typed witness_unknown."""
        self.assertEqual(address_type(MAINNET_V1_33_BYTES, "main"), "witness_unknown")
        self.assertEqual(
            decode_address(MAINNET_V1_33_BYTES, "main"), _segwit_script(1, PROGRAM_32 + b"\x01")
        )

    def test_every_single_substitution_rejected(self) -> None:
        """replacing any one character of a P2WPKH address with any other is always refused."""
        address = VALID_SEGWIT[0][0].lower()
        replacements = [chr(code) for code in range(33, 127)]
        for position, original in enumerate(address):
            for char in replacements:
                if char == original:
                    continue
                mutated = address[:position] + char + address[position + 1 :]
                for network in ("main", "test"):
                    self.assertRaises(AddressError, decode_address, mutated, network)


class Base58Tests(AddressTestCase):
    """Base58Check P2PKH and P2SH addresses."""

    def test_helper_matches_known_addresses(self) -> None:
        """the test's own encoder reproduces the published genesis and P2SH addresses."""
        self.assertEqual(_base58check(b"\x00" + GENESIS_HASH160), GENESIS_P2PKH)
        p2sh_hash = bytes.fromhex(P2SH_EXAMPLE_SCRIPT[4:-2])
        self.assertEqual(_base58check(b"\x05" + p2sh_hash), P2SH_EXAMPLE)

    def test_valid_addresses(self) -> None:
        """known addresses decode to their scriptPubKey and type on their networks."""
        for address, networks, script_hex, kind in VALID_BASE58:
            for network in networks:
                self.assertEqual(decode_address(address, network).hex(), script_hex, address)
                self.assertEqual(address_type(address, network), kind, address)

    def test_valid_addresses_reencode(self) -> None:
        """each known address is the independent encoding of its script's hash and version."""
        versions = {("main", "p2pkh"): 0x00, ("main", "p2sh"): 0x05}
        for address, networks, script_hex, kind in VALID_BASE58:
            script = bytes.fromhex(script_hex)
            key_hash = script[3:23] if kind == "p2pkh" else script[2:22]
            version = versions.get((networks[0], kind), 0x6F if kind == "p2pkh" else 0xC4)
            self.assertEqual(_base58check(bytes([version]) + key_hash), address)

    def test_wrong_network(self) -> None:
        """a mainnet address is refused on test networks and vice versa, naming both."""
        self.assertRejected(
            GENESIS_P2PKH, "regtest", "address is for mainnet, pool runs on regtest"
        )
        self.assertRejected(P2SH_EXAMPLE, "signet", "address is for mainnet, pool runs on signet")
        for address, networks, _, _ in VALID_BASE58:
            if networks != ("main",):
                self.assertRejected(address, "main", "pool runs on mainnet")

    def test_corrupted_checksum(self) -> None:
        """changing the last character of a valid address fails the checksum."""
        self.assertRejected(GENESIS_P2PKH[:-1] + "b", "main", "bad base58 checksum")
        self.assertRejected(P2SH_EXAMPLE[:-1] + "z", "main", "bad base58 checksum")

    def test_extra_leading_one(self) -> None:
        """an extra leading '1' adds a zero byte, so the checksum no longer matches."""
        self.assertRejected("1" + GENESIS_P2PKH, "main", "bad base58 checksum")

    def test_unknown_version_byte(self) -> None:
        """a checksum-valid payload with a foreign version byte is an unknown prefix."""
        for version in (0x01, 0x30, 0x32, 0x80, 0xFF):
            address = _base58check(bytes([version]) + GENESIS_HASH160)
            self.assertRejected(
                address, "main", f"unknown address prefix (base58 version byte 0x{version:02x})"
            )

    def test_wrong_payload_length(self) -> None:
        """payloads of 20 or 22 bytes are refused with the length."""
        self.assertRejected(
            _base58check(b"\x00" + GENESIS_HASH160[:19]), "main", "payload length 20 bytes"
        )
        self.assertRejected(
            _base58check(b"\x00" + GENESIS_HASH160 + b"\x00"), "main", "payload length 22 bytes"
        )
        self.assertRejected(_base58check(b""), "main", "payload length 0 bytes")

    def test_too_short(self) -> None:
        """a string decoding to fewer than four bytes cannot hold a checksum."""
        self.assertRejected("1", "main", "too short")
        self.assertRejected("2g", "test", "too short")

    def test_private_key_refused(self) -> None:
        """a WIF private key is refused with a warning and is not echoed."""
        uncompressed = "5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ"
        compressed = "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn"
        testnet = _base58check(b"\xef" + bytes(31) + b"\x01" + b"\x01")
        for key, network in ((uncompressed, "main"), (compressed, "main"), (testnet, "regtest")):
            self.assertRejected(key, network, "private key")

    def test_random_round_trip(self) -> None:
        """random key and script hashes, encoded independently, decode to their scripts."""
        rng = random.Random(173350)
        for _ in range(200):
            key_hash = rng.randbytes(20)
            for network, p2pkh_version, p2sh_version in (
                ("main", 0x00, 0x05),
                ("regtest", 0x6F, 0xC4),
            ):
                p2pkh = _base58check(bytes([p2pkh_version]) + key_hash)
                p2sh = _base58check(bytes([p2sh_version]) + key_hash)
                self.assertEqual(
                    decode_address(p2pkh, network), b"\x76\xa9\x14" + key_hash + b"\x88\xac"
                )
                self.assertEqual(decode_address(p2sh, network), b"\xa9\x14" + key_hash + b"\x87")

    def test_every_single_substitution_rejected(self) -> None:
        """replacing any one character of the genesis address with another digit is refused."""
        for position, original in enumerate(GENESIS_P2PKH):
            for char in _BASE58_ALPHABET:
                if char != original:
                    mutated = GENESIS_P2PKH[:position] + char + GENESIS_P2PKH[position + 1 :]
                    self.assertRaises(AddressError, decode_address, mutated, "main")

    def test_characters_outside_alphabet(self) -> None:
        """'0', 'O', 'I' and 'l' are not base58 digits."""
        for char in "0OIl":
            self.assertRejected(GENESIS_P2PKH[:-1] + char, "main", "not a base58 or bech32 address")


class InputHygieneTests(AddressTestCase):
    """Hostile or malformed input gets a clear AddressError, never a traceback."""

    def test_max_length(self) -> None:
        """MAX_ADDRESS_LENGTH is 90 and anything longer is refused before decoding."""
        self.assertEqual(MAX_ADDRESS_LENGTH, 90)
        self.assertRejected("q" * 91, "main", "too long (91 characters")
        self.assertRejected("bc1" + "q" * 10**6, "main", "too long (1000003 characters")

    def test_empty(self) -> None:
        """the empty string is refused."""
        self.assertRejected("", "main", "empty address")

    def test_whitespace(self) -> None:
        """leading, trailing or inner whitespace is refused with its position."""
        self.assertRejected(" " + GENESIS_P2PKH, "main", "whitespace at position 0")
        self.assertRejected(GENESIS_P2PKH + "\n", "main", "whitespace at position 34")
        self.assertRejected("bc1q\tw508d6", "main", "whitespace at position 4")

    def test_control_and_non_ascii(self) -> None:
        """control characters and non-ASCII characters are refused with their position."""
        self.assertRejected("1A1z\x00P1eP5", "main", "control character at position 4")
        self.assertRejected("bc1q\x7f", "main", "control character at position 4")
        self.assertRejected("bc1q\u00e9", "main", "non-ASCII character at position 4")
        self.assertRejected("\u200b" + GENESIS_P2PKH, "main", "non-ASCII character at position 0")
        self.assertRejected("\uff11A1zP1eP5", "main", "non-ASCII character at position 0")

    def test_not_a_string(self) -> None:
        """bytes, numbers and None are refused with AddressError."""
        for value in (GENESIS_P2PKH.encode(), 12345, None, ["1A1z"]):
            self.assertRejected(value, "main", "address must be a string")

    def test_garbage(self) -> None:
        """strings that are neither base58 nor bech32 are refused as such."""
        self.assertRejected("hello!", "main", "not a base58 or bech32 address")
        self.assertRejected("<script>alert(1)</script>", "main", None)
        self.assertRejected("bc1" + "EVIL" * 10, "main", None)

    def test_unknown_network(self) -> None:
        """a network name getblockchaininfo never reports is a ValueError, not AddressError."""
        for network in ("mainnet", "Main", "testnet", "", None):
            with self.assertRaises(ValueError) as caught:
                decode_address(GENESIS_P2PKH, network)  # type: ignore[arg-type]
            self.assertNotIsInstance(caught.exception, AddressError)
