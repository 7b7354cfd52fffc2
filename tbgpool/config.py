"""The pool configuration: a ckpool-compatible JSON file, validated into frozen dataclasses.

Every key is documented in ``docs/configuration.md``. Parsing is strict, because a
mistyped key in a mainnet pool's configuration should stop it, not be ignored:
an unknown key, a value of the wrong JSON type, an out-of-range or non-finite
number and a key given twice each raise :class:`tbgpool.errors.ConfigError`
naming the key path (``"vardiff.ema_alpha"``, ``"btcd[0].url"``) in one line.
Problems with the file itself (missing, unreadable, not JSON) use the key
``"<file>"``. Nothing here touches the network; only :func:`load_config` reads a
file, and no referenced file (cookie, TLS key) is opened.
"""

from __future__ import annotations

import argparse
import difflib
import ipaddress
import json
import math
import os
import re
import stat
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit

from tbgpool.difficulty import DIFF1_TARGET, bits_to_target
from tbgpool.errors import ConfigError
from tbgpool.vardiff import VardiffSettings

#: The ``btcd`` url that selects the in-process embedded chain instead of a node.
EMBEDDED_URL = "embedded"
#: Networks the embedded chain can call itself (only regtest is faithful).
EMBEDDED_NETWORKS = ("regtest", "signet", "test", "testnet4", "main")
#: Every event type the events socket can carry, in the spec's order.
EVENT_TYPES = (
    "share_submitted",
    "block_found",
    "miner_connected",
    "miner_disconnected",
    "diff_updated",
    "hashrate_update",
    "new_block_network",
    "share_best_diff",
    "asicboost_detected",
)
#: Longest pool tag (``btcsig``) in bytes; ckpool silently truncates to the same length.
BTCSIG_MAX_BYTES = 38
#: Consensus limit on a coinbase scriptSig.
COINBASE_SCRIPTSIG_MAX_BYTES = 100
#: Largest BIP34 height push (heights below 2**31: one push opcode and four bytes).
BIP34_HEIGHT_PUSH_MAX_BYTES = 5
#: A config file larger than this is refused before it is decoded.
MAX_CONFIG_FILE_BYTES = 1 << 20
#: A Linux ``sun_path`` holds 107 bytes and a terminating NUL.
UNIX_SOCKET_PATH_MAX_BYTES = 107
#: The embedded chain's easiest difficulty: regtest's proof-of-work limit (bits 207fffff).
MIN_NETWORK_DIFFICULTY = DIFF1_TARGET / bits_to_target(0x207FFFFF)
#: The hardest expressible difficulty: the one whose target is 1.
MAX_NETWORK_DIFFICULTY = float(DIFF1_TARGET)
_MAX_SEED = 2**64 - 1
_MAX_LISTEN_BACKLOG = 65535

_TOP_KEYS = (
    "btcd",
    "embedded",
    "btcsig",
    "blockpoll",
    "serverurl",
    "update_interval",
    "version_mask",
    "mindiff",
    "startdiff",
    "maxdiff",
    "nonce1length",
    "nonce2length",
    "logdir",
    "zmqblock",
    "maxclients",
    "donation",
    "vardiff",
    "events",
    "metrics",
    "rate_limits",
)
_BACKEND_KEYS = ("url", "auth", "pass", "cookie", "notify", "timeout")
_EMBEDDED_KEYS = ("network", "difficulty", "block_interval", "rpc_port", "seed")
_VARDIFF_KEYS = (
    "enabled",
    "target_share_interval",
    "retarget_interval",
    "ema_alpha",
    "dampening",
    "dead_band_percent",
    "reconnect_memory_ttl",
)
_EVENTS_KEYS = ("enabled", "socket_path", "include")
_METRICS_KEYS = ("enabled", "port", "path", "bind")
_RATE_LIMIT_COUNT_KEYS = (
    "connections_per_ip_per_minute",
    "max_connections_per_ip",
    "subscribes_per_minute",
    "authorizes_per_minute",
    "max_shares_per_minute",
    "max_invalid_shares_per_minute",
)
_RATE_LIMITS_KEYS = (*_RATE_LIMIT_COUNT_KEYS, "exempt")

#: Every key the parser knows, by section (``btcd[]`` is each entry of ``btcd``).
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "": _TOP_KEYS,
    "btcd[]": _BACKEND_KEYS,
    "embedded": _EMBEDDED_KEYS,
    "vardiff": _VARDIFF_KEYS,
    "events": _EVENTS_KEYS,
    "metrics": _METRICS_KEYS,
    "rate_limits": _RATE_LIMITS_KEYS,
}

#: ckpool keys tbgpool does not take, with the reason given to someone migrating.
_CKPOOL_ONLY_KEYS = {
    "btcaddress": "tbgpool is a solo pool and pays each miner's own address",
    "highdiff": "use startdiff, or mining.suggest_difficulty from the miner",
    "proxy": "ckpool's proxy mode is not supported",
    "redirecturl": "ckpool's redirector mode is not supported",
    "nodeserver": "ckpool's node mode is not supported",
    "trusted": "ckpool's trusted remote servers are not supported",
    "upstream": "ckpool's upstream pools are not supported",
}


@dataclass(frozen=True)
class BackendConfig:
    """One Bitcoin Core node (``btcd`` entry), or the embedded chain."""

    url: str  #: "host:port", "http://host:port[/path]", or "embedded"
    user: str | None = None  #: key "auth"
    password: str | None = None  #: key "pass"
    cookie: str | None = None  #: key "cookie": path to Core's .cookie file
    notify: bool = True  #: key "notify": this node's ZMQ notifications are used
    timeout_s: float = 10.0  #: key "timeout"

    @property
    def is_embedded(self) -> bool:
        """Whether this entry selects the in-process embedded chain."""
        return self.url == EMBEDDED_URL


@dataclass(frozen=True)
class EmbeddedConfig:
    """Settings of the in-process embedded chain (top-level key "embedded")."""

    network: str = "regtest"
    difficulty: float | None = None  #: None = regtest's own (bits 207fffff)
    block_interval_s: float = 0.0  #: key "block_interval"; 0 = no "network" blocks
    rpc_port: int | None = None  #: also serve the chain as JSON-RPC on 127.0.0.1:port
    seed: int = 0


@dataclass(frozen=True)
class EventsConfig:
    """The event stream on a Unix socket (ckpool events compatible)."""

    enabled: bool = False
    socket_path: str = "/var/run/ckpool/events.sock"
    include: tuple[str, ...] = EVENT_TYPES


@dataclass(frozen=True)
class MetricsConfig:
    """The Prometheus metrics HTTP endpoint."""

    enabled: bool = False
    port: int = 9100
    path: str = "/metrics"
    bind: str = "127.0.0.1"


@dataclass(frozen=True)
class RateLimitsConfig:
    """Per-IP connection and per-connection message limits."""

    connections_per_ip_per_minute: int = 10
    max_connections_per_ip: int = 50
    subscribes_per_minute: int = 3
    authorizes_per_minute: int = 5
    max_shares_per_minute: int = 1000
    max_invalid_shares_per_minute: int = 100
    exempt: tuple[str, ...] = ()  #: networks in CIDR form, normalised


@dataclass(frozen=True)
class PoolConfig:
    """The whole validated pool configuration."""

    btcd: tuple[BackendConfig, ...]
    embedded: EmbeddedConfig = field(default_factory=EmbeddedConfig)
    btcsig: str = "/tbgpool/"
    blockpoll_ms: int = 100
    serverurl: tuple[str, ...] = ("127.0.0.1:3333",)
    update_interval_s: float = 30.0
    version_mask: int = 0x1FFFE000
    mindiff: float = 1.0
    startdiff: float = 42.0
    maxdiff: float = 0.0
    nonce1length: int = 4
    nonce2length: int = 8
    logdir: str = "logs"
    zmqblock: str | None = None
    maxclients: int = 100000
    donation: float = 0.0
    vardiff: VardiffSettings = field(default_factory=VardiffSettings)
    events: EventsConfig = field(default_factory=EventsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    rate_limits: RateLimitsConfig = field(default_factory=RateLimitsConfig)

    @property
    def uses_embedded_chain(self) -> bool:
        """Whether work comes from the embedded chain rather than Bitcoin Core."""
        return self.btcd[0].is_embedded


# --- JSON decoding -------------------------------------------------------------------------


class _NonFinite:
    """Stands in for a NaN/Infinity literal in the file, so the error can name its key."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


class _JSONObject(dict[str, object]):
    """A decoded JSON object that remembers the keys it held more than once."""

    duplicates: tuple[str, ...] = ()


def _object_from_pairs(pairs: list[tuple[str, object]]) -> _JSONObject:
    """Build a JSON object, noting repeated keys instead of silently keeping the last."""
    result = _JSONObject()
    repeated = []
    for key, value in pairs:
        if key in result:
            repeated.append(key)
        result[key] = value
    if repeated:
        result.duplicates = tuple(repeated)
    return result


def _decode_json(text: str, shown_path: str) -> object:
    """Decode plain JSON (no comments); ConfigError with key "<file>" and the position."""
    try:
        return json.loads(text, object_pairs_hook=_object_from_pairs, parse_constant=_NonFinite)
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


# --- value checks --------------------------------------------------------------------------

_ABSENT = object()
_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _show(value: object, limit: int = 60) -> str:
    """A short, one-line, ASCII rendering of an untrusted value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 128 else "a huge integer"
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, _NonFinite):
        return value.literal
    if isinstance(value, str):
        text = json.dumps(value)
        return text if len(text) <= limit else text[: limit - 4] + '..."'
    return _json_type(value)


def _number_text(value: float) -> str:
    """A number as a reader expects it: 300 rather than 300.0, full precision otherwise."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _json_type(value: object) -> str:
    """The JSON type name of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, _NonFinite):
        return f"non-finite number {value.literal}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _child(path: str, key: str) -> str:
    """The key path of ``key`` inside the object at ``path``."""
    if _SIMPLE_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{_show(key, 40)}]"


def _wrong_type(path: str, expected: str, value: object) -> ConfigError:
    """The error for a value of the wrong JSON type."""
    return ConfigError(path, f"expected {expected}, got {_json_type(value)}")


def _range_text(
    lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False
) -> str:
    """Say which values are allowed, e.g. 'between 10 and 60000' or 'greater than 0'."""
    if lo is not None and hi is not None:
        if not lo_open and not hi_open:
            return f"between {_number_text(lo)} and {_number_text(hi)}"
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        return f"in {left}{_number_text(lo)}, {_number_text(hi)}{right}"
    if lo is not None:
        return f"{'greater than' if lo_open else 'at least'} {_number_text(lo)}"
    if hi is not None:
        return f"{'less than' if hi_open else 'at most'} {_number_text(hi)}"
    return "a finite number"


def _check_int(value: object, path: str, lo: int, hi: int | None = None) -> int:
    """``value`` if it is a JSON integer in [lo, hi] (bool refused), else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and math.isfinite(value):
            raise ConfigError(path, f"expected an integer, got {value!r}")
        raise _wrong_type(path, "an integer", value)
    if value < lo or (hi is not None and value > hi):
        raise ConfigError(path, f"must be {_range_text(lo, hi)}, got {_show(value)}")
    return value


def _check_number(
    value: object,
    path: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """``value`` as a float if it is a finite JSON number in range (bool refused)."""
    if isinstance(value, _NonFinite):
        raise ConfigError(path, f"must be a finite number, got {value.literal}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong_type(path, "a number", value)
    allowed = _range_text(lo, hi, lo_open, hi_open)
    try:
        number = float(value)
    except OverflowError:
        expected = allowed if hi is not None else "a finite number"
        raise ConfigError(path, f"must be {expected}, got {_show(value)}") from None
    if not math.isfinite(number):
        raise ConfigError(path, f"must be a finite number, got {_show(value)}")
    if (lo is not None and (number <= lo if lo_open else number < lo)) or (
        hi is not None and (number >= hi if hi_open else number > hi)
    ):
        raise ConfigError(path, f"must be {allowed}, got {_show(value)}")
    return number


def _check_string(value: object, path: str, allow_empty: bool = False) -> str:
    """``value`` if it is a JSON string without NUL (and non-empty unless allowed)."""
    if not isinstance(value, str):
        raise _wrong_type(path, "a string", value)
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


def _check_credential(value: object, path: str, what: str) -> str:
    """An RPC user or password: non-empty, no control characters, at most 1024 characters."""
    text = _check_string(value, path)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ConfigError(path, f"{what} must not contain control characters")
    if len(text) > 1024:
        raise ConfigError(path, f"{what} is longer than 1024 characters")
    return text


def _check_file_path(value: object, path: str) -> str:
    """A filesystem path; a leading ``~`` is expanded to the home directory."""
    return os.path.expanduser(_check_string(value, path))


def _check_unix_socket_path(value: str, path: str) -> str:
    """A path short enough to be a Unix socket address."""
    if len(value.encode("utf-8")) > UNIX_SOCKET_PATH_MAX_BYTES:
        raise ConfigError(
            path, f"a Unix socket path must be at most {UNIX_SOCKET_PATH_MAX_BYTES} bytes"
        )
    return value


class _Section:
    """One JSON object being read: unknown and repeated keys are refused up front."""

    def __init__(self, raw: object, path: str, keys: Sequence[str]) -> None:
        where = path or "<top level>"
        if not isinstance(raw, dict):
            raise _wrong_type(where, "an object", raw)
        for key in raw:
            if not isinstance(key, str):
                raise ConfigError(where, f"object keys must be strings, got {_json_type(key)}")
            if key not in keys:
                raise ConfigError(_child(path, key), _unknown_key_detail(key, keys))
        for key in getattr(raw, "duplicates", ()):
            raise ConfigError(_child(path, key), "given more than once")
        self._raw: dict[str, object] = raw
        self._path = path

    def path(self, key: str) -> str:
        """The key path of ``key`` in this section."""
        return _child(self._path, key)

    def get(self, key: str) -> object:
        """The raw value of ``key``, or ``_ABSENT``."""
        return self._raw.get(key, _ABSENT)

    def present(self, key: str) -> bool:
        """Whether ``key`` was given (JSON null counts as given)."""
        return key in self._raw

    def boolean(self, key: str, default: bool) -> bool:
        """A JSON boolean (numbers and strings refused)."""
        value = self.get(key)
        if value is _ABSENT:
            return default
        if not isinstance(value, bool):
            raise _wrong_type(self.path(key), "a boolean (true or false)", value)
        return value

    def integer(self, key: str, default: int, lo: int, hi: int | None = None) -> int:
        """A JSON integer in [lo, hi]."""
        value = self.get(key)
        return default if value is _ABSENT else _check_int(value, self.path(key), lo, hi)

    def optional_integer(self, key: str, lo: int, hi: int | None = None) -> int | None:
        """A JSON integer in [lo, hi], or None when absent or null."""
        value = self.get(key)
        if value is _ABSENT or value is None:
            return None
        return _check_int(value, self.path(key), lo, hi)

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
        if value is _ABSENT:
            return default
        return _check_number(value, self.path(key), lo, hi, lo_open, hi_open)

    def string(self, key: str, default: str, allow_empty: bool = False) -> str:
        """A JSON string."""
        value = self.get(key)
        if value is _ABSENT:
            return default
        return _check_string(value, self.path(key), allow_empty)

    def optional_string(self, key: str) -> str | None:
        """A non-empty JSON string, or None when absent or null."""
        value = self.get(key)
        if value is _ABSENT or value is None:
            return None
        return _check_string(value, self.path(key))

    def section(self, key: str, keys: Sequence[str]) -> _Section:
        """The nested object at ``key`` (an empty one when absent)."""
        value = self.get(key)
        return _Section(_JSONObject() if value is _ABSENT else value, self.path(key), keys)

    def array(self, key: str) -> list[object] | None:
        """A JSON array, or None when absent."""
        value = self.get(key)
        if value is _ABSENT:
            return None
        if not isinstance(value, list):
            raise _wrong_type(self.path(key), "an array", value)
        return value


def _unknown_key_detail(key: str, known: Iterable[str]) -> str:
    """'unknown key', with a ckpool migration note or a close spelling when there is one."""
    if key in _CKPOOL_ONLY_KEYS:
        return f"unknown key (ckpool's {key!r} is not used: {_CKPOOL_ONLY_KEYS[key]})"
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return "unknown key"


# --- addresses and endpoints ---------------------------------------------------------------

_PORT = re.compile(r"[0-9]{1,5}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class _Bind(NamedTuple):
    """What a listener binds: a TCP address and port, or a Unix socket path."""

    kind: str  # "tcp" or "unix"
    address: str
    port: int


def _check_hostname(host: str, path: str) -> None:
    """Refuse anything that is neither an IPv4 address nor a DNS host name."""
    labels = host.split(".")
    if (
        len(host) > 253
        or not all(_HOST_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ConfigError(path, f"{_show(host)} is not a valid host name or IP address")


def _split_host_port(
    text: str, path: str, example: str, hostname_ok: bool, lowest_port: int
) -> tuple[str, int]:
    """Split ``host:port`` or ``[IPv6]:port``; the host must be an IP unless ``hostname_ok``."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1 : close + 2] != ":":
            raise ConfigError(path, f"expected {example}, got {_show(text)}")
        host, port_text = text[1:close], text[close + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(path, f"{_show(host)} in brackets is not an IPv6 address") from None
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon or not host:
            raise ConfigError(path, f"expected {example}, got {_show(text)}")
        if ":" in host:
            raise ConfigError(
                path,
                f'an IPv6 address needs brackets, as in "[::1]:{port_text}"; got {_show(text)}',
            )
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if not hostname_ok:
                raise ConfigError(
                    path, f"the host must be an IP address to listen on, got {_show(host)}"
                ) from None
            _check_hostname(host, path)
    if not _PORT.fullmatch(port_text) or not lowest_port <= int(port_text) <= 65535:
        raise ConfigError(
            path, f"the port must be between {lowest_port} and 65535, got {_show(port_text)}"
        )
    return host, int(port_text)


def _check_rpc_url(url: str, path: str) -> tuple[str, int, str]:
    """Validate a Core RPC url; returns (host, port, http path) to spot duplicates."""
    if "://" not in url:
        host, port = _split_host_port(url, path, '"host:port"', True, 1)
        return host.lower(), port, "/"
    parts = urlsplit(url)
    if parts.scheme.lower() == "https":
        raise ConfigError(path, "Bitcoin Core's RPC server speaks plain http, not https")
    if parts.scheme.lower() != "http":
        raise ConfigError(path, f'expected "host:port" or "http://host:port", got {_show(url)}')
    if "@" in parts.netloc:
        raise ConfigError(path, 'put credentials in "auth"/"pass" or "cookie", not in the url')
    if parts.query or parts.fragment:
        raise ConfigError(path, "must not have a query or fragment")
    host, port = _split_host_port(parts.netloc, path, '"http://host:port"', True, 1)
    return host.lower(), port, parts.path or "/"


def _check_zmq_url(url: str, path: str) -> None:
    """A ZMQ endpoint Core publishes on: tcp://host:port or ipc://path."""
    if url.startswith("tcp://"):
        _split_host_port(url[6:], path, '"tcp://host:port"', True, 1)
    elif url.startswith("ipc://") and url[6:]:
        _check_unix_socket_path(url[6:], path)
    else:
        raise ConfigError(path, f'expected "tcp://host:port" or "ipc://path", got {_show(url)}')


# Parameter names of Twisted's server endpoint parsers, in their positional order.
_ENDPOINT_PARAMETERS = {
    "tcp": ("port", "interface", "backlog"),
    "tcp6": ("port", "backlog", "interface"),
    "ssl": (
        "port",
        "privateKey",
        "certKey",
        "sslmethod",
        "interface",
        "backlog",
        "extraCertChain",
        "dhParameters",
    ),
    "unix": ("address", "mode", "backlog", "lockfile"),
}


def _split_endpoint(text: str, path: str) -> list[tuple[str | None, str]]:
    """Tokenize as Twisted does: ':' separates, the first '=' names an argument, '\\' escapes."""
    items: list[tuple[str | None, str]] = []
    name: str | None = None
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise ConfigError(path, "endpoint string ends with a lone backslash")
            current.append(escaped)
        elif char == ":":
            items.append((name, "".join(current)))
            name, current = None, []
        elif char == "=" and name is None:
            name, current = "".join(current), []
        else:
            current.append(char)
    items.append((name, "".join(current)))
    return items


def _endpoint_arguments(text: str, path: str) -> tuple[str, dict[str, str]]:
    """The endpoint type and its arguments by name; ConfigError for what Twisted would refuse."""
    items = _split_endpoint(text, path)
    kind = items[0][1]
    parameters = _ENDPOINT_PARAMETERS[kind]
    arguments: dict[str, str] = {}
    positional = 0
    for name, value in items[1:]:
        if name is None:
            if positional >= len(parameters):
                raise ConfigError(path, f"too many positional arguments for a {kind} endpoint")
            name = parameters[positional]
            positional += 1
        elif name not in parameters:
            raise ConfigError(
                path,
                f"unknown {kind} endpoint argument {_show(name, 40)} "
                f"(known: {', '.join(parameters)})",
            )
        if name in arguments:
            raise ConfigError(path, f"endpoint argument {name!r} given twice")
        arguments[name] = value
    return kind, arguments


def _check_endpoint_string(text: str, path: str) -> _Bind:
    """Validate a Twisted server endpoint string (tcp, tcp6, ssl, unix); returns what it binds."""
    kind, arguments = _endpoint_arguments(text, path)
    backlog = arguments.get("backlog")
    if backlog is not None and (
        not _PORT.fullmatch(backlog) or not 1 <= int(backlog) <= _MAX_LISTEN_BACKLOG
    ):
        raise ConfigError(path, f"backlog must be between 1 and {_MAX_LISTEN_BACKLOG}")
    if kind == "unix":
        address = arguments.get("address", "")
        if not address:
            raise ConfigError(
                path, "a unix endpoint needs a socket path, as in unix:/run/tbgpool.sock"
            )
        _check_unix_socket_path(address, path)
        if not re.fullmatch(r"[0-7]{1,4}", arguments.get("mode", "666")):
            raise ConfigError(path, "mode must be an octal file mode such as 660")
        if arguments.get("lockfile", "1") not in ("0", "1"):
            raise ConfigError(path, "lockfile must be 0 or 1")
        return _Bind("unix", address, 0)
    port = arguments.get("port")
    if port is None or not _PORT.fullmatch(port) or int(port) > 65535:
        raise ConfigError(path, f"a {kind} endpoint needs a port between 0 and 65535")
    interface = arguments.get("interface", "::" if kind == "tcp6" else "0.0.0.0") or "0.0.0.0"
    try:
        interface = str(ipaddress.ip_address(interface))
    except ValueError:
        raise ConfigError(
            path, f"interface must be an IP address, got {_show(interface)}"
        ) from None
    if kind == "ssl":
        if not arguments.get("privateKey"):
            raise ConfigError(path, "an ssl endpoint needs privateKey=<PEM file>")
        for name in ("certKey", "sslmethod", "extraCertChain", "dhParameters"):
            if name in arguments and not arguments[name]:
                raise ConfigError(path, f"{name} must not be empty")
    return _Bind("tcp", interface, int(port))


def _escape_endpoint_value(value: str) -> str:
    """Quote a value for an endpoint string: backslash and colon get a backslash."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _listener(entry: str, path: str) -> tuple[str, _Bind]:
    """One serverurl entry as (Twisted endpoint string, what it binds)."""
    prefix = entry.split(":", 1)[0]
    if prefix.lower() in _ENDPOINT_PARAMETERS and ":" in entry:
        if prefix != prefix.lower():
            # Twisted looks endpoint types up in lower case only.
            raise ConfigError(path, f"write the endpoint type in lower case: {prefix.lower()}:")
        return entry, _check_endpoint_string(entry, path)
    host, port = _split_host_port(entry, path, '"host:port" or "[IPv6]:port"', False, 0)
    address = ipaddress.ip_address(host)
    if address.version == 4:
        return f"tcp:{port}:interface={host}", _Bind("tcp", str(address), port)
    return f"tcp6:{port}:interface={_escape_endpoint_value(host)}", _Bind("tcp", str(address), port)


def _binds_overlap(a: _Bind, b: _Bind) -> bool:
    """Whether two listeners would fight over the same socket address."""
    if a.kind != b.kind:
        return False
    if a.kind == "unix":
        return a.address == b.address
    if a.port == 0 or a.port != b.port:
        return False
    if a.address == b.address or "::" in (a.address, b.address):
        return True
    for wildcard, other in ((a, b), (b, a)):
        if wildcard.address == "0.0.0.0" and ":" not in other.address:
            return True
    return False


def _check_no_conflicts(binds: list[tuple[str, _Bind]]) -> None:
    """Refuse two listeners on the same address and port (or the same socket path)."""
    for index, (path, bind) in enumerate(binds):
        for earlier_path, earlier in binds[:index]:
            if _binds_overlap(earlier, bind):
                raise ConfigError(path, f"listens on the same address as {earlier_path}")


def server_endpoints(config: PoolConfig) -> list[str]:
    """The serverurl entries as Twisted server endpoint strings, in order."""
    return [
        _listener(entry, f"serverurl[{index}]")[0] for index, entry in enumerate(config.serverurl)
    ]


def coinbase_scriptsig_max_bytes(btcsig_bytes: int, nonce1length: int, nonce2length: int) -> int:
    """Worst-case scriptSig length before any user tag: height, extranonce and pool-tag pushes."""
    return BIP34_HEIGHT_PUSH_MAX_BYTES + 1 + nonce1length + nonce2length + 1 + btcsig_bytes


# --- sections ------------------------------------------------------------------------------


def _parse_backends(top: _Section) -> tuple[BackendConfig, ...]:
    """The btcd list: Core nodes in failover order, or the embedded chain alone."""
    raw = top.array("btcd")
    if raw is None:
        raise ConfigError(
            "btcd",
            'is required: a list of nodes such as [{"url": "127.0.0.1:8332", '
            '"cookie": "/var/lib/bitcoind/.cookie"}], or [{"url": "embedded"}]',
        )
    if not raw:
        raise ConfigError("btcd", "must list at least one node")
    backends: list[BackendConfig] = []
    seen: dict[tuple[str, int, str], str] = {}
    for index, item in enumerate(raw):
        entry = _Section(item, f"btcd[{index}]", _BACKEND_KEYS)
        url_path = entry.path("url")
        if not entry.present("url"):
            raise ConfigError(
                url_path, 'is required ("host:port", "http://host:port" or "embedded")'
            )
        url = _check_string(entry.get("url"), url_path)
        embedded = url == EMBEDDED_URL
        if embedded and len(raw) > 1:
            raise ConfigError(url_path, '"embedded" must be the only btcd entry')
        if not embedded:
            location = _check_rpc_url(url, url_path)
            if location in seen:
                raise ConfigError(url_path, f"is the same node as {seen[location]}")
            seen[location] = url_path
        user = _optional_credential(entry, "auth", "user name")
        if user is not None and ":" in user:
            raise ConfigError(entry.path("auth"), "user name must not contain ':'")
        password = _optional_credential(entry, "pass", "password")
        cookie = entry.optional_string("cookie")
        if (user is None) != (password is None):
            missing = "pass" if password is None else "auth"
            raise ConfigError(entry.path(missing), 'is required: give both "auth" and "pass"')
        if cookie is not None:
            if embedded:
                raise ConfigError(entry.path("cookie"), "is not used by the embedded chain")
            if user is not None:
                raise ConfigError(
                    entry.path("cookie"),
                    'cannot be combined with "auth"/"pass"; use one or the other',
                )
            cookie = _check_file_path(cookie, entry.path("cookie"))
        elif user is None and not embedded:
            raise ConfigError(
                f"btcd[{index}]",
                'needs credentials: "cookie" (path to Core\'s .cookie file) or "auth" and "pass"',
            )
        backends.append(
            BackendConfig(
                url=url,
                user=user,
                password=password,
                cookie=cookie,
                notify=entry.boolean("notify", True),
                timeout_s=entry.number("timeout", 10.0, 0, 300, lo_open=True),
            )
        )
    return tuple(backends)


def _optional_credential(entry: _Section, key: str, what: str) -> str | None:
    """An optional user name or password (JSON null counts as absent)."""
    value = entry.get(key)
    if value is _ABSENT or value is None:
        return None
    return _check_credential(value, entry.path(key), what)


def _parse_embedded(top: _Section, uses_embedded: bool) -> EmbeddedConfig:
    """The embedded chain's settings; refused when no btcd entry is the embedded chain."""
    if top.present("embedded") and not uses_embedded:
        raise ConfigError("embedded", 'is set but no btcd entry has url "embedded"')
    section = top.section("embedded", _EMBEDDED_KEYS)
    network = section.string("network", "regtest")
    if network not in EMBEDDED_NETWORKS:
        raise ConfigError(
            section.path("network"),
            f"must be one of {', '.join(EMBEDDED_NETWORKS)}, got {_show(network)}",
        )
    difficulty_value = section.get("difficulty")
    difficulty = None
    if difficulty_value is not _ABSENT and difficulty_value is not None:
        difficulty = _check_number(
            difficulty_value,
            section.path("difficulty"),
            MIN_NETWORK_DIFFICULTY,
            MAX_NETWORK_DIFFICULTY,
        )
    block_interval_s = section.number("block_interval", 0.0, 0, 86400)
    if 0 < block_interval_s < 0.1:
        raise ConfigError(
            section.path("block_interval"),
            f"must be 0 (off) or between 0.1 and 86400, got {_number_text(block_interval_s)}",
        )
    return EmbeddedConfig(
        network=network,
        difficulty=difficulty,
        block_interval_s=block_interval_s,
        rpc_port=section.optional_integer("rpc_port", 1, 65535),
        seed=section.integer("seed", 0, 0, _MAX_SEED),
    )


def _parse_btcsig(top: _Section) -> str:
    """The pool tag: printable ASCII, short enough for the coinbase scriptSig."""
    btcsig = top.string("btcsig", "/tbgpool/", allow_empty=True)
    if not all(0x20 <= ord(c) <= 0x7E for c in btcsig):
        raise ConfigError("btcsig", "must be printable ASCII (0x20..0x7e)")
    if len(btcsig) > BTCSIG_MAX_BYTES:
        raise ConfigError(
            "btcsig",
            f"is {len(btcsig)} bytes; at most {BTCSIG_MAX_BYTES} fit in the coinbase "
            "(ckpool would truncate it)",
        )
    return btcsig


def _parse_serverurl(top: _Section) -> tuple[tuple[str, ...], list[tuple[str, _Bind]]]:
    """The Stratum listeners (an array, or one string as ckpool also accepts)."""
    value = top.get("serverurl")
    if value is _ABSENT:
        entries: list[object] = ["127.0.0.1:3333"]
        paths = ["serverurl"]
    elif isinstance(value, str):
        entries, paths = [value], ["serverurl"]
    elif isinstance(value, list):
        if not value:
            raise ConfigError("serverurl", "must list at least one listener")
        entries = value
        paths = [f"serverurl[{index}]" for index in range(len(value))]
    else:
        raise _wrong_type("serverurl", "an array of strings", value)
    checked: list[str] = []
    binds: list[tuple[str, _Bind]] = []
    for entry, path in zip(entries, paths, strict=True):
        text = _check_string(entry, path)
        binds.append((path, _listener(text, path)[1]))
        checked.append(text)
    return tuple(checked), binds


def _parse_version_mask(top: _Section) -> int:
    """The BIP310 version-rolling mask, from 1..8 hex digits; bit 31 may not roll."""
    text = top.string("version_mask", "1fffe000")
    if not re.fullmatch(r"[0-9A-Fa-f]{1,8}", text):
        raise ConfigError(
            "version_mask", f"must be 1 to 8 hex digits without 0x, got {_show(text)}"
        )
    mask = int(text, 16)
    if mask & 0x80000000:
        raise ConfigError(
            "version_mask", "must not include bit 31 (0x80000000): versions would turn negative"
        )
    return mask


def _parse_difficulties(top: _Section) -> tuple[float, float, float]:
    """(mindiff, startdiff, maxdiff), consistent with each other."""
    mindiff = top.number("mindiff", 1.0, 0, lo_open=True)
    maxdiff = top.number("maxdiff", 0.0, 0)
    if maxdiff and maxdiff < mindiff:
        raise ConfigError(
            "maxdiff",
            f"must be 0 (no maximum) or at least mindiff ({_number_text(mindiff)}), "
            f"got {_number_text(maxdiff)}",
        )
    if not top.present("startdiff"):
        startdiff = min(max(42.0, mindiff), maxdiff or math.inf)
        return mindiff, startdiff, maxdiff
    startdiff = top.number("startdiff", 42.0, 0, lo_open=True)
    if startdiff < mindiff:
        raise ConfigError(
            "startdiff",
            f"must be at least mindiff ({_number_text(mindiff)}), got {_number_text(startdiff)}",
        )
    if maxdiff and startdiff > maxdiff:
        raise ConfigError(
            "startdiff",
            f"must be at most maxdiff ({_number_text(maxdiff)}), got {_number_text(startdiff)}",
        )
    return mindiff, startdiff, maxdiff


def _parse_vardiff(
    top: _Section, mindiff: float, startdiff: float, maxdiff: float
) -> VardiffSettings:
    """The vardiff knobs, with the top-level difficulties copied in."""
    section = top.section("vardiff", _VARDIFF_KEYS)
    defaults = VardiffSettings()
    return VardiffSettings(
        enabled=section.boolean("enabled", defaults.enabled),
        target_share_interval_s=section.number(
            "target_share_interval", defaults.target_share_interval_s, 0, 3600, lo_open=True
        ),
        retarget_interval_s=section.number(
            "retarget_interval", defaults.retarget_interval_s, 0, 86400, lo_open=True
        ),
        ema_alpha=section.number("ema_alpha", defaults.ema_alpha, 0, 1, lo_open=True),
        dampening=section.number("dampening", defaults.dampening, 0, 1, lo_open=True),
        dead_band_percent=section.number("dead_band_percent", defaults.dead_band_percent, 0, 100),
        reconnect_memory_ttl_s=section.number(
            "reconnect_memory_ttl", defaults.reconnect_memory_ttl_s, 0
        ),
        mindiff=mindiff,
        maxdiff=maxdiff,
        startdiff=startdiff,
    )


def _parse_events(top: _Section) -> EventsConfig:
    """The events socket: on/off, its path, and which event types it carries."""
    section = top.section("events", _EVENTS_KEYS)
    socket_path = _check_unix_socket_path(
        _check_file_path(
            section.string("socket_path", EventsConfig.socket_path), "events.socket_path"
        ),
        "events.socket_path",
    )
    raw_include = section.array("include")
    include: tuple[str, ...] = EVENT_TYPES
    if raw_include is not None:
        chosen: list[str] = []
        for index, item in enumerate(raw_include):
            path = f"events.include[{index}]"
            name = _check_string(item, path)
            if name not in EVENT_TYPES:
                raise ConfigError(
                    path, f"unknown event type {_show(name)} (known: {', '.join(EVENT_TYPES)})"
                )
            if name in chosen:
                raise ConfigError(path, f"duplicates events.include[{chosen.index(name)}]")
            chosen.append(name)
        include = tuple(chosen)
    return EventsConfig(
        enabled=section.boolean("enabled", False), socket_path=socket_path, include=include
    )


def _parse_metrics(top: _Section) -> MetricsConfig:
    """The Prometheus endpoint: on/off, address, port and URL path."""
    section = top.section("metrics", _METRICS_KEYS)
    path = section.string("path", "/metrics")
    if (
        not path.startswith("/")
        or not all(0x21 <= ord(c) <= 0x7E for c in path)
        or ("?" in path or "#" in path)
    ):
        raise ConfigError(
            "metrics.path",
            f'must start with "/" and be printable ASCII without spaces, "?" or "#", got {_show(path)}',
        )
    bind = section.string("bind", "127.0.0.1")
    try:
        bind = str(ipaddress.ip_address(bind))
    except ValueError:
        raise ConfigError("metrics.bind", f"must be an IP address, got {_show(bind)}") from None
    return MetricsConfig(
        enabled=section.boolean("enabled", False),
        port=section.integer("port", 9100, 1, 65535),
        path=path,
        bind=bind,
    )


def _parse_rate_limits(top: _Section) -> RateLimitsConfig:
    """Per-IP and per-connection limits, and the networks exempt from them."""
    section = top.section("rate_limits", _RATE_LIMITS_KEYS)
    defaults = RateLimitsConfig()
    counts = {
        key: section.integer(key, getattr(defaults, key), 1) for key in _RATE_LIMIT_COUNT_KEYS
    }
    exempt: list[str] = []
    for index, item in enumerate(section.array("exempt") or []):
        path = f"rate_limits.exempt[{index}]"
        text = _check_string(item, path)
        try:
            network = str(ipaddress.ip_network(text, strict=True))
        except ValueError as e:
            reason = "has host bits set" if "host bits" in str(e) else "is not an IP network"
            raise ConfigError(path, f"{_show(text)} {reason} (CIDR such as 10.0.0.0/8)") from None
        if network in exempt:
            raise ConfigError(path, f"duplicates rate_limits.exempt[{exempt.index(network)}]")
        exempt.append(network)
    return RateLimitsConfig(**counts, exempt=tuple(exempt))


# --- entry points --------------------------------------------------------------------------


def parse_config(raw: object) -> PoolConfig:
    """Validate a decoded JSON document and build the PoolConfig; ConfigError if invalid."""
    top = _Section(raw, "", _TOP_KEYS)
    btcd = _parse_backends(top)
    uses_embedded = btcd[0].is_embedded
    embedded = _parse_embedded(top, uses_embedded)
    btcsig = _parse_btcsig(top)
    serverurl, binds = _parse_serverurl(top)
    mindiff, startdiff, maxdiff = _parse_difficulties(top)
    nonce1length = top.integer("nonce1length", 4, 2, 8)
    nonce2length = top.integer("nonce2length", 8, 2, 8)
    if coinbase_scriptsig_max_bytes(len(btcsig), nonce1length, nonce2length) > (
        COINBASE_SCRIPTSIG_MAX_BYTES
    ):
        raise ConfigError("nonce2length", "btcsig and the extranonce do not fit in 100 bytes")
    extranonce1_values = 256**nonce1length
    maxclients = top.integer("maxclients", min(100000, extranonce1_values), 1)
    if maxclients > extranonce1_values:
        raise ConfigError(
            "maxclients",
            f"must be at most {extranonce1_values}: nonce1length {nonce1length} gives only "
            f"{extranonce1_values} distinct extranonce1 values",
        )
    zmqblock = top.optional_string("zmqblock")
    if zmqblock is not None:
        _check_zmq_url(zmqblock, "zmqblock")
        if uses_embedded:
            raise ConfigError(
                "zmqblock", "is for Bitcoin Core; the embedded chain announces blocks itself"
            )
        if not any(backend.notify for backend in btcd):
            raise ConfigError("zmqblock", 'is set but no btcd entry has "notify": true')
    donation = top.number("donation", 0.0)
    if donation != 0:
        raise ConfigError(
            "donation",
            f"tbgpool is a solo pool paying the whole reward to the miner: only 0 is accepted, "
            f"got {_number_text(donation)}",
        )
    metrics = _parse_metrics(top)
    if metrics.enabled:
        binds.append(("metrics.port", _Bind("tcp", metrics.bind, metrics.port)))
    if embedded.rpc_port is not None:
        binds.append(("embedded.rpc_port", _Bind("tcp", "127.0.0.1", embedded.rpc_port)))
    _check_no_conflicts(binds)
    return PoolConfig(
        btcd=btcd,
        embedded=embedded,
        btcsig=btcsig,
        blockpoll_ms=top.integer("blockpoll", 100, 10, 60000),
        serverurl=serverurl,
        update_interval_s=top.number("update_interval", 30.0, 1, 600),
        version_mask=_parse_version_mask(top),
        mindiff=mindiff,
        startdiff=startdiff,
        maxdiff=maxdiff,
        nonce1length=nonce1length,
        nonce2length=nonce2length,
        logdir=_check_file_path(top.string("logdir", "logs"), "logdir"),
        zmqblock=zmqblock,
        maxclients=maxclients,
        donation=donation,
        vardiff=_parse_vardiff(top, mindiff, startdiff, maxdiff),
        events=_parse_events(top),
        metrics=metrics,
        rate_limits=_parse_rate_limits(top),
    )


def load_config(path: str) -> PoolConfig:
    """Read, decode and validate the JSON configuration file at ``path``."""
    shown = _show(path, 200)
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
    return parse_config(_decode_json(text, shown))


def main(argv: Sequence[str] | None = None) -> int:
    """``tbgpool-check-config FILE``: print "OK: FILE" and return 0, or the error and return 1."""
    parser = argparse.ArgumentParser(
        prog="tbgpool-check-config", description="Validate a tbgpool JSON configuration file."
    )
    parser.add_argument("file", help="the configuration file to check")
    arguments = parser.parse_args(argv)
    try:
        load_config(arguments.file)
    except ConfigError as e:
        print(f"ERROR: {e}")
        return 1
    print(f"OK: {arguments.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
