"""Property tests (Hypothesis): round trips, monotone difficulty, and no surprise exceptions.

Every example runs in well under a second; ``max_examples`` keeps the suite fast.
Under CI (``CI`` set) the examples are derandomized, so a run is reproducible.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from fuzz.harness import HARD_BITS, check_lines, split_output
from tbgpool.address import parse_address
from tbgpool.base58 import base58check_decode
from tbgpool.bech32 import Encoding, bech32_decode, convert_bits
from tbgpool.coinbase_tag import validate_coinbase_tag
from tbgpool.difficulty import (
    MAX_TARGET,
    difficulty_for_target,
    hash_difficulty,
    target_for_difficulty,
)
from tbgpool.errors import AddressError
from tbgpool.stratum import fields
from tbgpool.stratum.errors import StratumError
from tbgpool.stratum.protocol import StratumFactory, StratumProtocol
from tbgpool.testing import encode_base58check, encode_segwit_address, make_template
from tests.helpers import REGTEST_P2WPKH, PoolHarness

PROPERTY = settings(
    deadline=None,
    max_examples=200,
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Fewer examples where each builds whole pools.
POOL_PROPERTY = settings(PROPERTY, max_examples=60)

NETWORKS = ("main", "test", "testnet4", "signet", "regtest")
#: network -> (segwit HRP, P2PKH version, P2SH version)
PREFIXES = {
    "main": ("bc", 0x00, 0x05),
    "test": ("tb", 0x6F, 0xC4),
    "testnet4": ("tb", 0x6F, 0xC4),
    "signet": ("tb", 0x6F, 0xC4),
    "regtest": ("bcrt", 0x6F, 0xC4),
}

# What json.loads can hand a handler: text with lone surrogates, any int, NaN and infinities.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(["00000000", "ffffffff", "0x123456", " 1234567", "１２３４５６７８", "\ud800"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)

hash20 = st.binary(min_size=20, max_size=20)
hash32 = st.binary(min_size=32, max_size=32)
positive_difficulty = st.floats(min_value=1e-12, max_value=1e30, allow_nan=False)


@st.composite
def addresses(draw: st.DrawFn) -> tuple[str, str, bytes, str]:
    """(address, network, scriptPubKey, type) of any kind for any network."""
    network = draw(st.sampled_from(NETWORKS))
    hrp, p2pkh, p2sh = PREFIXES[network]
    kind = draw(st.sampled_from(["p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr", "witness_unknown"]))
    if kind == "p2pkh":
        h = draw(hash20)
        return encode_base58check(p2pkh, h), network, b"\x76\xa9\x14" + h + b"\x88\xac", kind
    if kind == "p2sh":
        h = draw(hash20)
        return encode_base58check(p2sh, h), network, b"\xa9\x14" + h + b"\x87", kind
    if kind == "p2wpkh":
        h = draw(hash20)
        return encode_segwit_address(hrp, 0, h), network, b"\x00\x14" + h, kind
    if kind == "p2wsh":
        h = draw(hash32)
        return encode_segwit_address(hrp, 0, h), network, b"\x00\x20" + h, kind
    if kind == "p2tr":
        h = draw(hash32)
        return encode_segwit_address(hrp, 1, h), network, b"\x51\x20" + h, kind
    version = draw(st.integers(1, 16))
    program = draw(st.binary(min_size=2, max_size=40))
    assume(not (version == 1 and len(program) == 32))
    script = bytes([0x50 + version, len(program)]) + program
    return encode_segwit_address(hrp, version, program), network, script, kind


class RoundTripTests(SynchronousTestCase):
    """Encoding then decoding gives back what went in."""

    @PROPERTY
    @given(st.integers(0, 255), st.binary(max_size=40))
    def test_base58check(self, version: int, payload: bytes) -> None:
        """base58check_decode inverts Base58Check encoding of any version and payload"""
        self.assertEqual(
            base58check_decode(encode_base58check(version, payload)), bytes([version]) + payload
        )

    @PROPERTY
    @given(addresses(), st.booleans())
    def test_addresses_of_every_type_and_network(
        self, address: tuple[str, str, bytes, str], upper: bool
    ) -> None:
        """every address type of every network parses to its script (bech32 in either case)"""
        text, network, script, kind = address
        if upper and kind not in ("p2pkh", "p2sh"):
            text = text.upper()
        payout = parse_address(text, network)
        self.assertEqual((payout.script_pubkey, payout.address_type), (script, kind))

    @PROPERTY
    @given(st.sampled_from(["bc", "tb", "bcrt"]), st.integers(0, 16), st.binary(min_size=2, max_size=40))
    def test_bech32_and_bech32m(self, hrp: str, version: int, program: bytes) -> None:
        """bech32 (v0) and bech32m (v1+) strings decode to the HRP, version and program"""
        decoded_hrp, data, encoding = bech32_decode(encode_segwit_address(hrp, version, program))
        self.assertEqual(decoded_hrp, hrp)
        self.assertEqual(data[0], version)
        self.assertEqual(convert_bits(data[1:], 5, 8, pad=False), program)
        self.assertIs(encoding, Encoding.BECH32 if version == 0 else Encoding.BECH32M)

    @PROPERTY
    @given(st.integers(0, 0xFFFFFFFF), st.booleans())
    def test_hex_u32(self, n: int, upper: bool) -> None:
        """fields.hex_u32 of n as 8 hex digits (either case) is n"""
        text = f"{n:08X}" if upper else f"{n:08x}"
        self.assertEqual(fields.hex_u32(text, "nonce"), n)

    @PROPERTY
    @given(st.integers(1, 16).flatmap(lambda n: st.binary(min_size=n, max_size=n)), st.booleans())
    def test_extranonce2(self, extranonce2: bytes, upper: bool) -> None:
        """fields.extranonce2 of the hex of n bytes gives those bytes back"""
        text = extranonce2.hex().upper() if upper else extranonce2.hex()
        self.assertEqual(fields.extranonce2(text, len(extranonce2)), extranonce2)


class DifficultyTests(SynchronousTestCase):
    """The difficulty/target helpers are monotone and stay in range."""

    @PROPERTY
    @given(positive_difficulty, positive_difficulty)
    def test_target_falls_as_difficulty_rises(self, a: float, b: float) -> None:
        """a higher difficulty never has a higher target; targets stay within 0..MAX_TARGET"""
        low, high = sorted((a, b))
        self.assertGreaterEqual(target_for_difficulty(low), target_for_difficulty(high))
        self.assertTrue(0 <= target_for_difficulty(high) <= MAX_TARGET)

    @PROPERTY
    @given(st.integers(1, MAX_TARGET), st.integers(1, MAX_TARGET))
    def test_difficulty_falls_as_target_rises(self, a: int, b: int) -> None:
        """difficulty_for_target and hash_difficulty never rise with the target or hash"""
        low, high = sorted((a, b))
        self.assertGreaterEqual(difficulty_for_target(low), difficulty_for_target(high))
        self.assertGreaterEqual(hash_difficulty(low), hash_difficulty(high))

    @PROPERTY
    @given(positive_difficulty)
    def test_share_at_target_meets_difficulty(self, difficulty: float) -> None:
        """a hash equal to the target of a difficulty achieves at least (almost) that difficulty"""
        target = target_for_difficulty(difficulty)
        assume(target > 0)
        self.assertGreaterEqual(hash_difficulty(target), difficulty * (1 - 1e-12))


class NoSurpriseTests(SynchronousTestCase):
    """On any input, only the documented exception."""

    @PROPERTY
    @given(json_values, st.integers(1, 16))
    def test_fields(self, value: Any, size: int) -> None:
        """every stratum.fields check raises only StratumError, whatever JSON value it gets"""
        checks = [
            lambda: fields.hex_u32(value, "ntime"),
            lambda: fields.job_id(value),
            lambda: fields.hex_bytes(value, size, "target"),
            lambda: fields.extranonce2(value, size),
            lambda: fields.split_username(value),
            lambda: fields.difficulty(value),
        ]
        for check in checks:
            try:
                check()
            except StratumError as e:
                self.assertIsInstance(e.message, str)
        agent = fields.user_agent(value)
        self.assertLessEqual(len(agent), 256)
        self.assertTrue(all(" " <= c <= "~" for c in agent), agent)

    @PROPERTY
    @given(json_values)
    def test_difficulty_field_is_positive_and_finite(self, value: Any) -> None:
        """fields.difficulty returns only positive finite floats"""
        try:
            number = fields.difficulty(value)
        except StratumError:
            return
        self.assertTrue(math.isfinite(number) and number > 0)

    @PROPERTY
    @given(st.text(max_size=100) | st.text(alphabet="qpzry9x8gf2tvdw0s3jn54khce6mua7l1bBcCtT",
                                            max_size=95),
           st.sampled_from(NETWORKS))
    def test_parse_address(self, text: str, network: str) -> None:
        """parse_address raises only AddressError, whatever the text"""
        try:
            parse_address(text, network)
        except AddressError as e:
            self.assertTrue(all(" " <= c <= "~" for c in str(e)), str(e))

    @PROPERTY
    @given(st.text(max_size=80) | st.binary(max_size=80) | json_values)
    def test_coinbase_tag(self, value: Any) -> None:
        """validate_coinbase_tag raises only ValueError; what it accepts is printable ASCII"""
        try:
            tag = validate_coinbase_tag(value)
        except ValueError:
            return
        self.assertTrue(1 <= len(tag) <= 73)
        self.assertTrue(all(0x20 <= b <= 0x7E for b in tag))
        self.assertNotEqual(tag[:1], b" ")
        self.assertNotEqual(tag[-1:], b" ")


# Real lines the line-handling properties are built from.
LINES = [
    b'{"id":1,"method":"mining.configure","params":[["version-rolling"],'
    b'{"version-rolling.mask":"ffffffff"}]}\n',
    b'{"id":"xnsub","method":"mining.subscribe","params":["bitaxe/2.4.1"]}\n',
    b'{"id":3,"method":"mining.authorize","params":["' + REGTEST_P2WPKH.encode()
    + b'.rig","x"]}\r\n',
    b'{"id":4,"method":"mining.suggest_difficulty","params":[0.001]}\n',
    b'{"id":5,"method":"mining.submit","params":["' + REGTEST_P2WPKH.encode()
    + b'.rig","2","0000000000000000","6553f100","00000000"]}\n',
    b'{"id":6,"method":"mining.multi_version","params":[1]}\n',
    b'{"id":NaN,"method":"mining.suggest_difficulty","params":[Infinity]}\n',
    b"GET / HTTP/1.1\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00",
    b"\n",
]
traffic = st.lists(st.sampled_from(LINES) | st.binary(max_size=40), max_size=8).map(b"".join)


class LineHandlingTests(SynchronousTestCase):
    """The protocol on a StringTransport: any bytes, any split."""

    def feed(self, chunks: list[bytes]) -> bytes:
        """Feed ``chunks`` to a new connection of a new pool; close; return what was written."""
        harness = PoolHarness(self.mktemp())
        harness.source.push(make_template(bits=HARD_BITS, curtime=int(harness.clock.seconds())))
        address = IPv4Address("TCP", "127.0.0.1", 40000)
        proto = StratumFactory(harness.pool).buildProtocol(address)
        assert isinstance(proto, StratumProtocol)
        transport = StringTransport(peerAddress=address)
        proto.makeConnection(transport)
        for chunk in chunks:
            proto.dataReceived(chunk)
        proto.connectionLost()
        self.assertEqual(harness.pool.sessions, set())
        return transport.value()

    @POOL_PROPERTY
    @given(traffic)
    def test_any_bytes(self, data: bytes) -> None:
        """any bytes: no exception, and every line written is a reply or a notification"""
        written = self.feed([data])
        if not written.startswith(b"HTTP/"):
            for message in check_lines(split_output(written)):
                json.dumps(message)

    @POOL_PROPERTY
    @given(traffic.flatmap(lambda data: st.tuples(st.just(data), st.integers(0, len(data)))))
    def test_split_anywhere(self, data_and_cut: tuple[bytes, int]) -> None:
        """the same bytes split at any offset get exactly the same output as unsplit"""
        data, cut = data_and_cut
        self.assertEqual(self.feed([data[:cut], data[cut:]]), self.feed([data]))
