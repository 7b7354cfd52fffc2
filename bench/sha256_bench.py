"""Print hashes per second of share_hash and sha256d for each available SHA-256 implementation.

Run from the project root after building the C module:

    .venv/bin/python bench/sha256_bench.py [--seconds 1.0]

The share is shaped like a real one: a 250-byte coinbase split around 4+8 bytes of
extranonce and a 12-hash merkle branch (a block of about 3,000 transactions).
hashlib's sha256d is printed as a baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tbgpool import sha256  # noqa: E402  (needs the path set up above)

COINB1 = bytes(range(100))
EXTRANONCE1 = b"\x01\x02\x03\x04"
EXTRANONCE2 = b"\x00" * 8
COINB2 = bytes(range(138))
MERKLE_BRANCH = bytes(range(32)) * 12
PREVHASH = bytes(range(32))
HEADER = bytes(range(80))


def hashes_per_second(hash_once: Callable[[int], object], seconds: float) -> float:
    """Call ``hash_once(nonce)`` with increasing nonces for about ``seconds``; the rate."""
    calls = 0
    batch = 1000
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        for nonce in range(calls, calls + batch):
            hash_once(nonce)
        calls += batch
        elapsed = time.perf_counter() - started
    return calls / elapsed


def share_hash_once(nonce: int) -> object:
    """One share hash with a realistic coinbase and branch."""
    return sha256.share_hash(
        COINB1,
        EXTRANONCE1,
        EXTRANONCE2,
        COINB2,
        MERKLE_BRANCH,
        0x20000000,
        PREVHASH,
        1_700_000_000,
        0x1703A30C,
        nonce & 0xFFFF_FFFF,
    )


def sha256d_once(_nonce: int) -> object:
    """One sha256d of an 80-byte header."""
    return sha256.sha256d(HEADER)


def hashlib_sha256d_once(_nonce: int) -> object:
    """One sha256d of an 80-byte header with hashlib, the baseline."""
    return hashlib.sha256(hashlib.sha256(HEADER).digest()).digest()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per implementation and function."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    seconds: float = parser.parse_args(argv).seconds

    original = sha256.implementation()
    print(f"selected at import: {sha256.selected_implementation()}")
    print(f"{'implementation':<16} {'function':<18} {'hashes/s':>14}")
    try:
        for name in sha256.available_implementations():
            sha256.use_implementation(name)
            for label, hash_once in (
                ("share_hash", share_hash_once),
                ("sha256d(80 B)", sha256d_once),
            ):
                rate = hashes_per_second(hash_once, seconds)
                print(f"{name:<16} {label:<18} {rate:>14,.0f}")
    finally:
        sha256.use_implementation(original)
    rate = hashes_per_second(hashlib_sha256d_once, seconds)
    print(f"{'hashlib':<16} {'sha256d(80 B)':<18} {rate:>14,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
