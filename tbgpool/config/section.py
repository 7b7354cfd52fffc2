"""One JSON object of the configuration, read key by key with its key path in every error."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tbgpool.config.checks import (
    ABSENT,
    check_int,
    check_number,
    check_string,
    json_type,
    show,
    wrong_type,
)
from tbgpool.config.jsonload import JSONObject
from tbgpool.config.keys import unknown_key_detail
from tbgpool.errors import ConfigError

_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _child(path: str, key: str) -> str:
    """The key path of ``key`` inside the object at ``path``."""
    if _SIMPLE_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{show(key, 40)}]"


class Section:
    """One JSON object being read: unknown and repeated keys are refused up front."""

    def __init__(self, raw: object, path: str, keys: Sequence[str]) -> None:
        where = path or "<top level>"
        if not isinstance(raw, dict):
            raise wrong_type(where, "an object", raw)
        for key in raw:
            if not isinstance(key, str):
                raise ConfigError(where, f"object keys must be strings, got {json_type(key)}")
            if key not in keys:
                raise ConfigError(_child(path, key), unknown_key_detail(key, keys))
        for key in getattr(raw, "duplicates", ()):
            raise ConfigError(_child(path, key), "given more than once")
        self._raw: dict[str, object] = raw
        self._path = path

    def path(self, key: str) -> str:
        """The key path of ``key`` in this section."""
        return _child(self._path, key)

    def get(self, key: str) -> object:
        """The raw value of ``key``, or ``ABSENT``."""
        return self._raw.get(key, ABSENT)

    def present(self, key: str) -> bool:
        """Whether ``key`` was given (JSON null counts as given)."""
        return key in self._raw

    def boolean(self, key: str, default: bool) -> bool:
        """A JSON boolean (numbers and strings refused)."""
        value = self.get(key)
        if value is ABSENT:
            return default
        if not isinstance(value, bool):
            raise wrong_type(self.path(key), "a boolean (true or false)", value)
        return value

    def integer(self, key: str, default: int, lo: int, hi: int | None = None) -> int:
        """A JSON integer in [lo, hi]."""
        value = self.get(key)
        return default if value is ABSENT else check_int(value, self.path(key), lo, hi)

    def optional_integer(self, key: str, lo: int, hi: int | None = None) -> int | None:
        """A JSON integer in [lo, hi], or None when absent or null."""
        value = self.get(key)
        if value is ABSENT or value is None:
            return None
        return check_int(value, self.path(key), lo, hi)

    def number(
        self,
        key: str,
        default: float,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
        hi_open: bool = False,
    ) -> float:
        """A finite JSON number in range (integers accepted)."""
        value = self.get(key)
        if value is ABSENT:
            return default
        return check_number(value, self.path(key), lo, hi, lo_open, hi_open)

    def string(self, key: str, default: str, allow_empty: bool = False) -> str:
        """A JSON string."""
        value = self.get(key)
        if value is ABSENT:
            return default
        return check_string(value, self.path(key), allow_empty)

    def optional_string(self, key: str) -> str | None:
        """A non-empty JSON string, or None when absent or null."""
        value = self.get(key)
        if value is ABSENT or value is None:
            return None
        return check_string(value, self.path(key))

    def section(self, key: str, keys: Sequence[str]) -> Section:
        """The nested object at ``key`` (an empty one when absent)."""
        value = self.get(key)
        return Section(JSONObject() if value is ABSENT else value, self.path(key), keys)

    def array(self, key: str) -> list[object] | None:
        """A JSON array, or None when absent."""
        value = self.get(key)
        if value is ABSENT:
            return None
        if not isinstance(value, list):
            raise wrong_type(self.path(key), "an array", value)
        return value
