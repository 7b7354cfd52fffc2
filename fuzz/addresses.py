"""Checks for the address target: only AddressError, and what is accepted round-trips.

Kept apart from the atheris script so tests can replay findings with the same checks.
"""

from __future__ import annotations

from fuzz import reference
from fuzz.harness import InvariantViolation
from tbgpool.address import MAX_ADDRESS_LENGTH, parse_address
from tbgpool.base58 import base58_decode, base58check_decode
from tbgpool.bech32 import MAX_BECH32_LENGTH, bech32_decode, convert_bits
from tbgpool.errors import AddressError

__all__ = [
    "check_base58",
    "check_bech32",
    "check_convert_bits",
    "check_parse_address",
    "reference",
]

#: network -> (segwit HRP, P2PKH version byte, P2SH version byte)
PREFIXES: dict[str, tuple[str, int, int]] = {
    "main": ("bc", 0x00, 0x05),
    "test": ("tb", 0x6F, 0xC4),
    "testnet4": ("tb", 0x6F, 0xC4),
    "signet": ("tb", 0x6F, 0xC4),
    "regtest": ("bcrt", 0x6F, 0xC4),
}
_PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F))


def _check_message(error: Exception) -> None:
    """An error message is printable ASCII (it goes to logs and to the miner)."""
    message = str(error)
    if not message or not _PRINTABLE.issuperset(message):
        raise InvariantViolation(f"error message is not printable ASCII: {message!r}")


def _expected_segwit_type(version: int, length: int) -> str:
    if version == 0:
        return {20: "p2wpkh", 32: "p2wsh"}.get(length, "invalid")
    if not 2 <= length <= 40:
        return "invalid"
    return "p2tr" if version == 1 and length == 32 else "witness_unknown"


def check_parse_address(text: str, network: str) -> None:
    """parse_address raises only AddressError; what it accepts re-encodes to ``text``."""
    try:
        payout = parse_address(text, network)
    except AddressError as e:
        _check_message(e)
        return
    hrp, p2pkh, p2sh = PREFIXES[network]
    script, kind = payout.script_pubkey, payout.address_type
    if len(text) > MAX_ADDRESS_LENGTH:
        raise InvariantViolation(f"accepted a {len(text)}-character address")
    if kind == "p2pkh":
        if len(script) != 25 or script[:3] != b"\x76\xa9\x14" or script[23:] != b"\x88\xac":
            raise InvariantViolation(f"p2pkh script {script.hex()} for {text!r}")
        again = reference.base58check_encode(bytes([p2pkh]) + script[3:23])
    elif kind == "p2sh":
        if len(script) != 23 or script[:2] != b"\xa9\x14" or script[22:] != b"\x87":
            raise InvariantViolation(f"p2sh script {script.hex()} for {text!r}")
        again = reference.base58check_encode(bytes([p2sh]) + script[2:22])
    else:
        opcode, length, program = script[0], script[1], script[2:]
        version = 0 if opcode == 0 else opcode - 0x50
        if not (opcode == 0 or 0x51 <= opcode <= 0x60) or length != len(program):
            raise InvariantViolation(f"segwit script {script.hex()} for {text!r}")
        if _expected_segwit_type(version, length) != kind:
            raise InvariantViolation(f"{kind} for v{version} with a {length}-byte program")
        again = reference.segwit_address(hrp, version, program)
        text = text.lower()
    if again != text:
        raise InvariantViolation(f"accepted {text!r} ({network}) but it re-encodes as {again!r}")


def check_base58(text: str) -> None:
    """base58_decode and base58check_decode raise only AddressError and round-trip."""
    try:
        raw = base58_decode(text)
    except AddressError as e:
        _check_message(e)
    else:
        if reference.base58_encode(raw) != text:
            raise InvariantViolation(f"base58 {text!r} decoded to {raw.hex()}, not a round trip")
    try:
        payload = base58check_decode(text)
    except AddressError as e:
        _check_message(e)
    else:
        if reference.base58check_encode(payload) != text:
            raise InvariantViolation(f"base58check {text!r} accepted, not a round trip")


def check_bech32(text: str) -> None:
    """bech32_decode raises only AddressError; what it accepts re-encodes to ``text`` (lower)."""
    try:
        hrp, data, encoding = bech32_decode(text)
    except AddressError as e:
        _check_message(e)
        return
    if len(text) > MAX_BECH32_LENGTH or hrp != hrp.lower() or not hrp:
        raise InvariantViolation(f"bech32 accepted {text!r} with hrp {hrp!r}")
    if any(not 0 <= value < 32 for value in data):
        raise InvariantViolation(f"bech32 data value out of range for {text!r}")
    again = reference.bech32_encode(hrp, list(data), encoding.value)
    if again != text.lower():
        raise InvariantViolation(f"bech32 accepted {text!r} but it re-encodes as {again!r}")


def check_convert_bits(groups: list[int]) -> None:
    """convert_bits raises only AddressError; 5->8 without padding inverts 8->5 with padding."""
    try:
        out = convert_bits(groups, 5, 8, pad=False)
    except AddressError as e:
        _check_message(e)
    else:
        if reference.to_5bit(out) != groups:
            raise InvariantViolation(f"convert_bits accepted {groups!r} as {out.hex()}")
    try:
        padded = convert_bits(groups, 5, 8, pad=True)
    except AddressError as e:
        _check_message(e)
        if all(0 <= g < 32 for g in groups):
            raise InvariantViolation(f"convert_bits with padding refused {groups!r}") from None
    else:
        if any(not 0 <= g < 32 for g in groups):
            raise InvariantViolation(f"convert_bits accepted out-of-range groups {groups!r}")
        if convert_bits(padded, 8, 5, pad=True)[: len(groups)] != bytes(groups):
            raise InvariantViolation(f"8->5 of {padded.hex()} does not give back {groups!r}")
