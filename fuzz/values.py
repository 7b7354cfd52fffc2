"""Hostile values for the fuzz targets: what ``json.loads`` could hand a handler, and addresses.

The data-provider argument is anything with atheris' ``FuzzedDataProvider`` methods. An
input starting with ``=`` is literal instead: the seed corpora hold real traffic that way.
"""

from __future__ import annotations

import json
import math
from typing import Any

from tbgpool.testing import encode_base58check, encode_segwit_address, regtest_addresses, sha256d

# -- addresses -----------------------------------------------------------------------------------


def _addresses(hrp: str, p2pkh: int, p2sh: int, seed: bytes) -> list[str]:
    h20 = sha256d(seed)[:20]
    h32 = sha256d(seed + b"32")
    return [
        encode_base58check(p2pkh, h20),
        encode_base58check(p2sh, h20),
        encode_segwit_address(hrp, 0, h20),
        encode_segwit_address(hrp, 0, h32),
        encode_segwit_address(hrp, 1, h32),
        encode_segwit_address(hrp, 2, h20[:2]),
        encode_segwit_address(hrp, 16, h32 + h20[:8]),
    ]


#: Valid addresses of every type, by the network they belong to.
ADDRESSES: dict[str, list[str]] = {
    "main": _addresses("bc", 0x00, 0x05, b"main")
    + [
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    ],
    "test": _addresses("tb", 0x6F, 0xC4, b"test")
    + [
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
        "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc",
    ],
    "regtest": [address for address, _ in regtest_addresses().values()]
    + _addresses("bcrt", 0x6F, 0xC4, b"regtest")
    + ["bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"],
}
ADDRESSES["testnet4"] = ADDRESSES["test"]
ADDRESSES["signet"] = ADDRESSES["test"]
ALL_ADDRESSES: list[str] = sorted({a for addresses in ADDRESSES.values() for a in addresses})


# -- hostile values ------------------------------------------------------------------------------

#: Strings that sit on the edges of what Stratum fields accept.
TOKENS: tuple[str, ...] = (
    "", " ", "0", "1", "2", "3", "ff", "00000000", "ffffffff", "FFFFFFFF", "1fffe000",
    "0x123456", "0X12345678", " 1234567", "1234567 ", "+1234567", "-1234567", "1_234567",
    "1234567\n", "12345678\x00", "１２３４５６７８", "٠١٢٣٤٥٦٧", "1234567８", "0000000000000000",
    "00000000000000", "000000000000000000", "d=0.001", "d=nan", "d=inf", "d=-1", "d=1e400",
    "diff=0", "x", "NaN", "Infinity", "\x00", "\ud800", "\udfff\ud800", "\u202e", "\x1b[31m",
    "%s%n", "{peer}", "{}", "a.b", "a_b", "..", "__", ".", "_", "version-rolling",
    "minimum-difficulty", "subscribe-extranonce", "version-rolling.mask",
    "version-rolling.min-bit-count", "minimum-difficulty.value", "mining.notify",
    "mining.set_difficulty", "cgminer/4.11.1", "bitaxe/BM1366/v2.4.1", "NerdMinerV2",
    "Antminer S19j Pro/Thu May 25 11:27:29 CST 2023", "whatsminer/v1.1", "NiceHash/1.0.0",
)
SPECIAL_FLOATS: tuple[float, ...] = (
    math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1e-9, 1e-6,
    0.00015, 0.5, 1.0, 1000.0, 2.0**32, 1e18, 1.7976931348623157e308, -1.0,
)
SPECIAL_INTS: tuple[int, ...] = (
    0, 1, -1, 2, 8, 32, 255, 256, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1,
    2**63, 2**64, -(2**63), 2**256, 10**4299,
)
#: Deepest nesting ``json.loads`` returns for a miner's line (deeper is a RecursionError).
MAX_WIRE_DEPTH = 900


def hostile_text(fdp: Any) -> str:
    """A string: a known edge token, random unicode (lone surrogates too), hex, or an address."""
    kind = fdp.ConsumeIntInRange(0, 6)
    if kind == 0:
        return str(fdp.PickValueInList(list(TOKENS)))
    if kind == 1:
        return str(fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 300)))
    if kind == 2:
        return str(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 100)))
    if kind == 3:
        return bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))).hex()
    if kind == 4:
        address = str(fdp.PickValueInList(ALL_ADDRESSES))
        return address + hostile_suffix(fdp)
    if kind == 5:
        return str(fdp.ConsumeString(fdp.ConsumeIntInRange(0, 400)))
    return str(fdp.PickValueInList(list(TOKENS))) + str(fdp.ConsumeUnicode(4))


def hostile_suffix(fdp: Any) -> str:
    """What may follow an address in a username: nothing, a worker name, or junk."""
    kind = fdp.ConsumeIntInRange(0, 4)
    if kind == 0:
        return ""
    if kind == 1:
        return "." + str(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 140)))
    if kind == 2:
        return "_" + "".join(
            chr(fdp.ConsumeIntInRange(0x2D, 0x7A)) for _ in range(fdp.ConsumeIntInRange(0, 130))
        )
    if kind == 3:
        return str(fdp.PickValueInList([".", "_", ".rig1", "_rig1", ".bitaxe", ".a.b", " "]))
    return str(fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 20)))


def hostile_number(fdp: Any) -> int | float:
    """An int or float a JSON parser can return: edge values, random, huge (< 4300 digits)."""
    kind = fdp.ConsumeIntInRange(0, 4)
    if kind == 0:
        return float(fdp.PickValueInList(list(SPECIAL_FLOATS)))
    if kind == 1:
        return int(fdp.PickValueInList(list(SPECIAL_INTS)))
    if kind == 2:
        return int(fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 1700)))
    if kind == 3:
        return float(fdp.ConsumeFloat())
    return int(fdp.ConsumeIntInRange(-(2**32), 2**33))


def hostile_value(fdp: Any, depth: int = 0) -> Any:
    """Any value ``json.loads`` could produce, biased towards what breaks parsers."""
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind in (2, 3):
        return hostile_number(fdp)
    if kind in (4, 5, 6):
        return hostile_text(fdp)
    if kind == 7 and depth < 4:
        return [hostile_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 6))]
    if kind == 8 and depth < 4:
        return {
            hostile_text(fdp): hostile_value(fdp, depth + 1)
            for _ in range(fdp.ConsumeIntInRange(0, 4))
        }
    if kind == 9:
        nested: Any = hostile_value(fdp, depth + 4)
        for _ in range(fdp.ConsumeIntInRange(1, MAX_WIRE_DEPTH)):
            nested = [nested]
        return nested
    return fdp.ConsumeBool()


def hostile_params(fdp: Any, max_length: int = 8) -> list[Any]:
    """A params list of hostile values."""
    return [hostile_value(fdp) for _ in range(fdp.ConsumeIntInRange(0, max_length))]


def mutate_text(fdp: Any, value: str) -> Any:
    """``value`` changed in one way a buggy or hostile miner might change a field."""
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind == 0:
        return hostile_value(fdp)
    if kind == 1 and value:
        position = fdp.ConsumeIntInRange(0, len(value) - 1)
        digit = str(fdp.PickValueInList(list("0123456789abcdefABCDEF")))
        return value[:position] + digit + value[position + 1 :]
    if kind == 2:
        return value.upper() if fdp.ConsumeBool() else value.swapcase()
    if kind == 3:
        insert = str(fdp.PickValueInList([" ", "_", "0x", "+", "-", "\n", "\x00", "８", "٣", "."]))
        position = fdp.ConsumeIntInRange(0, len(value))
        return value[:position] + insert + value[position:]
    if kind == 4:
        return value[: fdp.ConsumeIntInRange(0, max(0, len(value) - 1))]
    if kind == 5:
        return value + str(fdp.PickValueInList(["0", "00", "f", "ff", " "]))
    if kind == 6:
        try:
            return int(value, 16)
        except ValueError:
            return value
    if kind == 7:
        return "0" * (len(value) - 1) + "1" if value else "1"
    if kind == 8:
        return value.encode().hex()
    return None


#: An input starting with this byte is literal: the rest is the value itself, not fuzz data.
LITERAL_MARK = b"="


def literal_text(data: bytes) -> str | None:
    """The text of a literal input (``=`` then UTF-8), or None if ``data`` is not literal."""
    if not data.startswith(LITERAL_MARK):
        return None
    return data[1:].decode("utf-8", "surrogateescape")


def literal_params(data: bytes) -> list[Any] | None:
    """The params list of a literal input (``=`` then a JSON array), or None."""
    text = literal_text(data)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, list) else None
