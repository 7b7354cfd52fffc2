"""The ``btcd`` list (Bitcoin Core nodes, or the embedded chain) and the ``embedded`` section."""

from __future__ import annotations

from tbgpool.config.addresses import check_rpc_url
from tbgpool.config.checks import (
    ABSENT,
    check_credential,
    check_file_path,
    check_number,
    check_string,
    number_text,
    show,
)
from tbgpool.config.keys import BACKEND_KEYS, EMBEDDED_KEYS
from tbgpool.config.model import (
    EMBEDDED_NETWORKS,
    EMBEDDED_URL,
    MAX_NETWORK_DIFFICULTY,
    MIN_NETWORK_DIFFICULTY,
    BackendConfig,
    EmbeddedConfig,
)
from tbgpool.config.section import Section
from tbgpool.errors import ConfigError

_MAX_SEED = 2**64 - 1


def parse_backends(top: Section) -> tuple[BackendConfig, ...]:
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
        entry = Section(item, f"btcd[{index}]", BACKEND_KEYS)
        url_path = entry.path("url")
        if not entry.present("url"):
            raise ConfigError(
                url_path, 'is required ("host:port", "http://host:port" or "embedded")'
            )
        url = check_string(entry.get("url"), url_path)
        embedded = url == EMBEDDED_URL
        if embedded and len(raw) > 1:
            raise ConfigError(url_path, '"embedded" must be the only btcd entry')
        if not embedded:
            location = check_rpc_url(url, url_path)
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
            cookie = check_file_path(cookie, entry.path("cookie"))
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


def _optional_credential(entry: Section, key: str, what: str) -> str | None:
    """An optional user name or password (JSON null counts as absent)."""
    value = entry.get(key)
    if value is ABSENT or value is None:
        return None
    return check_credential(value, entry.path(key), what)


def parse_embedded(top: Section, uses_embedded: bool) -> EmbeddedConfig:
    """The embedded chain's settings; refused when no btcd entry is the embedded chain."""
    if top.present("embedded") and not uses_embedded:
        raise ConfigError("embedded", 'is set but no btcd entry has url "embedded"')
    section = top.section("embedded", EMBEDDED_KEYS)
    network = section.string("network", "regtest")
    if network not in EMBEDDED_NETWORKS:
        raise ConfigError(
            section.path("network"),
            f"must be one of {', '.join(EMBEDDED_NETWORKS)}, got {show(network)}",
        )
    difficulty_value = section.get("difficulty")
    difficulty = None
    if difficulty_value is not ABSENT and difficulty_value is not None:
        difficulty = check_number(
            difficulty_value,
            section.path("difficulty"),
            MIN_NETWORK_DIFFICULTY,
            MAX_NETWORK_DIFFICULTY,
        )
    block_interval_s = section.number("block_interval", 0.0, 0, 86400)
    if 0 < block_interval_s < 0.1:
        raise ConfigError(
            section.path("block_interval"),
            f"must be 0 (off) or between 0.1 and 86400, got {number_text(block_interval_s)}",
        )
    return EmbeddedConfig(
        network=network,
        difficulty=difficulty,
        block_interval_s=block_interval_s,
        rpc_port=section.optional_integer("rpc_port", 1, 65535),
        seed=section.integer("seed", 0, 0, _MAX_SEED),
    )
