"""Fuzz target: payout-address parsing for every network, and the Base58/Bech32 decoders.

Run: ``python fuzz/fuzz_address.py [libFuzzer args] fuzz/corpus/address``.
Inputs are raw text, changed real addresses, or strings built with a valid checksum
around fuzzer-chosen contents (so the rules past the checksum get exercised). Only
AddressError may be raised. Whatever is accepted must re-encode, with the independent
encoders of fuzz.reference, to the input (lower-cased for bech32), and decode to a
scriptPubKey of the right shape and length for its type.
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["tbgpool"]):
    from fuzz import addresses, values

NETWORKS = ("main", "test", "testnet4", "signet", "regtest")
HRPS = ("bc", "tb", "bcrt", "BC", "TB", "ltc", "", "b", "bc1", "\x7f", "a" * 84)


def _text(fdp: Any) -> str:
    """Raw text, a changed real address, or a well-checksummed string of fuzzed contents."""
    kind = fdp.ConsumeIntInRange(0, 6)
    if kind == 0:
        return str(fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 100)))
    if kind == 1:
        return bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 100))).decode("latin-1")
    if kind == 2:
        address = str(fdp.PickValueInList(values.ALL_ADDRESSES))
        text = values.mutate_text(fdp, address)
        return text if isinstance(text, str) else address
    if kind == 3:
        hrp = str(fdp.PickValueInList(list(HRPS)))
        data = [fdp.ConsumeIntInRange(0, 31) for _ in range(fdp.ConsumeIntInRange(0, 90))]
        constant = fdp.PickValueInList([1, 0x2BC830A3])
        text = addresses.reference.bech32_encode(hrp.lower(), data, constant)
        return text.upper() if fdp.ConsumeBool() else text
    if kind == 4:
        hrp = str(fdp.PickValueInList(["bc", "tb", "bcrt"]))
        version = fdp.ConsumeIntInRange(0, 17)
        program = bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 45)))
        return addresses.reference.segwit_address(hrp, version, program)
    if kind == 5:
        payload = bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40)))
        return addresses.reference.base58check_encode(payload)
    return str(fdp.PickValueInList(values.ALL_ADDRESSES)) + str(fdp.ConsumeUnicode(3))


def TestOneInput(data: bytes) -> None:
    """Parse one string for every network and decode it with both decoders directly."""
    fdp = atheris.FuzzedDataProvider(data)
    literal = values.literal_text(data)
    text = _text(fdp) if literal is None else literal
    for network in NETWORKS:
        addresses.check_parse_address(text, network)
    addresses.check_base58(text)
    addresses.check_bech32(text)
    groups = [fdp.ConsumeIntInRange(-2, 40) for _ in range(fdp.ConsumeIntInRange(0, 70))]
    addresses.check_convert_bits(groups)


def main() -> None:
    """Hand the target to libFuzzer."""
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
