"""Fuzz target: the SHA-256 wrappers over the C module, against hashlib, per implementation.

Run: ``python fuzz/fuzz_sha256.py [libFuzzer args] fuzz/corpus/sha256``.
sha256/sha256d of any bytes equal hashlib's; share_hash with fuzzed part lengths and
integer fields (negative, past 2**32, huge) either raises the documented ValueError,
exactly when an argument is out of range, or equals fuzz.reference.share_hash. Each input
runs on one of the implementations this CPU has (generic, SHA-NI, ARMv8).
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["tbgpool"]):
    from fuzz.primitives import check_hashes, check_share_hash
    from tbgpool import sha256

IMPLEMENTATIONS = sha256.available_implementations()
UINT32_MAX = 0xFFFFFFFF
EDGE_INTS = [0, 1, UINT32_MAX, UINT32_MAX + 1, -1, 2**63, -(2**63), 2**64 + 5, 10**100]
#: Lengths around SHA-256's block boundaries and share_hash's coinbase limit.
EDGE_LENGTHS = [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, sha256.MAX_COINBASE_BYTES]


def _blob(fdp: Any) -> bytes:
    """Fuzzed bytes, sometimes zero-extended to a block-boundary or limit length."""
    data = bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200)))
    if fdp.ConsumeIntInRange(0, 15) == 0:
        length = int(fdp.PickValueInList(EDGE_LENGTHS)) + fdp.ConsumeIntInRange(-1, 1)
        data = data[: max(0, length)].ljust(max(0, length), b"\0")
    return data


def _u32ish(fdp: Any) -> int:
    """Mostly a valid uint32, sometimes an edge or a huge value."""
    if fdp.ConsumeIntInRange(0, 7) == 0:
        return int(fdp.PickValueInList(EDGE_INTS))
    return int(fdp.ConsumeIntInRange(0, UINT32_MAX))


def TestOneInput(data: bytes) -> None:
    """Hash one fuzzed input every way, on a fuzzer-chosen implementation."""
    if data.startswith(b"="):
        for name in IMPLEMENTATIONS:
            sha256.use_implementation(name)
            check_hashes(data[1:])
        return
    fdp = atheris.FuzzedDataProvider(data)
    sha256.use_implementation(fdp.PickValueInList(IMPLEMENTATIONS))
    check_hashes(_blob(fdp))
    parts = [_blob(fdp) for _ in range(4)]
    branch_bytes = 32 * fdp.ConsumeIntInRange(0, 66) + fdp.PickValueInList([0, 0, 0, 1, 31])
    branch = bytes(fdp.ConsumeBytes(branch_bytes)).ljust(branch_bytes, b"\x5a")
    prevhash_length = fdp.PickValueInList([32, 32, 32, 0, 31, 33])
    prevhash = bytes(fdp.ConsumeBytes(prevhash_length)).ljust(prevhash_length, b"\xa5")
    check_share_hash(parts, branch, prevhash, [_u32ish(fdp) for _ in range(4)])


def main() -> None:
    """Hand the target to libFuzzer."""
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
