"""The side services: the events socket, the Prometheus endpoint and the rate limits."""

from __future__ import annotations

import ipaddress

from tbgpool.config.checks import check_file_path, check_string, check_unix_socket_path, show
from tbgpool.config.keys import (
    EVENTS_KEYS,
    METRICS_KEYS,
    RATE_LIMIT_COUNT_KEYS,
    RATE_LIMIT_TIME_KEYS,
    RATE_LIMITS_KEYS,
)
from tbgpool.config.model import EVENT_TYPES, EventsConfig, MetricsConfig, RateLimitsConfig
from tbgpool.config.section import Section
from tbgpool.errors import ConfigError


def parse_events(top: Section) -> EventsConfig:
    """The events socket: on/off, its path, and which event types it carries."""
    section = top.section("events", EVENTS_KEYS)
    socket_path = check_unix_socket_path(
        check_file_path(
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
            name = check_string(item, path)
            if name not in EVENT_TYPES:
                raise ConfigError(
                    path, f"unknown event type {show(name)} (known: {', '.join(EVENT_TYPES)})"
                )
            if name in chosen:
                raise ConfigError(path, f"duplicates events.include[{chosen.index(name)}]")
            chosen.append(name)
        include = tuple(chosen)
    return EventsConfig(
        enabled=section.boolean("enabled", False), socket_path=socket_path, include=include
    )


def parse_metrics(top: Section) -> MetricsConfig:
    """The Prometheus endpoint: on/off, address, port and URL path."""
    section = top.section("metrics", METRICS_KEYS)
    path = section.string("path", "/metrics")
    if (
        not path.startswith("/")
        or not all(0x21 <= ord(c) <= 0x7E for c in path)
        or ("?" in path or "#" in path)
    ):
        raise ConfigError(
            "metrics.path",
            f'must start with "/" and be printable ASCII without spaces, "?" or "#", got {show(path)}',
        )
    if path.rstrip("/") in ("", "/health"):
        raise ConfigError("metrics.path", f"{show(path)} is taken (/health is the health check)")
    bind = section.string("bind", "127.0.0.1")
    try:
        bind = str(ipaddress.ip_address(bind))
    except ValueError:
        raise ConfigError("metrics.bind", f"must be an IP address, got {show(bind)}") from None
    return MetricsConfig(
        enabled=section.boolean("enabled", False),
        port=section.integer("port", 9100, 1, 65535),
        path=path,
        bind=bind,
    )


def parse_rate_limits(top: Section) -> RateLimitsConfig:
    """Per-IP and per-connection limits, timeouts, and the networks exempt from them."""
    section = top.section("rate_limits", RATE_LIMITS_KEYS)
    defaults = RateLimitsConfig()
    counts = {key: section.integer(key, getattr(defaults, key), 1) for key in RATE_LIMIT_COUNT_KEYS}
    times = {
        f"{key}_s": section.number(key, getattr(defaults, f"{key}_s"), 0, 7 * 86400)
        for key in RATE_LIMIT_TIME_KEYS
    }
    for key in ("subscribe_timeout", "authorize_timeout", "slow_reader_timeout"):
        if times[f"{key}_s"] < 1:
            raise ConfigError(f"rate_limits.{key}", "must be at least 1 (second)")
    exempt = parse_networks(section.array("exempt") or [], "rate_limits.exempt")
    return RateLimitsConfig(
        connections_per_ip_per_minute=counts["connections_per_ip_per_minute"],
        max_connections_per_ip=counts["max_connections_per_ip"],
        subscribes_per_minute=counts["subscribes_per_minute"],
        authorizes_per_minute=counts["authorizes_per_minute"],
        max_shares_per_minute=counts["max_shares_per_minute"],
        max_invalid_shares_per_minute=counts["max_invalid_shares_per_minute"],
        submit_ban_s=times["submit_ban_s"],
        subscribe_timeout_s=times["subscribe_timeout_s"],
        authorize_timeout_s=times["authorize_timeout_s"],
        idle_timeout_s=times["idle_timeout_s"],
        slow_reader_timeout_s=times["slow_reader_timeout_s"],
        exempt=exempt,
    )


def parse_networks(items: list[object], name: str) -> tuple[str, ...]:
    """A list of IP networks in CIDR form (host bits clear), normalised, no duplicates."""
    exempt: list[str] = []
    for index, item in enumerate(items):
        path = f"{name}[{index}]"
        text = check_string(item, path)
        try:
            network = str(ipaddress.ip_network(text, strict=True))
        except ValueError as e:
            reason = "has host bits set" if "host bits" in str(e) else "is not an IP network"
            raise ConfigError(path, f"{show(text)} {reason} (CIDR such as 10.0.0.0/8)") from None
        if network in exempt:
            raise ConfigError(path, f"duplicates {name}[{exempt.index(network)}]")
        exempt.append(network)
    return tuple(exempt)
