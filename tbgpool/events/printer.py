"""The collector's terminal output: one readable line per event, or the JSON line unchanged.

Worker names and user agents are miner-supplied; anything that is not plainly
printable is quoted and escaped, so no event can move the cursor, recolour the
terminal or reverse the text of a line.
"""

from __future__ import annotations

import json
import re
import time
from typing import IO, Any

from tbgpool.events.envelope import Event, encode_utf8

#: Strings printed as they are; anything else is quoted and escaped.
_PLAIN = re.compile(r"[A-Za-z0-9_.:/@+\-]{1,256}")
_HASHRATE_PREFIXES = ("", "k", "M", "G", "T", "P", "E", "Z")


def quote(text: str) -> str:
    """``text`` in double quotes, with quotes, backslashes and unprintable characters escaped."""
    out = ['"']
    for char in text:
        if char == '"' or char == "\\":
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            if code < 0x100:
                out.append(f"\\x{code:02x}")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def format_hashrate(hashes_per_s: float) -> str:
    """A hashrate with an SI prefix, e.g. ``1.25TH/s``."""
    value = float(hashes_per_s)
    index = 0
    while abs(value) >= 1000.0 and index < len(_HASHRATE_PREFIXES) - 1:
        value /= 1000.0
        index += 1
    return f"{value:.3g}{_HASHRATE_PREFIXES[index]}H/s"


def format_value(key: str, value: Any) -> str:
    """One data value as printed after ``key=``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_hashrate(value) if key.startswith("hashrate_") else repr(value)
    if isinstance(value, str):
        return value if _PLAIN.fullmatch(value) else quote(value)
    try:
        nested = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (RecursionError, TypeError, ValueError):
        return "<unprintable>"
    return quote(nested)


def format_clock(timestamp_us: int, utc: bool = False) -> str:
    """``HH:MM:SS.ffffff`` of a µs timestamp (local time unless ``utc``); digits if out of range."""
    seconds, micros = divmod(timestamp_us, 1_000_000)
    try:
        parts = time.gmtime(seconds) if utc else time.localtime(seconds)
    except (OverflowError, OSError, ValueError):
        return str(timestamp_us)
    return f"{parts.tm_hour:02d}:{parts.tm_min:02d}:{parts.tm_sec:02d}.{micros:06d}"


def format_event(event: Event, utc: bool = False) -> str:
    """``HH:MM:SS.ffffff TYPE key=value ...`` (``source``, always "hosted", is left out)."""
    fields = [format_clock(event.timestamp_us, utc), event.event_type]
    for key, value in event.data.items():
        if key == "source":
            continue
        shown_key = key if _PLAIN.fullmatch(key) else quote(key)
        fields.append(f"{shown_key}={format_value(key, value)}")
    return " ".join(fields)


class Printer:
    """Writes events to a binary stream (UTF-8), readable or as JSON lines."""

    def __init__(self, out: IO[bytes], json_lines: bool = False, utc: bool = False) -> None:
        """Print to ``out``; ``json_lines`` prints each event's line exactly as received."""
        self._out = out
        self._json_lines = json_lines
        self._utc = utc

    def print_event(self, event: Event) -> None:
        """Write one event's line (buffered; call flush once per datagram)."""
        if self._json_lines:
            self._out.write(event.raw + b"\n")
        else:
            self._out.write(encode_utf8(format_event(event, self._utc)) + b"\n")

    def flush(self) -> None:
        """Push buffered output to the stream."""
        self._out.flush()
