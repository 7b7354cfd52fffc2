"""Payout addresses: from the string a miner authorizes with to the scriptPubKey the pool pays.

The whole block reward goes to this script, so decoding is strict: Base58Check
P2PKH/P2SH and segwit v0..v16 (BIP173 bech32 for v0, BIP350 bech32m for v1+),
for exactly the network the pool runs on. Anything else raises
:class:`~tbgpool.errors.AddressError` with a message that names the problem and
never repeats the (untrusted) address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from tbgpool.base58 import ALPHABET as BASE58_ALPHABET
from tbgpool.base58 import base58check_decode
from tbgpool.bech32 import Encoding, bech32_decode, convert_bits
from tbgpool.errors import AddressError

__all__ = [
    "MAX_ADDRESS_LENGTH",
    "AddressType",
    "Encoding",
    "PayoutAddress",
    "address_type",
    "bech32_decode",
    "decode_address",
    "parse_address",
]

#: Longest address accepted (the BIP173 limit; Base58 addresses are at most 35).
MAX_ADDRESS_LENGTH: Final = 90

AddressType = Literal["p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr", "witness_unknown"]

_HASH160_LENGTH = 20
_BASE58_PAYLOAD_LENGTH = 1 + _HASH160_LENGTH
_MAX_WITNESS_VERSION = 16
_MIN_WITNESS_PROGRAM_LENGTH = 2
_MAX_WITNESS_PROGRAM_LENGTH = 40
_P2WPKH_PROGRAM_LENGTH = 20
_P2WSH_PROGRAM_LENGTH = 32
_P2TR_PROGRAM_LENGTH = 32

# Script opcodes used to build outputs.
_OP_0 = 0x00
_OP_1_BASE = 0x50  # OP_1 is 0x51 ... OP_16 is 0x60
_OP_DUP = 0x76
_OP_HASH160 = 0xA9
_OP_EQUALVERIFY = 0x88
_OP_CHECKSIG = 0xAC
_OP_EQUAL = 0x87

_MAINNET_P2PKH = 0x00
_MAINNET_P2SH = 0x05
_TESTNET_P2PKH = 0x6F
_TESTNET_P2SH = 0xC4

# Version bytes of Base58Check private keys (WIF), so a pasted key gets a warning.
_WIF_VERSIONS = frozenset({0x80, 0xEF})
_WIF_PAYLOAD_LENGTHS = frozenset({33, 34})


@dataclass(frozen=True, slots=True)
class _NetworkParams:
    """Address prefixes of one chain."""

    label: str
    segwit_hrp: str
    p2pkh_version: int
    p2sh_version: int


_NETWORKS: Final[dict[str, _NetworkParams]] = {
    "main": _NetworkParams("mainnet", "bc", _MAINNET_P2PKH, _MAINNET_P2SH),
    "test": _NetworkParams("testnet3", "tb", _TESTNET_P2PKH, _TESTNET_P2SH),
    "testnet4": _NetworkParams("testnet4", "tb", _TESTNET_P2PKH, _TESTNET_P2SH),
    "signet": _NetworkParams("signet", "tb", _TESTNET_P2PKH, _TESTNET_P2SH),
    "regtest": _NetworkParams("regtest", "bcrt", _TESTNET_P2PKH, _TESTNET_P2SH),
}

# Which chains a recognised prefix belongs to, for "wrong network" messages.
_HRP_OWNER: Final[dict[str, str]] = {
    "bc": "mainnet",
    "tb": "testnet/signet",
    "bcrt": "regtest",
}
_BASE58_VERSION_OWNER: Final[dict[int, str]] = {
    _MAINNET_P2PKH: "mainnet",
    _MAINNET_P2SH: "mainnet",
    _TESTNET_P2PKH: "testnet/signet/regtest",
    _TESTNET_P2SH: "testnet/signet/regtest",
}

_BASE58_DIGITS = frozenset(BASE58_ALPHABET)


@dataclass(frozen=True, slots=True)
class PayoutAddress:
    """A decoded payout address: the output script to pay and the kind of output it is."""

    script_pubkey: bytes
    address_type: AddressType


def _network_params(network: str) -> _NetworkParams:
    """The prefixes of ``network`` (a getblockchaininfo chain name); ValueError if unknown."""
    params = _NETWORKS.get(network) if isinstance(network, str) else None
    if params is None:
        raise ValueError(f"unknown network {network!r}; expected one of {sorted(_NETWORKS)}")
    return params


def _check_text(address: object) -> str:
    """Reject what is not a plausible address string at all, before any decoding work."""
    if not isinstance(address, str):
        raise AddressError("address must be a string")
    if not address:
        raise AddressError("empty address")
    if len(address) > MAX_ADDRESS_LENGTH:
        raise AddressError(
            f"address too long ({len(address)} characters, at most {MAX_ADDRESS_LENGTH})"
        )
    for position, char in enumerate(address):
        if not char.isascii():
            raise AddressError(f"non-ASCII character at position {position}")
        if char.isspace():
            raise AddressError(f"whitespace at position {position}")
        if not char.isprintable():
            raise AddressError(f"control character at position {position}")
    return address


def _wrong_network(owner: str, params: _NetworkParams) -> AddressError:
    """The error for an address that is valid, but for another chain."""
    return AddressError(f"address is for {owner}, pool runs on {params.label}")


def _parse_base58(address: str, params: _NetworkParams) -> PayoutAddress:
    """Decode a Base58Check P2PKH or P2SH address for the pool's network."""
    payload = base58check_decode(address)
    if len(payload) in _WIF_PAYLOAD_LENGTHS and payload[0] in _WIF_VERSIONS:
        raise AddressError("this is a private key (WIF), not an address; keep it secret")
    if len(payload) != _BASE58_PAYLOAD_LENGTH:
        raise AddressError(
            f"invalid base58 payload length {len(payload)} bytes, expected {_BASE58_PAYLOAD_LENGTH}"
        )
    version, key_hash = payload[0], payload[1:]
    if version == params.p2pkh_version:
        script = (
            bytes([_OP_DUP, _OP_HASH160, _HASH160_LENGTH])
            + key_hash
            + bytes([_OP_EQUALVERIFY, _OP_CHECKSIG])
        )
        return PayoutAddress(script, "p2pkh")
    if version == params.p2sh_version:
        script = bytes([_OP_HASH160, _HASH160_LENGTH]) + key_hash + bytes([_OP_EQUAL])
        return PayoutAddress(script, "p2sh")
    owner = _BASE58_VERSION_OWNER.get(version)
    if owner is not None:
        raise _wrong_network(owner, params)
    raise AddressError(f"unknown address prefix (base58 version byte 0x{version:02x})")


def _segwit_type(version: int, program_length: int) -> AddressType:
    """Name the output kind of a valid witness program."""
    if version == 0:
        return "p2wpkh" if program_length == _P2WPKH_PROGRAM_LENGTH else "p2wsh"
    if version == 1 and program_length == _P2TR_PROGRAM_LENGTH:
        return "p2tr"
    return "witness_unknown"


def _parse_segwit(address: str, params: _NetworkParams) -> PayoutAddress:
    """Decode a BIP173/BIP350 segwit address for the pool's network."""
    hrp, data, encoding = bech32_decode(address)
    if hrp != params.segwit_hrp:
        owner = _HRP_OWNER.get(hrp)
        if owner is None:
            raise AddressError("unknown address prefix")
        raise _wrong_network(owner, params)
    if not data:
        raise AddressError("empty data section (no witness version)")
    version = data[0]
    if version > _MAX_WITNESS_VERSION:
        raise AddressError(f"invalid witness version {version}")
    if version == 0 and encoding is not Encoding.BECH32:
        raise AddressError("bech32m checksum used for witness v0")
    if version > 0 and encoding is not Encoding.BECH32M:
        raise AddressError(f"bech32 checksum used for witness v{version}")
    try:
        program = convert_bits(data[1:], 5, 8, pad=False)
    except AddressError as error:
        raise AddressError(f"invalid witness program: {error}") from None
    length = len(program)
    if not _MIN_WITNESS_PROGRAM_LENGTH <= length <= _MAX_WITNESS_PROGRAM_LENGTH:
        raise AddressError(f"invalid witness program length {length} for v{version}")
    if version == 0 and length not in (_P2WPKH_PROGRAM_LENGTH, _P2WSH_PROGRAM_LENGTH):
        raise AddressError(f"invalid witness program length {length} for v0")
    opcode = _OP_0 if version == 0 else _OP_1_BASE + version
    script = bytes([opcode, length]) + program
    return PayoutAddress(script, _segwit_type(version, length))


def parse_address(address: str, network: str) -> PayoutAddress:
    """Decode ``address`` for ``network`` into its scriptPubKey and output type."""
    params = _network_params(network)
    text = _check_text(address)
    lower = text.lower()
    separator = lower.rfind("1")
    # No valid Base58 address of ours starts with 'b' or 't', so a known HRP
    # in front of the last '1' decides bech32 without ambiguity.
    if separator > 0 and lower[:separator] in _HRP_OWNER:
        return _parse_segwit(text, params)
    if _BASE58_DIGITS.issuperset(text):
        return _parse_base58(text, params)
    try:
        bech32_decode(text)
    except AddressError:
        raise AddressError("not a base58 or bech32 address") from None
    raise AddressError("unknown address prefix")


def decode_address(address: str, network: str) -> bytes:
    """Return the scriptPubKey paying ``address`` on ``network``; AddressError if invalid."""
    return parse_address(address, network).script_pubkey


def address_type(address: str, network: str) -> AddressType:
    """Return the output type of ``address`` on ``network``; AddressError if invalid."""
    return parse_address(address, network).address_type
