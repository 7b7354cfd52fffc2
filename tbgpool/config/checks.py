"""Typed value checks, and the short renderings of values their error messages use.

Each ``check_*`` returns the value it was given (normalised where noted) or raises
:class:`tbgpool.errors.ConfigError` naming the key path it was given.
"""

from __future__ import annotations

import json
import math
import os

from tbgpool.config.jsonload import NonFinite
from tbgpool.errors import ConfigError

#: A Linux ``sun_path`` holds 107 bytes and a terminating NUL.
UNIX_SOCKET_PATH_MAX_BYTES = 107

#: What a lookup of a key that is not in the object returns (JSON null is a value).
ABSENT = object()


def show(value: object, limit: int = 60) -> str:
    """A short, one-line, ASCII rendering of an untrusted value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 128 else "a huge integer"
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, NonFinite):
        return value.literal
    if isinstance(value, str):
        text = json.dumps(value)
        return text if len(text) <= limit else text[: limit - 4] + '..."'
    return json_type(value)


def number_text(value: float) -> str:
    """A number as a reader expects it: 300 rather than 300.0, full precision otherwise."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def json_type(value: object) -> str:
    """The JSON type name of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, NonFinite):
        return f"non-finite number {value.literal}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def wrong_type(path: str, expected: str, value: object) -> ConfigError:
    """The error for a value of the wrong JSON type."""
    return ConfigError(path, f"expected {expected}, got {json_type(value)}")


def _range_text(
    lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False
) -> str:
    """Say which values are allowed, e.g. 'between 10 and 60000' or 'greater than 0'."""
    if lo is not None and hi is not None:
        if not lo_open and not hi_open:
            return f"between {number_text(lo)} and {number_text(hi)}"
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        return f"in {left}{number_text(lo)}, {number_text(hi)}{right}"
    if lo is not None:
        return f"{'greater than' if lo_open else 'at least'} {number_text(lo)}"
    if hi is not None:
        return f"{'less than' if hi_open else 'at most'} {number_text(hi)}"
    return "a finite number"


def check_int(value: object, path: str, lo: int, hi: int | None = None) -> int:
    """``value`` if it is a JSON integer in [lo, hi] (bool refused), else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and math.isfinite(value):
            raise ConfigError(path, f"expected an integer, got {value!r}")
        raise wrong_type(path, "an integer", value)
    if value < lo or (hi is not None and value > hi):
        raise ConfigError(path, f"must be {_range_text(lo, hi)}, got {show(value)}")
    return value


def check_number(
    value: object,
    path: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """``value`` as a float if it is a finite JSON number in range (bool refused)."""
    if isinstance(value, NonFinite):
        raise ConfigError(path, f"must be a finite number, got {value.literal}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong_type(path, "a number", value)
    allowed = _range_text(lo, hi, lo_open, hi_open)
    try:
        number = float(value)
    except OverflowError:
        expected = allowed if hi is not None else "a finite number"
        raise ConfigError(path, f"must be {expected}, got {show(value)}") from None
    if not math.isfinite(number):
        raise ConfigError(path, f"must be a finite number, got {show(value)}")
    if (lo is not None and (number <= lo if lo_open else number < lo)) or (
        hi is not None and (number >= hi if hi_open else number > hi)
    ):
        raise ConfigError(path, f"must be {allowed}, got {show(value)}")
    return number


def check_string(value: object, path: str, allow_empty: bool = False) -> str:
    """``value`` if it is a JSON string without NUL (and non-empty unless allowed)."""
    if not isinstance(value, str):
        raise wrong_type(path, "a string", value)
    if not value and not allow_empty:
        raise ConfigError(path, "must not be empty")
    if "\x00" in value:
        raise ConfigError(path, "must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can spell a lone surrogate ("\ud800"); no file name or header can hold one.
        raise ConfigError(path, "must be valid Unicode (it holds a lone surrogate)") from None
    return value


def check_credential(value: object, path: str, what: str) -> str:
    """An RPC user or password: non-empty, no control characters, at most 1024 characters."""
    text = check_string(value, path)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ConfigError(path, f"{what} must not contain control characters")
    if len(text) > 1024:
        raise ConfigError(path, f"{what} is longer than 1024 characters")
    return text


def check_file_path(value: object, path: str) -> str:
    """A filesystem path; a leading ``~`` is expanded to the home directory."""
    return os.path.expanduser(check_string(value, path))


def check_unix_socket_path(value: str, path: str) -> str:
    """A path short enough to be a Unix socket address."""
    if len(value.encode("utf-8")) > UNIX_SOCKET_PATH_MAX_BYTES:
        raise ConfigError(
            path, f"a Unix socket path must be at most {UNIX_SOCKET_PATH_MAX_BYTES} bytes"
        )
    return value
