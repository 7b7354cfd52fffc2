"""Tests for tbgpool.sha256 and the C module behind it, on every implementation this CPU has."""

from __future__ import annotations

import hashlib
import os
import platform
import random
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from tbgpool import sha256
from tbgpool._sha256 import ffi, lib  # type: ignore[attr-defined]

# Lengths around every padding boundary (55/56 bytes: length field fits or not; 63/64/65:
# block edges; 119/120: the same in the second block), then a few KiB.
_MESSAGE_LENGTHS = [*range(301), 1000, 1024, 4095, 4096, 4097, 8191]

# The genesis block's only transaction ("The Times 03/Jan/2009 ..."), so its txid is the
# merkle root and the branch is empty.
_GENESIS_COINBASE = bytes.fromhex(
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04"
    "ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e20"
    "6272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01"
    "000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4c"
    "ef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)
_GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
_GENESIS_TIME = 1231006505
_GENESIS_BITS = 0x1D00FFFF
_GENESIS_NONCE = 2083236893

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_ARM_KAT_SCRIPT = _PROJECT_ROOT / "tests" / "c" / "run_arm_kat.sh"


def _hashlib_sha256d(data: bytes) -> bytes:
    """SHA256d computed with hashlib, the reference for the C module."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _reference_share_hash(
    coinbase: bytes,
    merkle_branch: list[bytes],
    version: int,
    prevhash: bytes,
    ntime: int,
    bits: int,
    nonce: int,
) -> bytes:
    """Share hash written out step by step with hashlib and struct."""
    root = _hashlib_sha256d(coinbase)
    for branch_hash in merkle_branch:
        root = _hashlib_sha256d(root + branch_hash)
    header = struct.pack("<I", version) + prevhash + root + struct.pack("<III", ntime, bits, nonce)
    assert len(header) == 80
    return _hashlib_sha256d(header)


def _cpu_flags() -> set[str]:
    """The flags Linux lists for the first CPU in /proc/cpuinfo (empty if unreadable)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


class _EveryImplementationTestCase(SynchronousTestCase):
    """Base for tests that repeat a check on each available implementation."""

    def setUp(self) -> None:
        """Restore the implementation in use when the test ends, whatever it switched to."""
        self.addCleanup(sha256.use_implementation, sha256.implementation())

    def each_implementation(self) -> Iterator[str]:
        """Switch to each available implementation in turn, yielding its name."""
        names = sha256.available_implementations()
        self.assertIn("generic", names)
        for name in names:
            sha256.use_implementation(name)
            self.assertEqual(sha256.implementation(), name)
            yield name


class HashFunctionTests(_EveryImplementationTestCase):
    """sha256 and sha256d agree with hashlib and the FIPS 180-4 examples."""

    def test_sha256_matches_hashlib_at_every_boundary_length(self) -> None:
        """sha256 equals hashlib on random inputs of 0..300 bytes and a few KiB."""
        rng = random.Random(0x5A256)
        messages = [rng.randbytes(length) for length in _MESSAGE_LENGTHS]
        for name in self.each_implementation():
            for message in messages:
                self.assertEqual(
                    sha256.sha256(message),
                    hashlib.sha256(message).digest(),
                    f"{name}, {len(message)} bytes",
                )

    def test_sha256d_matches_hashlib_at_every_boundary_length(self) -> None:
        """sha256d equals hashlib applied twice on random inputs of 0..300 bytes and a few KiB."""
        rng = random.Random(0xD256)
        messages = [rng.randbytes(length) for length in _MESSAGE_LENGTHS]
        for name in self.each_implementation():
            for message in messages:
                self.assertEqual(
                    sha256.sha256d(message),
                    _hashlib_sha256d(message),
                    f"{name}, {len(message)} bytes",
                )

    def test_fips_180_examples(self) -> None:
        """sha256 gives the FIPS 180-4 digests of "abc", the 448-bit and 896-bit messages."""
        vectors = {
            b"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq": (
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
            (
                b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                b"hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
            ): "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
        }
        for name in self.each_implementation():
            for message, digest_hex in vectors.items():
                self.assertEqual(sha256.sha256(message).hex(), digest_hex, name)

    def test_million_a(self) -> None:
        """sha256 of one million "a" bytes is the FIPS 180-4 long-message digest."""
        message = b"a" * 1_000_000
        for name in self.each_implementation():
            self.assertEqual(
                sha256.sha256(message).hex(),
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
                name,
            )

    def test_mainnet_header_block_125552(self) -> None:
        """sha256d of block 125552's 80-byte header is its known block hash."""
        prev_block = "00000000000008a3a41b85b8b29ad444def299fee21793cd8b9e567eab02cd81"
        merkle_root = "2b12fcf1b09288fcaff797d71e950e71ae42b91e8bdb2304758dfcffc2b620e3"
        header = (
            struct.pack("<I", 1)
            + bytes.fromhex(prev_block)[::-1]
            + bytes.fromhex(merkle_root)[::-1]
            + struct.pack("<III", 1305998791, 0x1A44B9F2, 2504433986)
        )
        for name in self.each_implementation():
            self.assertEqual(
                sha256.sha256d(header)[::-1].hex(),
                "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d",
                name,
            )


class ShareHashTests(_EveryImplementationTestCase):
    """share_hash agrees with a hashlib reference and with real blocks."""

    def test_genesis_block_from_split_coinbase(self) -> None:
        """share_hash of the genesis coinbase, split anywhere into four parts, is the genesis hash."""
        length = len(_GENESIS_COINBASE)
        splits = [(0, 0, 0), (length, length, length), (41, 45, 49), (0, 100, 100), (5, 5, 200)]
        splits += [(cut, cut + 4, cut + 12) for cut in range(0, length - 12, 7)]
        for name in self.each_implementation():
            for en1_start, en2_start, coinb2_start in splits:
                digest = sha256.share_hash(
                    coinb1=_GENESIS_COINBASE[:en1_start],
                    extranonce1=_GENESIS_COINBASE[en1_start:en2_start],
                    extranonce2=_GENESIS_COINBASE[en2_start:coinb2_start],
                    coinb2=_GENESIS_COINBASE[coinb2_start:],
                    merkle_branch=b"",
                    version=1,
                    prevhash=bytes(32),
                    ntime=_GENESIS_TIME,
                    bits=_GENESIS_BITS,
                    nonce=_GENESIS_NONCE,
                )
                self.assertEqual(
                    digest[::-1].hex(),
                    _GENESIS_HASH,
                    f"{name}, split {en1_start}/{en2_start}/{coinb2_start}",
                )

    def test_genesis_hash_meets_its_target(self) -> None:
        """The little-endian integer of the genesis share hash is below the bits-encoded target."""
        digest = sha256.share_hash(
            _GENESIS_COINBASE[:50], b"", b"", _GENESIS_COINBASE[50:], b"", 1, bytes(32),
            _GENESIS_TIME, _GENESIS_BITS, _GENESIS_NONCE,
        )  # fmt: skip
        target = (_GENESIS_BITS & 0xFFFFFF) << (8 * ((_GENESIS_BITS >> 24) - 3))
        self.assertLess(int.from_bytes(digest, "little"), target)

    def test_matches_reference_on_random_shares(self) -> None:
        """share_hash equals the hashlib reference on random coinbases, branches and fields."""
        rng = random.Random(0x5_4A4E)
        branch_counts = [0, 1, 2, 3, 7, 12, 16, sha256.MAX_MERKLE_BRANCH_COUNT]
        edge_values = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
        cases = []
        for case_number in range(120):
            branch_count = branch_counts[case_number % len(branch_counts)]
            cases.append(
                (
                    rng.randbytes(rng.randrange(0, 200)),
                    rng.randbytes(rng.randrange(0, 9)),
                    rng.randbytes(rng.randrange(0, 9)),
                    rng.randbytes(rng.randrange(0, 300)),
                    [rng.randbytes(32) for _ in range(branch_count)],
                    rng.choice(edge_values + [rng.getrandbits(32)]),
                    rng.randbytes(32),
                    rng.choice(edge_values + [rng.getrandbits(32)]),
                    rng.choice(edge_values + [rng.getrandbits(32)]),
                    rng.choice(edge_values + [rng.getrandbits(32)]),
                )
            )
        for name in self.each_implementation():
            for coinb1, en1, en2, coinb2, branch, version, prevhash, ntime, bits, nonce in cases:
                expected = _reference_share_hash(
                    coinb1 + en1 + en2 + coinb2, branch, version, prevhash, ntime, bits, nonce
                )
                digest = sha256.share_hash(
                    coinb1,
                    en1,
                    en2,
                    coinb2,
                    b"".join(branch),
                    version,
                    prevhash,
                    ntime,
                    bits,
                    nonce,
                )
                self.assertEqual(digest, expected, f"{name}, {len(branch)} branch hashes")

    def test_largest_coinbase_accepted(self) -> None:
        """A coinbase of exactly MAX_COINBASE_BYTES hashes like the reference."""
        coinbase = bytes(range(256)) * (sha256.MAX_COINBASE_BYTES // 256)
        self.assertEqual(len(coinbase), sha256.MAX_COINBASE_BYTES)
        expected = _reference_share_hash(coinbase, [], 2, bytes(32), 3, 4, 5)
        for name in self.each_implementation():
            digest = sha256.share_hash(
                coinbase[:10], b"", b"", coinbase[10:], b"", 2, bytes(32), 3, 4, 5
            )
            self.assertEqual(digest, expected, name)


class ShareHashErrorTests(SynchronousTestCase):
    """share_hash refuses malformed arguments with ValueError."""

    def _share_hash(self, **overrides: object) -> bytes:
        """share_hash with valid arguments except for ``overrides``."""
        arguments: dict[str, object] = {
            "coinb1": b"\x01" * 40,
            "extranonce1": b"\x02" * 4,
            "extranonce2": b"\x03" * 8,
            "coinb2": b"\x04" * 60,
            "merkle_branch": b"\x05" * 64,
            "version": 0x20000000,
            "prevhash": b"\x06" * 32,
            "ntime": 1_700_000_000,
            "bits": 0x1703A30C,
            "nonce": 42,
        }
        arguments.update(overrides)
        return sha256.share_hash(**arguments)  # type: ignore[arg-type]

    def test_valid_arguments_are_accepted(self) -> None:
        """The baseline arguments used by the error tests hash without error."""
        self.assertEqual(len(self._share_hash()), 32)

    def test_branch_not_whole_hashes(self) -> None:
        """A merkle branch whose length is not a multiple of 32 is a ValueError."""
        for length in (1, 31, 33, 63, 65):
            error = self.assertRaises(ValueError, self._share_hash, merkle_branch=b"\x00" * length)
            self.assertIn("32-byte", str(error))

    def test_branch_too_long(self) -> None:
        """More than MAX_MERKLE_BRANCH_COUNT branch hashes is a ValueError."""
        too_many = b"\x00" * (32 * (sha256.MAX_MERKLE_BRANCH_COUNT + 1))
        self.assertRaises(ValueError, self._share_hash, merkle_branch=too_many)

    def test_prevhash_wrong_length(self) -> None:
        """A prevhash that is not exactly 32 bytes is a ValueError."""
        for length in (0, 31, 33, 64):
            error = self.assertRaises(ValueError, self._share_hash, prevhash=b"\x00" * length)
            self.assertIn("prevhash", str(error))

    def test_coinbase_too_large(self) -> None:
        """A coinbase longer than MAX_COINBASE_BYTES in total is a ValueError."""
        half = b"\x00" * (sha256.MAX_COINBASE_BYTES // 2)
        self.assertRaises(ValueError, self._share_hash, coinb1=half, coinb2=half)

    def test_integer_fields_out_of_uint32_range(self) -> None:
        """version, ntime, bits or nonce outside 0..2**32-1 is a ValueError naming the field."""
        for field_name in ("version", "ntime", "bits", "nonce"):
            for value in (-1, 2**32, 2**64):
                error = self.assertRaises(ValueError, self._share_hash, **{field_name: value})
                self.assertIn(field_name, str(error))


class ImplementationSelectionTests(SynchronousTestCase):
    """Choosing, listing and switching implementations."""

    def setUp(self) -> None:
        """Restore the implementation in use when the test ends."""
        self.addCleanup(sha256.use_implementation, sha256.implementation())

    def test_generic_always_available(self) -> None:
        """The portable implementation is always listed, first."""
        self.assertEqual(sha256.available_implementations()[0], "generic")

    def test_selected_is_fastest_available(self) -> None:
        """The implementation chosen at import is the last (fastest) one listed as available."""
        self.assertEqual(sha256.selected_implementation(), sha256.available_implementations()[-1])

    def test_sha_ni_selected_when_cpu_has_it(self) -> None:
        """On an x86-64 CPU advertising sha_ni, SHA-NI rather than generic is selected."""
        if "sha_ni" not in _cpu_flags() or platform.machine() not in ("x86_64", "AMD64"):
            raise self.skipTest("this CPU does not advertise sha_ni")
        self.assertIn("sha-ni", sha256.available_implementations())
        self.assertEqual(sha256.selected_implementation(), "sha-ni")

    def test_armv8_selected_when_cpu_has_it(self) -> None:
        """On an AArch64 CPU advertising sha2, the ARMv8 crypto implementation is selected."""
        if "sha2" not in _cpu_flags() or platform.machine() not in ("aarch64", "arm64"):
            raise self.skipTest("this CPU does not advertise sha2")
        self.assertEqual(sha256.selected_implementation(), "armv8-crypto")

    def test_selection_logged_once_at_import(self) -> None:
        """Importing tbgpool.sha256 logs the selected implementation exactly once."""
        script = (
            "import sys\n"
            "from twisted.logger import globalLogBeginner, textFileLogObserver\n"
            "globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])\n"
            "import tbgpool.sha256\n"
            "import tbgpool.sha256\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=_PROJECT_ROOT,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        expected = f"SHA-256 implementation {sha256.selected_implementation()} selected"
        self.assertEqual(result.stdout.count(expected), 1, result.stdout)

    def test_use_switches_implementation(self) -> None:
        """use_implementation changes what implementation() reports."""
        sha256.use_implementation("generic")
        self.assertEqual(sha256.implementation(), "generic")
        sha256.use_implementation(sha256.selected_implementation())
        self.assertEqual(sha256.implementation(), sha256.selected_implementation())

    def test_use_unknown_name(self) -> None:
        """An unknown implementation name is a ValueError and leaves the current one in use."""
        before = sha256.implementation()
        error = self.assertRaises(ValueError, sha256.use_implementation, "md5-turbo")
        self.assertIn("unknown", str(error))
        self.assertEqual(sha256.implementation(), before)

    def test_use_unavailable_implementation(self) -> None:
        """An implementation this CPU or build lacks is a ValueError naming it."""
        available = sha256.available_implementations()
        missing = [n for n in ("generic", "sha-ni", "armv8-crypto") if n not in available]
        if not missing:
            raise self.skipTest("every implementation is available here")
        before = sha256.implementation()
        error = self.assertRaises(ValueError, sha256.use_implementation, missing[0])
        self.assertIn("not available", str(error))
        self.assertEqual(sha256.implementation(), before)

    def test_init_is_idempotent(self) -> None:
        """tbg_sha256_init returns the import-time selection and does not undo a switch."""
        sha256.use_implementation("generic")
        selected_id = lib.tbg_sha256_init()
        self.assertEqual(
            ffi.string(lib.tbg_sha256_impl_name(selected_id)).decode(),
            sha256.selected_implementation(),
        )
        self.assertEqual(sha256.implementation(), "generic")

    def test_impl_queries_reject_unknown_ids(self) -> None:
        """Unknown implementation ids have no name, are unavailable and cannot be used."""
        for impl_id in (-1, lib.TBG_SHA256_IMPL_COUNT, 1000):
            self.assertEqual(lib.tbg_sha256_impl_name(impl_id), ffi.NULL)
            self.assertEqual(lib.tbg_sha256_impl_available(impl_id), 0)
            self.assertEqual(lib.tbg_sha256_use(impl_id), -1)


class CInterfaceGuardTests(SynchronousTestCase):
    """The C entry points refuse NULL pointers and absurd lengths without reading memory."""

    def _call(self, **overrides: object) -> int:
        """tbg_share_hash with small valid buffers except for ``overrides``; returns its status."""
        self._keep = small = ffi.new("uint8_t[64]")
        self._out = out = ffi.new("uint8_t[32]", [0xAA] * 32)
        arguments: dict[str, object] = {
            "coinb1": small, "coinb1_len": 8, "extranonce1": small, "en1_len": 4,
            "extranonce2": small, "en2_len": 4, "coinb2": small, "coinb2_len": 8,
            "merkle_branch": small, "branch_count": 2, "version": 1, "prevhash": small,
            "ntime": 2, "bits": 3, "nonce": 4, "out": out,
        }  # fmt: skip
        arguments.update(overrides)
        return int(lib.tbg_share_hash(*arguments.values()))

    def test_valid_call_succeeds(self) -> None:
        """With valid buffers tbg_share_hash returns 0 and writes the digest."""
        self.assertEqual(self._call(), 0)
        self.assertNotEqual(bytes(self._out), b"\xaa" * 32)

    def test_null_pointers_rejected(self) -> None:
        """A NULL pointer with a non-zero length, a NULL prevhash or a NULL out returns -1."""
        for name in ("coinb1", "extranonce1", "extranonce2", "coinb2", "merkle_branch", "prevhash"):
            self.assertEqual(self._call(**{name: ffi.NULL}), -1, name)
            self.assertEqual(bytes(self._out), b"\xaa" * 32, name)
        self.assertEqual(self._call(out=ffi.NULL), -1)

    def test_null_pointer_with_zero_length_allowed(self) -> None:
        """An empty piece may be passed as NULL."""
        status = self._call(extranonce2=ffi.NULL, en2_len=0, merkle_branch=ffi.NULL, branch_count=0)
        self.assertEqual(status, 0)

    def test_absurd_lengths_rejected(self) -> None:
        """Lengths over the caps, or whose sum wraps around size_t, return -1 without reading."""
        size_max = 2**64 - 1 if ffi.sizeof("size_t") == 8 else 2**32 - 1
        cap = sha256.MAX_COINBASE_BYTES
        self.assertEqual(self._call(coinb1_len=size_max), -1)
        self.assertEqual(self._call(coinb1_len=cap, en1_len=1, en2_len=0, coinb2_len=0), -1)
        self.assertEqual(
            self._call(coinb1_len=cap, en1_len=size_max - cap + 1, en2_len=0, coinb2_len=0), -1
        )
        self.assertEqual(self._call(coinb2_len=size_max - 15), -1)
        self.assertEqual(self._call(branch_count=lib.TBG_SHARE_MAX_BRANCH_COUNT + 1), -1)
        self.assertEqual(self._call(branch_count=size_max), -1)

    def test_sha256_null_data(self) -> None:
        """tbg_sha256 of NULL with a non-zero length writes zeros; with length 0 it is the empty digest."""
        out = ffi.new("uint8_t[32]", [0xAA] * 32)
        lib.tbg_sha256(ffi.NULL, 5, out)
        self.assertEqual(bytes(out), bytes(32))
        lib.tbg_sha256(ffi.NULL, 0, out)
        self.assertEqual(bytes(out), hashlib.sha256(b"").digest())
        lib.tbg_sha256d(ffi.NULL, 0, out)
        self.assertEqual(bytes(out), _hashlib_sha256d(b""))


class ArmKnownAnswerTests(SynchronousTestCase):
    """The ARMv8 transform, cross-compiled and run under qemu, passes the C known-answer driver."""

    def test_armv8_transform_under_qemu(self) -> None:
        """tests/c/run_arm_kat.sh exits 0 (skipped without an aarch64 cross compiler and qemu)."""
        if shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None:
            raise self.skipTest("needs aarch64-linux-gnu-gcc and qemu-aarch64 on PATH")
        result = subprocess.run(
            ["sh", str(_ARM_KAT_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "LC_ALL": "C"},
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("implementation armv8-crypto: ok", result.stdout)
