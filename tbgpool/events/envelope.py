"""The wire form of one event: a compact one-line JSON envelope, encoded and parsed.

Every event is ``{"event": TYPE, "timestamp": µs, "instance": ID, "seq": N, "data": {...}}``
followed by ``"\\n"``; a datagram carries one or more such lines. Encoding lives here so
the emitter and the collector agree on it; the full per-type schema is ``schema.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: The ``source`` field every event's data carries (compatibility with the game's pipeline).
SOURCE = "hosted"
#: Longest instance id accepted, in characters.
MAX_INSTANCE_CHARS = 256
#: What an event type may look like on the wire (collectors accept types newer than theirs).
EVENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: The JSON encoder for ``data``: compact, raw UTF-8, NaN and infinities refused.
DATA_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class EnvelopeError(ValueError):
    """A line is not a well-formed event envelope; the message says why."""


def scrub_surrogates(text: str) -> str:
    """``text`` with lone UTF-16 surrogates (unencodable in UTF-8) replaced by U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def encode_utf8(text: str) -> bytes:
    """``text`` as UTF-8; lone surrogates (from ``\\ud800``-style JSON escapes) become U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return scrub_surrogates(text).encode("utf-8")


def envelope_prefix(event_type: str) -> str:
    """The constant start of every line of ``event_type``, up to the timestamp's digits."""
    if not EVENT_TYPE_RE.fullmatch(event_type):
        raise ValueError(f"not an event type: {event_type!r}")
    return '{"event":"' + event_type + '","timestamp":'


def encode_instance(instance: str) -> str:
    """``instance`` as a JSON string, checked: a non-empty str of at most MAX_INSTANCE_CHARS."""
    if not isinstance(instance, str) or not instance or len(instance) > MAX_INSTANCE_CHARS:
        raise ValueError(f"instance must be 1..{MAX_INSTANCE_CHARS} characters: {instance!r}")
    return json.dumps(scrub_surrogates(instance), ensure_ascii=False)


def encode_line(prefix: str, timestamp_us: int, instance_json: str, seq: int, data: Any) -> bytes:
    """One newline-terminated event line; TypeError/ValueError/RecursionError if ``data`` is not JSON."""
    if not isinstance(data, dict):
        raise TypeError(f"event data must be a dict, not {type(data).__name__}")
    body = DATA_ENCODER.encode(data)
    return encode_utf8(
        f'{prefix}{timestamp_us},"instance":{instance_json},"seq":{seq},"data":{body}}}\n'
    )


def encode_event(
    event_type: str, timestamp_us: int, instance: str, seq: int, data: dict[str, Any]
) -> bytes:
    """One event line from its parts (the emitter does the same with precomputed pieces)."""
    return encode_line(envelope_prefix(event_type), timestamp_us, encode_instance(instance), seq, data)


@dataclass(frozen=True)
class Event:
    """One received event: the envelope's fields, its data, and the line exactly as it came."""

    event_type: str
    timestamp_us: int
    instance: str
    seq: int
    data: dict[str, Any]
    raw: bytes  #: the line as received, without its newline


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_line(line: bytes) -> Event:
    """Parse one line (no newline) into an Event; EnvelopeError says what is wrong with it."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EnvelopeError(f"not UTF-8 (byte {e.start})") from None
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise EnvelopeError("JSON nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, and int strings beyond Python's digit limit
        raise EnvelopeError(f"invalid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise EnvelopeError(f"not a JSON object but {type(obj).__name__}")
    event_type = obj.get("event")
    if not isinstance(event_type, str) or not EVENT_TYPE_RE.fullmatch(event_type):
        raise EnvelopeError("missing or malformed 'event'")
    timestamp_us = obj.get("timestamp")
    if not isinstance(timestamp_us, int) or isinstance(timestamp_us, bool) or timestamp_us < 0:
        raise EnvelopeError("missing or malformed 'timestamp'")
    instance = obj.get("instance")
    if not isinstance(instance, str) or not instance or len(instance) > MAX_INSTANCE_CHARS:
        raise EnvelopeError("missing or malformed 'instance'")
    seq = obj.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise EnvelopeError("missing or malformed 'seq'")
    data = obj.get("data")
    if not isinstance(data, dict):
        raise EnvelopeError("missing or malformed 'data'")
    return Event(event_type, timestamp_us, instance, seq, data, line)
