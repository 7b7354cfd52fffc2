"""The per-user coinbase signature ("coinbase tag"): checked before it goes near a block.

The game's API supplies a short text per user that the pool writes into that
user's coinbase scriptSig. It reaches the pool from a cache, so it is treated as
untrusted: it also ends up in logs, events and block explorers. Only printable
ASCII (0x20..0x7e) is allowed, 1..73 characters, with no leading or trailing
space; control characters, DEL and anything non-ASCII are refused, so a tag can
neither break a log line nor smuggle bytes a terminal or script would act on.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_COINBASE_TAG_CHARS", "MIN_COINBASE_TAG_CHARS", "validate_coinbase_tag"]

#: Longest tag accepted, in characters (the spec's limit for the coinbase signature).
MAX_COINBASE_TAG_CHARS: Final = 73
#: Shortest tag accepted; "no tag" is the absence of one, not an empty string.
MIN_COINBASE_TAG_CHARS: Final = 1

_FIRST_PRINTABLE = 0x20
_LAST_PRINTABLE = 0x7E
_DEL = 0x7F


def _describe(code_point: int) -> str:
    """Name a refused character by code point only (the tag itself is never echoed)."""
    if code_point < _FIRST_PRINTABLE:
        return f"a control character (U+{code_point:04X})"
    if code_point == _DEL:
        return "DEL (U+007F)"
    if 0xD800 <= code_point <= 0xDFFF:
        return f"a lone surrogate (U+{code_point:04X})"
    return f"a non-ASCII character (U+{code_point:04X})"


def _as_text(value: object) -> str:
    """The tag as a str: str as is, bytes/bytearray must be ASCII; other types are refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError as e:
            raise ValueError(
                f"coinbase tag has a non-ASCII byte (0x{value[e.start]:02x}) at position {e.start}"
            ) from None
    raise ValueError(f"coinbase tag must be text, not {type(value).__name__}")


def validate_coinbase_tag(value: object) -> bytes:
    """Return ``value`` as ASCII bytes if it is a valid coinbase tag; ValueError saying why not."""
    text = _as_text(value)
    if len(text) < MIN_COINBASE_TAG_CHARS:
        raise ValueError("coinbase tag is empty")
    if len(text) > MAX_COINBASE_TAG_CHARS:
        raise ValueError(
            f"coinbase tag too long ({len(text)} characters, at most {MAX_COINBASE_TAG_CHARS})"
        )
    for position, char in enumerate(text):
        code_point = ord(char)
        if not _FIRST_PRINTABLE <= code_point <= _LAST_PRINTABLE:
            raise ValueError(
                f"coinbase tag has {_describe(code_point)} at position {position}; "
                "only printable ASCII (0x20..0x7e) is allowed"
            )
    if text[0] == " " or text[-1] == " ":
        raise ValueError("coinbase tag must not start or end with a space")
    return text.encode("ascii")
