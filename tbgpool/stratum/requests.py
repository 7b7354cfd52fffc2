"""Strict decoding of one Stratum JSON-RPC line, before anything else looks at it.

Python's json module is lenient where Stratum must not be: it accepts NaN and
Infinity, keeps the last of duplicate keys, and decodes lone UTF-16 surrogates
into strings that cannot be encoded again. A line is refused for any of these,
and the request's shape (id, method, params) is checked here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from tbgpool.stratum.errors import StratumError, invalid

#: The longest method name any Stratum method has, with room to spare.
MAX_METHOD_CHARS: Final = 64
#: A string id longer than this is not echoed back.
MAX_ID_CHARS: Final = 128
#: JSON integers a client may use as ids (JavaScript's safe integers).
MAX_ID_INT: Final = 2**53


class BadLine(Exception):
    """The line is not a usable request; ``error`` is the reply, ``request_id`` its id."""

    def __init__(self, error: StratumError, request_id: object = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Request:
    """A well-formed request: an echoable id, a method name, a params list."""

    request_id: object
    method: str
    params: list[Any]


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key[:32]!r}")
        result[key] = value
    return result


_DECODER = json.JSONDecoder(parse_constant=_no_constants, object_pairs_hook=_unique_keys)


def _has_lone_surrogate(value: Any, depth: int = 0) -> bool:
    """Whether any string in ``value`` holds a surrogate code point (only JSON escapes make them)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if depth > 64:
        # Stratum fields are never nested this deep, so no handler reads strings down
        # here; stopping bounds the walk (the decoder allows about 1,000 levels).
        return False
    if isinstance(value, list):
        return any(_has_lone_surrogate(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return any(
            _has_lone_surrogate(k, depth + 1) or _has_lone_surrogate(v, depth + 1)
            for k, v in value.items()
        )
    return False


def _echoable_id(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return value is None
    if isinstance(value, int):
        return -MAX_ID_INT <= value <= MAX_ID_INT
    if isinstance(value, str):
        return len(value) <= MAX_ID_CHARS and not _has_lone_surrogate(value)
    return False


def decode_request(line: bytes) -> Request | None:
    """The request on ``line``; None for a reply from the miner; BadLine if it is unusable."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise BadLine(invalid("Parse error: not UTF-8", "bad_json")) from None
    try:
        message = _DECODER.decode(text)
    except (ValueError, RecursionError) as e:
        # ValueError covers JSONDecodeError, NaN/Infinity, duplicate keys and integers
        # longer than Python's 4300-digit conversion limit.
        if isinstance(e, json.JSONDecodeError):
            raise BadLine(invalid("Parse error", "bad_json")) from None
        raise BadLine(invalid(f"Parse error: {str(e)[:80]}", "bad_json")) from None
    if not isinstance(message, dict):
        raise BadLine(invalid("Invalid request: expected a JSON object", "bad_request"))
    request_id = message.get("id")
    if not _echoable_id(request_id):
        raise BadLine(invalid("Invalid request: id must be null, an integer or a short string",
                              "bad_request"))
    if "\\u" in text and _has_lone_surrogate(message):
        raise BadLine(invalid("Invalid request: unpaired surrogate escape", "bad_request"),
                      request_id)
    method = message.get("method")
    if method is None and ("result" in message or "error" in message):
        return None  # a miner's answer to something we sent
    params: Any = message.get("params", [])
    if params is None:
        params = []
    if not isinstance(method, str) or not 0 < len(method) <= MAX_METHOD_CHARS:
        raise BadLine(invalid("Invalid request: method must be a short string", "bad_request"),
                      request_id)
    if not isinstance(params, list):
        raise BadLine(invalid("Invalid request: params must be an array", "bad_request"),
                      request_id)
    return Request(request_id, method, params)
