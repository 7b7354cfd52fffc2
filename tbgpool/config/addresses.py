"""Network addresses: ``host:port`` splitting, Core's RPC url and its ZMQ endpoint."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from tbgpool.config.checks import check_unix_socket_path, show
from tbgpool.errors import ConfigError

#: A port number as written: one to five decimal digits (its range is checked apart).
PORT_DIGITS = re.compile(r"[0-9]{1,5}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _check_hostname(host: str, path: str) -> None:
    """Refuse anything that is neither an IPv4 address nor a DNS host name."""
    labels = host.split(".")
    if (
        len(host) > 253
        or not all(_HOST_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ConfigError(path, f"{show(host)} is not a valid host name or IP address")


def split_host_port(
    text: str, path: str, example: str, hostname_ok: bool, lowest_port: int
) -> tuple[str, int]:
    """Split ``host:port`` or ``[IPv6]:port``; the host must be an IP unless ``hostname_ok``."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1 : close + 2] != ":":
            raise ConfigError(path, f"expected {example}, got {show(text)}")
        host, port_text = text[1:close], text[close + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(path, f"{show(host)} in brackets is not an IPv6 address") from None
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon or not host:
            raise ConfigError(path, f"expected {example}, got {show(text)}")
        if ":" in host:
            raise ConfigError(
                path,
                f'an IPv6 address needs brackets, as in "[::1]:{port_text}"; got {show(text)}',
            )
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if not hostname_ok:
                raise ConfigError(
                    path, f"the host must be an IP address to listen on, got {show(host)}"
                ) from None
            _check_hostname(host, path)
    if not PORT_DIGITS.fullmatch(port_text) or not lowest_port <= int(port_text) <= 65535:
        raise ConfigError(
            path, f"the port must be between {lowest_port} and 65535, got {show(port_text)}"
        )
    return host, int(port_text)


def check_rpc_url(url: str, path: str) -> tuple[str, int, str]:
    """Validate a Core RPC url; returns (host, port, http path) to spot duplicates."""
    if "://" not in url:
        host, port = split_host_port(url, path, '"host:port"', True, 1)
        return host.lower(), port, "/"
    parts = urlsplit(url)
    if parts.scheme.lower() == "https":
        raise ConfigError(path, "Bitcoin Core's RPC server speaks plain http, not https")
    if parts.scheme.lower() != "http":
        raise ConfigError(path, f'expected "host:port" or "http://host:port", got {show(url)}')
    if "@" in parts.netloc:
        raise ConfigError(path, 'put credentials in "auth"/"pass" or "cookie", not in the url')
    if parts.query or parts.fragment:
        raise ConfigError(path, "must not have a query or fragment")
    host, port = split_host_port(parts.netloc, path, '"http://host:port"', True, 1)
    return host.lower(), port, parts.path or "/"


def check_zmq_url(url: str, path: str) -> None:
    """A ZMQ endpoint Core publishes on: tcp://host:port or ipc://path."""
    if url.startswith("tcp://"):
        split_host_port(url[6:], path, '"tcp://host:port"', True, 1)
    elif url.startswith("ipc://") and url[6:]:
        check_unix_socket_path(url[6:], path)
    else:
        raise ConfigError(path, f'expected "tcp://host:port" or "ipc://path", got {show(url)}')
