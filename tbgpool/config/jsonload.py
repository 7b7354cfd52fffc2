"""Strict JSON decoding of the configuration file.

Repeated keys are remembered instead of silently keeping the last, NaN and Infinity
literals are kept as :class:`NonFinite` markers so the error can name their key, and
the file's size, nesting depth and number lengths are bounded. Every problem here is a
:class:`tbgpool.errors.ConfigError` with the key ``"<file>"``.
"""

from __future__ import annotations

import json
import os
import stat

from tbgpool.errors import ConfigError

#: A config file larger than this is refused before it is decoded.
MAX_CONFIG_FILE_BYTES = 1 << 20


class NonFinite:
    """Stands in for a NaN/Infinity literal in the file, so the error can name its key."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


class JSONObject(dict[str, object]):
    """A decoded JSON object that remembers the keys it held more than once."""

    duplicates: tuple[str, ...] = ()


def _object_from_pairs(pairs: list[tuple[str, object]]) -> JSONObject:
    """Build a JSON object, noting repeated keys instead of silently keeping the last."""
    result = JSONObject()
    repeated = []
    for key, value in pairs:
        if key in result:
            repeated.append(key)
        result[key] = value
    if repeated:
        result.duplicates = tuple(repeated)
    return result


def decode_json(text: str, shown_path: str) -> object:
    """Decode plain JSON (no comments); ConfigError with key "<file>" and the position."""
    try:
        return json.loads(text, object_pairs_hook=_object_from_pairs, parse_constant=NonFinite)
    except json.JSONDecodeError as e:
        hint = ""
        if text[e.pos : e.pos + 1] in ("/", "#"):
            hint = " (comments are not allowed: the file is plain JSON)"
        raise ConfigError(
            "<file>",
            f"{shown_path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}{hint}",
        ) from None
    except RecursionError:
        raise ConfigError("<file>", f"{shown_path}: JSON nested too deeply") from None
    except ValueError:
        # Python refuses integers of more than 4300 digits.
        raise ConfigError("<file>", f"{shown_path}: a number has too many digits") from None


def read_config_text(path: str, shown: str) -> str:
    """The UTF-8 text (a BOM is allowed) of the regular file at ``path``; errors name it ``shown``."""
    try:
        # Checked before opening: opening a FIFO would block until a writer appears.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError("<file>", f"{shown} is not a regular file")
        with open(path, "rb") as config_file:
            data = config_file.read(MAX_CONFIG_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError("<file>", f"cannot read {shown}: {e.strerror or e}") from None
    except ValueError:
        # os.stat refuses a path with a NUL byte in it.
        raise ConfigError("<file>", f"cannot read {shown}: not a valid path") from None
    if len(data) > MAX_CONFIG_FILE_BYTES:
        raise ConfigError("<file>", f"{shown} is larger than {MAX_CONFIG_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(
            "<file>", f"{shown} is not UTF-8 text (bad byte at offset {e.start})"
        ) from None
    return text
