"""Strict checks of miner-supplied Stratum fields, done before any lenient parser runs.

``int(x, 16)`` and ``bytes.fromhex`` accept spaces, underscores, signs and
``0x`` prefixes; nothing reaches them until it matched one of these patterns.
"""

from __future__ import annotations

import re

from tbgpool.stratum.errors import StratumError, invalid

_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_HEX_JOB_ID = re.compile(r"[0-9a-fA-F]{1,8}")
_HEX_EVEN = re.compile(r"(?:[0-9a-fA-F]{2})+")
_WORKER = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
MAX_USERNAME = 90 + 1 + 128
MAX_USER_AGENT = 256


def hex_u32(value: object, name: str) -> int:
    """An 8-hex-digit big-endian 32-bit field (ntime, nonce, version bits)."""
    if not isinstance(value, str) or _HEX8.fullmatch(value) is None:
        raise invalid(f"Invalid {name}: expected 8 hex digits", f"bad_{name}")
    return int(value, 16)


def job_id(value: object) -> str:
    """A job id as the pool issues them: 1..8 hex digits."""
    if not isinstance(value, str) or _HEX_JOB_ID.fullmatch(value) is None:
        raise invalid("Invalid job id", "bad_job_id")
    return value.lower()


def hex_bytes(value: object, size: int, name: str) -> bytes:
    """Exactly ``size`` bytes given as hex, or a StratumError naming ``name``."""
    if not isinstance(value, str) or _HEX_EVEN.fullmatch(value) is None:
        raise invalid(f"Invalid {name}: expected hex", f"bad_{name}")
    if len(value) != 2 * size:
        raise invalid(
            f"Invalid {name} length: expected {size} bytes, got {len(value) // 2}",
            f"bad_{name}_length",
        )
    return bytes.fromhex(value)


def extranonce2(value: object, size: int) -> bytes:
    """Extranonce2: exactly ``size`` bytes of hex.

    Some Bitaxe firmware sends 4 bytes whatever size was announced. ckpool pads or
    truncates; we reject with a clear error, because the coinbase the miner
    hashed is then not the one the pool would put in a block.
    """
    return hex_bytes(value, size, "extranonce2")


def user_agent(value: object) -> str:
    """A user agent: printable ASCII, cut to 256 characters; anything else becomes ''."""
    if not isinstance(value, str):
        return ""
    value = value[:MAX_USER_AGENT]
    if not value.isascii() or not value.isprintable():
        return "".join(c for c in value if " " <= c <= "~")
    return value


def split_username(value: object) -> tuple[str, str]:
    """Split ``ADDRESS[.WORKER]`` (or ``ADDRESS_WORKER``) into address and worker name."""
    if not isinstance(value, str) or not value:
        raise invalid("Invalid username: expected ADDRESS[.WORKER]", "bad_username")
    if len(value) > MAX_USERNAME:
        raise invalid("Invalid username: too long", "bad_username")
    cut = min((i for i in (value.find("."), value.find("_")) if i >= 0), default=len(value))
    address, worker = value[:cut], value[cut + 1 :]
    if not address:
        raise invalid("Invalid username: empty address", "bad_username")
    if worker and _WORKER.fullmatch(worker) is None:
        raise invalid(
            "Invalid worker name: use up to 128 of A-Z a-z 0-9 _ - .", "bad_worker_name"
        )
    return address, worker


def difficulty(value: object) -> float:
    """A positive, finite difficulty number (int or float; not bool or string)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid("Invalid difficulty: expected a number", "bad_difficulty")
    try:
        number = float(value)
    except OverflowError:
        raise invalid("Invalid difficulty: out of range", "bad_difficulty") from None
    if not (number > 0 and number < float("inf")):
        raise invalid("Invalid difficulty: must be positive and finite", "bad_difficulty")
    return number


__all__ = [
    "StratumError",
    "difficulty",
    "extranonce2",
    "hex_bytes",
    "hex_u32",
    "job_id",
    "split_username",
    "user_agent",
]
