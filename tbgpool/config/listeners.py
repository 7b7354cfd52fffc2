"""The Stratum listeners: ``serverurl`` entries, Twisted endpoint strings and bind conflicts.

An entry is ``"host:port"``, ``"[IPv6]:port"``, ``"tls://host:port"`` (TLS with the
pool's own policy, see :mod:`tbgpool.stratum.tls`) or a Twisted endpoint string
(``tcp:``, ``tcp6:``, ``unix:``). Twisted's ``ssl:`` endpoints are refused: they
would bypass the pool's minimum TLS version, cipher list and handshake deadline.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from tbgpool.config.addresses import PORT_DIGITS, split_host_port
from tbgpool.config.checks import ABSENT, check_string, check_unix_socket_path, show, wrong_type
from tbgpool.config.model import PoolConfig
from tbgpool.config.section import Section
from tbgpool.errors import ConfigError

_MAX_LISTEN_BACKLOG = 65535
#: The serverurl prefix of a TLS listener.
TLS_SCHEME = "tls://"


class StratumListener(NamedTuple):
    """One Stratum listener: the Twisted endpoint it binds, and whether it speaks TLS."""

    endpoint: str
    tls: bool


class Bind(NamedTuple):
    """What a listener binds: a TCP address and port, or a Unix socket path."""

    kind: str  # "tcp" or "unix"
    address: str
    port: int


# Parameter names of Twisted's server endpoint parsers, in their positional order.
_ENDPOINT_PARAMETERS = {
    "tcp": ("port", "interface", "backlog"),
    "tcp6": ("port", "backlog", "interface"),
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
                f"unknown {kind} endpoint argument {show(name, 40)} "
                f"(known: {', '.join(parameters)})",
            )
        if name in arguments:
            raise ConfigError(path, f"endpoint argument {name!r} given twice")
        arguments[name] = value
    return kind, arguments


def _check_endpoint_string(text: str, path: str) -> Bind:
    """Validate a Twisted server endpoint string (tcp, tcp6, unix); returns what it binds."""
    kind, arguments = _endpoint_arguments(text, path)
    backlog = arguments.get("backlog")
    if backlog is not None and (
        not PORT_DIGITS.fullmatch(backlog) or not 1 <= int(backlog) <= _MAX_LISTEN_BACKLOG
    ):
        raise ConfigError(path, f"backlog must be between 1 and {_MAX_LISTEN_BACKLOG}")
    if kind == "unix":
        address = arguments.get("address", "")
        if not address:
            raise ConfigError(
                path, "a unix endpoint needs a socket path, as in unix:/run/tbgpool.sock"
            )
        check_unix_socket_path(address, path)
        if not re.fullmatch(r"[0-7]{1,4}", arguments.get("mode", "666")):
            raise ConfigError(path, "mode must be an octal file mode such as 660")
        if arguments.get("lockfile", "1") not in ("0", "1"):
            raise ConfigError(path, "lockfile must be 0 or 1")
        return Bind("unix", address, 0)
    port = arguments.get("port")
    if port is None or not PORT_DIGITS.fullmatch(port) or int(port) > 65535:
        raise ConfigError(path, f"a {kind} endpoint needs a port between 0 and 65535")
    interface = arguments.get("interface", "::" if kind == "tcp6" else "0.0.0.0") or "0.0.0.0"
    try:
        interface = str(ipaddress.ip_address(interface))
    except ValueError:
        raise ConfigError(path, f"interface must be an IP address, got {show(interface)}") from None
    return Bind("tcp", interface, int(port))


def _escape_endpoint_value(value: str) -> str:
    """Quote a value for an endpoint string: backslash and colon get a backslash."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def is_tls_listener(entry: str) -> bool:
    """Whether a (validated) serverurl entry is a ``tls://`` listener."""
    return entry.startswith(TLS_SCHEME)


def _host_port_endpoint(text: str, path: str, example: str) -> tuple[str, Bind]:
    """``host:port`` or ``[IPv6]:port`` as a tcp or tcp6 endpoint string and its bind."""
    host, port = split_host_port(text, path, example, False, 0)
    address = ipaddress.ip_address(host)
    if address.version == 4:
        return f"tcp:{port}:interface={host}", Bind("tcp", str(address), port)
    return f"tcp6:{port}:interface={_escape_endpoint_value(host)}", Bind("tcp", str(address), port)


def listener(entry: str, path: str) -> tuple[str, Bind]:
    """One serverurl entry as (Twisted endpoint string, what it binds); TLS is not in the string."""
    prefix = entry.split(":", 1)[0]
    if entry[: len(TLS_SCHEME)].lower() == TLS_SCHEME:
        if not is_tls_listener(entry):
            raise ConfigError(path, f"write the scheme in lower case: {TLS_SCHEME}")
        return _host_port_endpoint(
            entry[len(TLS_SCHEME) :], path, '"tls://host:port" or "tls://[IPv6]:port"'
        )
    if prefix.lower() == "tls":
        raise ConfigError(path, f'write a TLS listener as "tls://HOST:PORT", got {show(entry)}')
    if prefix.lower() == "ssl" and ":" in entry:
        raise ConfigError(
            path,
            "Twisted ssl: endpoints are not accepted (they would bypass the pool's TLS version, "
            'cipher and handshake policy): write "tls://HOST:PORT" and add a "tls" section '
            "with the certificate and key",
        )
    if prefix.lower() in _ENDPOINT_PARAMETERS and ":" in entry:
        if prefix != prefix.lower():
            # Twisted looks endpoint types up in lower case only.
            raise ConfigError(path, f"write the endpoint type in lower case: {prefix.lower()}:")
        return entry, _check_endpoint_string(entry, path)
    return _host_port_endpoint(entry, path, '"host:port", "[IPv6]:port" or "tls://host:port"')


def _binds_overlap(a: Bind, b: Bind) -> bool:
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


def check_no_conflicts(binds: list[tuple[str, Bind]]) -> None:
    """Refuse two listeners on the same address and port (or the same socket path)."""
    for index, (path, bind) in enumerate(binds):
        for earlier_path, earlier in binds[:index]:
            if _binds_overlap(earlier, bind):
                raise ConfigError(path, f"listens on the same address as {earlier_path}")


def parse_serverurl(top: Section) -> tuple[tuple[str, ...], list[tuple[str, Bind]]]:
    """The Stratum listeners (an array, or one string as ckpool also accepts)."""
    value = top.get("serverurl")
    if value is ABSENT:
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
        raise wrong_type("serverurl", "an array of strings", value)
    checked: list[str] = []
    binds: list[tuple[str, Bind]] = []
    for entry, path in zip(entries, paths, strict=True):
        text = check_string(entry, path)
        binds.append((path, listener(text, path)[1]))
        checked.append(text)
    return tuple(checked), binds


def stratum_listeners(config: PoolConfig) -> list[StratumListener]:
    """The serverurl entries as (Twisted server endpoint string, TLS or not), in order."""
    return [
        StratumListener(listener(entry, f"serverurl[{index}]")[0], is_tls_listener(entry))
        for index, entry in enumerate(config.serverurl)
    ]


def server_endpoints(config: PoolConfig) -> list[str]:
    """The plain serverurl entries as Twisted server endpoint strings, in order.

    Raises ValueError when there is a ``tls://`` entry: its endpoint string alone would
    serve plaintext on the TLS port. Use :func:`stratum_listeners` (or
    :func:`tbgpool.stratum.endpoints.listener_services`) for those.
    """
    listeners = stratum_listeners(config)
    if any(listener.tls for listener in listeners):
        raise ValueError("serverurl has tls:// listeners: build them with stratum_listeners")
    return [listener.endpoint for listener in listeners]


def metrics_endpoint(config: PoolConfig) -> str:
    """The ``metrics`` listener as a Twisted server endpoint string (IPv6 binds escaped)."""
    metrics = config.metrics
    if ":" in metrics.bind:
        return f"tcp6:{metrics.port}:interface={_escape_endpoint_value(metrics.bind)}"
    return f"tcp:{metrics.port}:interface={metrics.bind}"
