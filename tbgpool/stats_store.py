"""Files of the per-user stats: safe paths, atomic JSON writes, bounded reads.

One JSON file per user, ``<directory>/<address>.json``. A write goes to a
temporary file in the same directory (so it is on the same filesystem), is
flushed and fsynced, then renamed over the old file with :func:`os.replace`, so
a reader or a crash sees either the old file or the new one, never half of one.
The directory itself is fsynced after a batch so the renames are durable too.

Also here: readers for fields of untrusted JSON that raise ValueError naming
the field, used by the ``from_dict`` methods.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from typing import Final, TypeGuard

#: What an address must look like before it may become a file name.
ADDRESS_RE: Final = re.compile(r"[A-Za-z0-9]{1,90}")
#: The file name of a user's stats; group 1 is the address.
USER_FILE_RE: Final = re.compile(r"([A-Za-z0-9]{1,90})\.json")
#: The name of an abandoned temporary file (a crash between create and rename).
TEMP_FILE_RE: Final = re.compile(r"\.[A-Za-z0-9]{1,90}\.json\.[0-9a-f]{16}\.tmp")
#: A user file larger than this is refused as corrupt (1024 workers fit in well under 1 MiB).
MAX_USER_FILE_BYTES: Final = 16 * 1024 * 1024
#: New files get these permissions, less the process umask.
FILE_MODE: Final = 0o644


def is_valid_address(address: object) -> TypeGuard[str]:
    """Whether ``address`` may be used to name a user file."""
    return isinstance(address, str) and ADDRESS_RE.fullmatch(address) is not None


def user_file_path(directory: str, address: str) -> str:
    """``<directory>/<address>.json``; ValueError unless the address matches ADDRESS_RE."""
    if not is_valid_address(address):
        raise ValueError(f"refusing to build a stats path from address {address!r}")
    return os.path.join(directory, f"{address}.json")


def write_json_atomically(path: str, data: object, durable: bool = True) -> None:
    """Replace ``path`` by ``data`` as JSON: temporary file, flush, (fsync,) os.replace.

    Without ``durable`` the rename still makes the write atomic (a reader sees the old
    or the new file), but a power cut may lose the newest version.
    """
    encoded = json.dumps(data, allow_nan=False, sort_keys=True, separators=(",", ":"))
    directory, name = os.path.split(path)
    temp_path = os.path.join(directory, f".{name}.{secrets.token_hex(8)}.tmp")
    # O_EXCL: never write through something already there (such as a planted symlink).
    fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as temp_file:
            temp_file.write(encoded.encode("ascii"))
            temp_file.flush()
            if durable:
                os.fsync(temp_file.fileno())
        os.replace(temp_path, path)
    except BaseException:
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
        raise


def fsync_directory(directory: str) -> None:
    """Make renames in ``directory`` durable (OSError if the filesystem refuses)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json_file(path: str) -> object:
    """The JSON value in ``path``; ValueError if it is too large or not JSON, OSError on I/O."""
    with open(path, "rb") as json_file:
        encoded = json_file.read(MAX_USER_FILE_BYTES + 1)
    if len(encoded) > MAX_USER_FILE_BYTES:
        raise ValueError(f"larger than {MAX_USER_FILE_BYTES} bytes")
    try:
        return json.loads(encoded.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8: {e}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e}") from None


def _refuse_constant(name: str) -> object:
    """Refuse NaN and Infinity, which are not JSON."""
    raise ValueError(f"not JSON: {name} is not a number in JSON")


def json_object(field: str, value: object) -> dict[str, object]:
    """``value`` if it is a JSON object, else ValueError naming ``field``."""
    if not isinstance(value, dict):
        raise ValueError(f"{field}: expected an object")
    return value


def json_number(field: str, value: object) -> float:
    """``value`` as a float if it is a finite JSON number, else ValueError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field}: expected a number")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{field}: expected a finite number")
    return result


def json_non_negative(field: str, value: object) -> float:
    """``value`` as a float if it is a finite JSON number >= 0, else ValueError."""
    result = json_number(field, value)
    if result < 0:
        raise ValueError(f"{field}: must not be negative")
    return result


def json_count(field: str, value: object) -> int:
    """``value`` if it is a JSON integer >= 0, else ValueError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field}: expected a non-negative integer")
    return value
