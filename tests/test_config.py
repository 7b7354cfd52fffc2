"""Tests for tbgpool.config: parsing, validation, endpoint conversion, example files, the checker."""

from __future__ import annotations

import copy
import io
import json
import os
import random
import re
import sys
from dataclasses import dataclass
from typing import Any

from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from tbgpool import config
from tbgpool.config import (
    CONFIG_KEYS,
    EVENT_TYPES,
    MAX_CONFIG_FILE_BYTES,
    MIN_NETWORK_DIFFICULTY,
    BackendConfig,
    EmbeddedConfig,
    EventsConfig,
    MetricsConfig,
    PoolConfig,
    RateLimitsConfig,
    StratumListener,
    TLSConfig,
    coinbase_scriptsig_max_bytes,
    load_config,
    main,
    metrics_endpoint,
    parse_config,
    server_endpoints,
    stratum_listeners,
)
from tbgpool.errors import ConfigError
from tbgpool.vardiff import VardiffSettings
from tests.tls_certs import shared_pki

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ETC = os.path.join(_REPO, "etc")
_DOCS = os.path.join(_REPO, "docs", "configuration.md")

#: The smallest valid configurations: the embedded chain, and one Core node.
EMBEDDED: dict[str, Any] = {"btcd": [{"url": "embedded"}]}
CORE: dict[str, Any] = {"btcd": [{"url": "127.0.0.1:8332", "cookie": "/srv/btc/.cookie"}]}
CORE_AUTH: dict[str, Any] = {"btcd": [{"url": "127.0.0.1:8332", "auth": "u", "pass": "p"}]}

#: The spec's mainnet example (spec §4.2), verbatim.
SPEC_MAINNET = """
{ "btcd": [{"url": "127.0.0.1:8332", "auth": "ckpool_primary", "pass": "<64-char-random>", "notify": true}],
  "btcsig": "/TheBitcoinGame/", "blockpoll": 100, "donation": 0.0, "serverurl": ["0.0.0.0:3333"],
  "mindiff": 512, "startdiff": 10000, "maxdiff": 0, "update_interval": 30, "version_mask": "1fffe000",
  "nonce1length": 4, "nonce2length": 8, "logdir": "/var/log/tbg-mining", "zmqblock": "tcp://127.0.0.1:28332",
  "maxclients": 100000,
  "events": {"enabled": true, "socket_path": "/var/run/ckpool/events.sock",
             "include": ["share_submitted", "block_found", "miner_connected", "miner_disconnected",
                         "diff_updated", "hashrate_update", "new_block_network", "share_best_diff",
                         "asicboost_detected"]},
  "vardiff": {"target_share_interval": 10, "retarget_interval": 30, "ema_alpha": 0.3, "dampening": 0.5,
              "dead_band_percent": 20, "reconnect_memory_ttl": 86400},
  "metrics": {"enabled": true, "port": 9100, "path": "/metrics"},
  "rate_limits": {"connections_per_ip_per_minute": 10, "max_connections_per_ip": 50,
                  "max_shares_per_minute": 1000, "max_invalid_shares_per_minute": 100} }
"""

Path = tuple[str | int, ...]


def with_value(base: dict[str, Any], path: Path, value: object) -> dict[str, Any]:
    """A deep copy of ``base`` with the (possibly nested) key at ``path`` set to ``value``."""
    raw = copy.deepcopy(base)
    node: Any = raw
    for step in path[:-1]:
        if isinstance(step, str) and step not in node:
            node[step] = {}
        node = node[step]
    node[path[-1]] = value
    return raw


def without(base: dict[str, Any], path: Path) -> dict[str, Any]:
    """A deep copy of ``base`` with the key at ``path`` removed."""
    raw = copy.deepcopy(base)
    node: Any = raw
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return raw


def dotted(path: Path) -> str:
    """A key path as ConfigError spells it: ("btcd", 0, "url") -> "btcd[0].url"."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


@dataclass(frozen=True)
class KeyCase:
    """One configuration key: where it lives, a valid value and its effect, and bad values."""

    path: Path
    good: object
    read: Any  # PoolConfig -> the parsed value
    expected: object
    wrong_types: tuple[object, ...]
    out_of_range: tuple[object, ...] = ()
    base: dict[str, Any] | None = None

    def raw(self, value: object) -> dict[str, Any]:
        """The smallest configuration with this key set to ``value``."""
        return with_value(self.base or EMBEDDED, self.path, value)


EMBEDDED_WITH_AUTH: dict[str, Any] = {"btcd": [{"url": "embedded", "auth": "u", "pass": "p"}]}
_NUMBER_WRONG: tuple[object, ...] = ("1", True, None, [], {})
_INT_WRONG: tuple[object, ...] = ("1", True, None, 1.5, 2.0, [])
_BOOL_WRONG: tuple[object, ...] = ("true", 1, 0, None, [])
_STRING_WRONG: tuple[object, ...] = (1, True, [], {})


def rate_limit(key: str) -> Any:
    """A reader of one rate limit from a PoolConfig."""
    return lambda parsed: getattr(parsed.rate_limits, key)


#: Throw-away PEM files (a chain, its key, and broken variants) for the tls section.
PKI = shared_pki()
#: A TLS listener with a valid tls section.
TLS_BASE: dict[str, Any] = {
    **EMBEDDED,
    "serverurl": ["tls://127.0.0.1:3334"],
    "tls": {"certificate": PKI.chain_path, "private_key": PKI.key_path},
}


KEY_CASES: tuple[KeyCase, ...] = (
    # top level
    KeyCase(
        ("btcd",),
        [{"url": "10.0.0.5:8332", "cookie": "/c"}, {"url": "10.0.0.6:8332", "cookie": "/c"}],
        lambda c: [b.url for b in c.btcd],
        ["10.0.0.5:8332", "10.0.0.6:8332"],
        ("127.0.0.1:8332", {"url": "embedded"}, 1, None, ["embedded"]),
        ([],),
    ),
    KeyCase(
        ("embedded",),
        {"network": "signet"},
        lambda c: c.embedded.network,
        "signet",
        ([], "regtest", 1, None),
    ),
    KeyCase(
        ("btcsig",),
        "/solo/",
        lambda c: c.btcsig,
        "/solo/",
        _STRING_WRONG + (None,),
        ("x" * 39, "caf\u00e9", "tab\there", "new\nline", "\x7f"),
    ),
    KeyCase(("blockpoll",), 250, lambda c: c.blockpoll_ms, 250, _INT_WRONG, (9, 60001, 0, -100)),
    KeyCase(
        ("serverurl",),
        ["0.0.0.0:3334", "[::]:3335"],
        lambda c: c.serverurl,
        ("0.0.0.0:3334", "[::]:3335"),
        (3333, True, None, {"a": 1}, [3333], [None]),
        ([], ["0.0.0.0:65536"], ["pool.example.com:3333"], ["3333"], [""]),
    ),
    KeyCase(
        ("update_interval",),
        1.5,
        lambda c: c.update_interval_s,
        1.5,
        _NUMBER_WRONG,
        (0.5, 601, 0, -30),
    ),
    KeyCase(
        ("version_mask",),
        "3FFFE000",
        lambda c: c.version_mask,
        0x3FFFE000,
        (0x1FFFE000, True, None, []),
        ("80000000", "ffffffff", "123456789", "0x1fffe000", "", "1fffe00g", " 1fffe000"),
    ),
    KeyCase(("mindiff",), 0.001, lambda c: c.mindiff, 0.001, _NUMBER_WRONG, (0, -1)),
    KeyCase(("startdiff",), 100, lambda c: c.startdiff, 100.0, _NUMBER_WRONG, (0.5, 0, -5)),
    KeyCase(("maxdiff",), 1000, lambda c: c.maxdiff, 1000.0, _NUMBER_WRONG, (-1, 0.5)),
    KeyCase(("nonce1length",), 2, lambda c: c.nonce1length, 2, _INT_WRONG, (1, 9, 0)),
    KeyCase(("nonce2length",), 5, lambda c: c.nonce2length, 5, _INT_WRONG, (1, 9, 0)),
    KeyCase(
        ("logdir",),
        "/var/log/tbgpool",
        lambda c: c.logdir,
        "/var/log/tbgpool",
        _STRING_WRONG + (None,),
        ("", "a\x00b"),
    ),
    KeyCase(
        ("zmqblock",),
        "tcp://[::1]:28332",
        lambda c: c.zmqblock,
        "tcp://[::1]:28332",
        _STRING_WRONG,
        (
            "tcp://127.0.0.1:0",
            "tcp://127.0.0.1",
            "udp://127.0.0.1:28332",
            "ipc://",
            "127.0.0.1:28332",
            "tcp://bad_host:28332",
        ),
        CORE,
    ),
    KeyCase(("maxclients",), 5, lambda c: c.maxclients, 5, _INT_WRONG, (0, -1, 256**4 + 1)),
    KeyCase(("donation",), 0, lambda c: c.donation, 0.0, _NUMBER_WRONG, (0.5, -1, 100)),
    KeyCase(("vardiff",), {"enabled": False}, lambda c: c.vardiff.enabled, False, ([], 1, None)),
    KeyCase(("events",), {"enabled": True}, lambda c: c.events.enabled, True, ([], 1, None)),
    KeyCase(("metrics",), {"enabled": True}, lambda c: c.metrics.enabled, True, ([], 1, None)),
    KeyCase(
        ("rate_limits",),
        {"max_connections_per_ip": 7},
        lambda c: c.rate_limits.max_connections_per_ip,
        7,
        ([], 1, None),
    ),
    # btcd entries
    KeyCase(
        ("btcd", 0, "url"),
        "http://node-1.example:8332/",
        lambda c: c.btcd[0].url,
        "http://node-1.example:8332/",
        _STRING_WRONG + (None,),
        (
            "",
            "https://127.0.0.1:8332",
            "ftp://127.0.0.1:8332",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "127.0.0.1:port",
            "[::1:8332",
            "::1:8332",
            "[nothost]:8332",
            "http://u:p@127.0.0.1:8332",
            "http://127.0.0.1:8332/?wallet=x",
            "http://127.0.0.1",
            "bad_host!:8332",
            "-leading.example:8332",
            "999.1.1.1:8332",
        ),
        CORE,
    ),
    KeyCase(
        ("btcd", 0, "auth"),
        "pool",
        lambda c: c.btcd[0].user,
        "pool",
        _STRING_WRONG,
        ("", "user:name", "a\nb", "a\x7fb", "x" * 1025),
        CORE_AUTH,
    ),
    KeyCase(
        ("btcd", 0, "pass"),
        "s3cret:with:colons",
        lambda c: c.btcd[0].password,
        "s3cret:with:colons",
        _STRING_WRONG,
        ("", "p\r\nX-Injected: 1", "x" * 1025),
        CORE_AUTH,
    ),
    KeyCase(
        ("btcd", 0, "cookie"),
        "/var/lib/bitcoind/.cookie",
        lambda c: c.btcd[0].cookie,
        "/var/lib/bitcoind/.cookie",
        _STRING_WRONG,
        ("", "a\x00b"),
        CORE,
    ),
    KeyCase(("btcd", 0, "notify"), False, lambda c: c.btcd[0].notify, False, _BOOL_WRONG, (), CORE),
    KeyCase(
        ("btcd", 0, "timeout"),
        2.5,
        lambda c: c.btcd[0].timeout_s,
        2.5,
        _NUMBER_WRONG,
        (0, -1, 300.5),
        CORE,
    ),
    # embedded
    KeyCase(
        ("embedded", "network"),
        "testnet4",
        lambda c: c.embedded.network,
        "testnet4",
        _STRING_WRONG + (None,),
        ("mainnet", "", "Regtest", "testnet3"),
    ),
    KeyCase(
        ("embedded", "difficulty"),
        1000,
        lambda c: c.embedded.difficulty,
        1000.0,
        ("1", True, []),
        (0, -1, 1e-12, 1e70),
    ),
    KeyCase(
        ("embedded", "block_interval"),
        30,
        lambda c: c.embedded.block_interval_s,
        30.0,
        _NUMBER_WRONG,
        (-1, 0.05, 86401),
    ),
    KeyCase(
        ("embedded", "rpc_port"),
        18543,
        lambda c: c.embedded.rpc_port,
        18543,
        ("18543", True, 1.5),
        (0, 65536, -1),
    ),
    KeyCase(
        ("embedded", "seed"),
        7,
        lambda c: c.embedded.seed,
        7,
        _INT_WRONG,
        (-1, 2**64),
    ),
    # vardiff
    KeyCase(("vardiff", "enabled"), False, lambda c: c.vardiff.enabled, False, _BOOL_WRONG),
    KeyCase(
        ("vardiff", "target_share_interval"),
        5,
        lambda c: c.vardiff.target_share_interval_s,
        5.0,
        _NUMBER_WRONG,
        (0, -1, 3601),
    ),
    KeyCase(
        ("vardiff", "retarget_interval"),
        60,
        lambda c: c.vardiff.retarget_interval_s,
        60.0,
        _NUMBER_WRONG,
        (0, -1, 86401),
    ),
    KeyCase(
        ("vardiff", "ema_alpha"),
        1,
        lambda c: c.vardiff.ema_alpha,
        1.0,
        _NUMBER_WRONG,
        (0, -0.1, 1.01),
    ),
    KeyCase(
        ("vardiff", "dampening"),
        0.25,
        lambda c: c.vardiff.dampening,
        0.25,
        _NUMBER_WRONG,
        (0, -0.5, 1.5),
    ),
    KeyCase(
        ("vardiff", "dead_band_percent"),
        0,
        lambda c: c.vardiff.dead_band_percent,
        0.0,
        _NUMBER_WRONG,
        (-1, 100.5),
    ),
    KeyCase(
        ("vardiff", "reconnect_memory_ttl"),
        0,
        lambda c: c.vardiff.reconnect_memory_ttl_s,
        0.0,
        _NUMBER_WRONG,
        (-1,),
    ),
    # events
    KeyCase(("events", "enabled"), True, lambda c: c.events.enabled, True, _BOOL_WRONG),
    KeyCase(
        ("events", "socket_path"),
        "/run/tbgpool/events.sock",
        lambda c: c.events.socket_path,
        "/run/tbgpool/events.sock",
        _STRING_WRONG + (None,),
        ("", "/" + "x" * 107, "a\x00b"),
    ),
    KeyCase(
        ("events", "include"),
        ["block_found", "share_best_diff"],
        lambda c: c.events.include,
        ("block_found", "share_best_diff"),
        ("block_found", 1, True, None, {}, [1], [None]),
        (["blocks_found"], ["block_found", "block_found"], [""]),
    ),
    # metrics
    KeyCase(("metrics", "enabled"), True, lambda c: c.metrics.enabled, True, _BOOL_WRONG),
    KeyCase(("metrics", "port"), 9108, lambda c: c.metrics.port, 9108, _INT_WRONG, (0, 65536)),
    KeyCase(
        ("metrics", "path"),
        "/pool/metrics",
        lambda c: c.metrics.path,
        "/pool/metrics",
        _STRING_WRONG + (None,),
        ("metrics", "", "/a b", "/a?b", "/a#b", "/caf\u00e9"),
    ),
    KeyCase(
        ("metrics", "bind"),
        "::1",
        lambda c: c.metrics.bind,
        "::1",
        _STRING_WRONG + (None,),
        ("localhost", "", "0.0.0.0:9100", "300.1.1.1"),
    ),
    # rate_limits
    *(
        KeyCase(
            ("rate_limits", key),
            3,
            rate_limit(key),
            3,
            _INT_WRONG,
            (0, -1),
        )
        for key in (
            "connections_per_ip_per_minute",
            "max_connections_per_ip",
            "subscribes_per_minute",
            "authorizes_per_minute",
            "max_shares_per_minute",
            "max_invalid_shares_per_minute",
        )
    ),
    KeyCase(
        ("rate_limits", "exempt"),
        ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"],
        lambda c: c.rate_limits.exempt,
        ("10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"),
        ("10.0.0.0/8", 1, None, {}, [1], [None]),
        (["10.0.0.1/8"], ["nope"], ["10.0.0.0/33"], ["10.0.0.0/8", "10.0.0.0/8"]),
    ),
    KeyCase(("rate_limits", "submit_ban"), 60, rate_limit("submit_ban_s"), 60.0,
            _NUMBER_WRONG, (-1, 7 * 86400 + 1)),
    KeyCase(("rate_limits", "subscribe_timeout"), 15.5, rate_limit("subscribe_timeout_s"), 15.5,
            _NUMBER_WRONG, (0, 0.5, -1, 7 * 86400 + 1)),
    KeyCase(("rate_limits", "authorize_timeout"), 30, rate_limit("authorize_timeout_s"), 30.0,
            _NUMBER_WRONG, (0, -1, 7 * 86400 + 1)),
    KeyCase(("rate_limits", "idle_timeout"), 0, rate_limit("idle_timeout_s"), 0.0,
            _NUMBER_WRONG, (-1, 7 * 86400 + 1)),
    KeyCase(("rate_limits", "slow_reader_timeout"), 5, rate_limit("slow_reader_timeout_s"), 5.0,
            _NUMBER_WRONG, (0, -1, 7 * 86400 + 1)),
    KeyCase(
        ("trusted_proxies",),
        ["10.1.2.3", "fd00::/8"],
        lambda c: c.trusted_proxies,
        ("10.1.2.3/32", "fd00::/8"),
        ("10.0.0.0/8", 1, None, {}, [1], [None]),
        (["10.0.0.1/8"], ["nope"], ["10.0.0.0/8", "10.0.0.0/8"]),
    ),
    # tls
    KeyCase(
        ("tls",),
        {"certificate": PKI.chain_path, "private_key": PKI.key_path, "handshake_timeout": 5},
        lambda c: c.tls,
        TLSConfig(PKI.chain_path, PKI.key_path, 5.0),
        ([], 1, None, "chain.pem"),
        ({}, {"certificate": PKI.chain_path}, {"private_key": PKI.key_path}),
        TLS_BASE,
    ),
    KeyCase(
        ("tls", "certificate"),
        PKI.leaf_only_path,
        lambda c: c.tls.certificate,
        PKI.leaf_only_path,
        _STRING_WRONG + (None,),
        (
            "",
            PKI.directory + "/missing.pem",
            PKI.directory_path,
            PKI.not_pem_path,
            PKI.key_path,
            PKI.reversed_chain_path,
        ),
        TLS_BASE,
    ),
    KeyCase(
        ("tls", "private_key"),
        PKI.key_path,
        lambda c: c.tls.private_key,
        PKI.key_path,
        _STRING_WRONG + (None,),
        (
            "",
            PKI.directory + "/missing.key",
            PKI.not_pem_path,
            PKI.chain_path,
            PKI.other_key_path,
            PKI.encrypted_key_path,
            PKI.weak_key_path,
            PKI.ed25519_key_path,
        ),
        TLS_BASE,
    ),
    KeyCase(
        ("tls", "handshake_timeout"),
        2.5,
        lambda c: c.tls.handshake_timeout_s,
        2.5,
        _NUMBER_WRONG,
        (0, 0.5, 120.5, -1),
        TLS_BASE,
    ),
)


class ConfigTestCase(SynchronousTestCase):
    """Shared helpers."""

    def assertConfigError(self, raw: object, key: str, *fragments: str) -> ConfigError:
        """parse_config(raw) raises ConfigError for ``key`` whose one-line message has ``fragments``."""
        error = self.assertRaises(ConfigError, parse_config, raw)
        self.assertEqual(error.key, key, f"{raw!r}: {error}")
        message = str(error)
        self.assertNotIn("\n", message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return error

    def write(self, content: str | bytes) -> str:
        """A temporary file holding ``content``; returns its path."""
        path = self.mktemp()
        data = content.encode("utf-8") if isinstance(content, str) else content
        with open(path, "wb") as f:
            f.write(data)
        return path


class KeyTableTests(ConfigTestCase):
    """Every key: its happy path, its wrong types, its out-of-range values."""

    def test_table_covers_every_key(self) -> None:
        """The key table has a case for every key the parser knows, and no others."""
        tabled: set[tuple[str, object]] = set()
        for case in KEY_CASES:
            section = "" if len(case.path) == 1 else str(case.path[0])
            tabled.add(("btcd[]" if section == "btcd" else section, case.path[-1]))
        known = {(section, key) for section, keys in CONFIG_KEYS.items() for key in keys}
        self.assertEqual(tabled, known)

    def test_every_key_happy_path(self) -> None:
        """A valid value for each key is parsed into the documented field and unit."""
        for case in KEY_CASES:
            parsed = parse_config(case.raw(case.good))
            self.assertEqual(case.read(parsed), case.expected, dotted(case.path))

    def test_every_key_wrong_type(self) -> None:
        """A value of the wrong JSON type for each key names the key and the expected type."""
        for case in KEY_CASES:
            for value in case.wrong_types:
                error = self.assertRaises(ConfigError, parse_config, case.raw(value))
                self.assertTrue(
                    error.key.startswith(dotted(case.path)),
                    f"{dotted(case.path)}={value!r}: {error}",
                )
                self.assertRegex(
                    error.detail, r"^expected an? [a-z]+", f"{dotted(case.path)}={value!r}"
                )
                self.assertIn(", got ", error.detail)
                self.assertNotIn("\n", str(error))

    def test_every_key_out_of_range(self) -> None:
        """An out-of-range or malformed value for each key names the key, in one line."""
        for case in KEY_CASES:
            for value in case.out_of_range:
                error = self.assertRaises(ConfigError, parse_config, case.raw(value))
                self.assertTrue(
                    error.key.startswith(dotted(case.path)),
                    f"{dotted(case.path)}={value!r}: {error}",
                )
                self.assertNotIn("expected an object", error.detail)
                self.assertNotIn("\n", str(error))

    def test_docs_describe_every_key(self) -> None:
        """docs/configuration.md has a table row for every key."""
        with open(_DOCS, encoding="utf-8") as f:
            docs = f.read()
        for keys in CONFIG_KEYS.values():
            for key in keys:
                self.assertIn(f"| `{key}` |", docs, key)


class DefaultsTests(ConfigTestCase):
    """What an almost empty file means."""

    def test_defaults(self) -> None:
        """Left-out keys take the documented defaults."""
        parsed = parse_config(EMBEDDED)
        self.assertEqual(
            parsed,
            PoolConfig(
                btcd=(BackendConfig(url="embedded"),),
                embedded=EmbeddedConfig(),
                btcsig="/tbgpool/",
                blockpoll_ms=100,
                serverurl=("127.0.0.1:3333",),
                update_interval_s=30.0,
                version_mask=0x1FFFE000,
                mindiff=1.0,
                startdiff=42.0,
                maxdiff=0.0,
                nonce1length=4,
                nonce2length=8,
                logdir="logs",
                zmqblock=None,
                maxclients=100000,
                donation=0.0,
                vardiff=VardiffSettings(),
                events=EventsConfig(enabled=False, include=EVENT_TYPES),
                metrics=MetricsConfig(),
                rate_limits=RateLimitsConfig(),
            ),
        )
        self.assertTrue(parsed.uses_embedded_chain)

    def test_backend_defaults(self) -> None:
        """A Core entry defaults to notify true and a 10 s timeout."""
        backend = parse_config(CORE).btcd[0]
        self.assertEqual(
            backend, BackendConfig("127.0.0.1:8332", None, None, "/srv/btc/.cookie", True, 10.0)
        )
        self.assertFalse(parse_config(CORE).uses_embedded_chain)

    def test_results_are_frozen(self) -> None:
        """The parsed configuration cannot be changed afterwards."""
        parsed = parse_config(EMBEDDED)
        self.assertRaises(AttributeError, setattr, parsed, "mindiff", 5.0)
        self.assertRaises(AttributeError, setattr, parsed.btcd[0], "url", "x")
        self.assertIsInstance(parsed.serverurl, tuple)
        self.assertIsInstance(parsed.events.include, tuple)

    def test_numbers_are_floats(self) -> None:
        """Integers given for real-valued keys come back as floats."""
        parsed = parse_config(with_value(EMBEDDED, ("mindiff",), 2))
        self.assertIs(type(parsed.mindiff), float)
        self.assertIs(type(parsed.vardiff.mindiff), float)

    def test_null_means_absent_for_optional_keys(self) -> None:
        """JSON null for an optional key is the same as leaving it out."""
        raw = with_value(EMBEDDED, ("embedded",), {"difficulty": None, "rpc_port": None})
        raw["zmqblock"] = None
        parsed = parse_config(raw)
        self.assertIsNone(parsed.embedded.difficulty)
        self.assertIsNone(parsed.embedded.rpc_port)
        self.assertIsNone(parsed.zmqblock)


class StrictnessTests(ConfigTestCase):
    """Unknown keys, bools for numbers, non-finite numbers, key paths in messages."""

    def test_unknown_key_at_each_level(self) -> None:
        """An unknown key at every level is refused with its full path."""
        cases: list[tuple[dict[str, Any], str]] = [
            (with_value(EMBEDDED, ("mindif",), 1), "mindif"),
            (with_value(CORE, ("btcd", 0, "urll"), "x"), "btcd[0].urll"),
            (with_value(EMBEDDED, ("embedded", "netwrok"), "x"), "embedded.netwrok"),
            (with_value(EMBEDDED, ("vardiff", "ema_alph"), 0.3), "vardiff.ema_alph"),
            (with_value(EMBEDDED, ("events", "socket"), "x"), "events.socket"),
            (with_value(EMBEDDED, ("metrics", "host"), "x"), "metrics.host"),
            (with_value(EMBEDDED, ("rate_limits", "burst"), 1), "rate_limits.burst"),
        ]
        for raw, key in cases:
            error = self.assertConfigError(raw, key, "unknown key", repr(key))
            self.assertTrue(error.detail.startswith("unknown key"))

    def test_unknown_key_in_second_backend(self) -> None:
        """The btcd index in the path is that of the entry holding the unknown key."""
        raw = {"btcd": [CORE["btcd"][0], {"url": "10.0.0.2:8332", "cookie": "/c", "pas": "x"}]}
        self.assertConfigError(raw, "btcd[1].pas", "unknown key")

    def test_unknown_key_suggests_a_spelling(self) -> None:
        """A near miss of a known key suggests it."""
        self.assertConfigError(
            with_value(EMBEDDED, ("vardiff", "ema_alph"), 0.3),
            "vardiff.ema_alph",
            "did you mean 'ema_alpha'?",
        )

    def test_ckpool_only_keys_explained(self) -> None:
        """ckpool keys tbgpool does not take are refused with the reason."""
        self.assertConfigError(
            with_value(EMBEDDED, ("btcaddress",), "bc1q..."), "btcaddress", "unknown key", "solo"
        )
        self.assertConfigError(
            with_value(EMBEDDED, ("proxy",), []), "proxy", "unknown key", "proxy mode"
        )

    def test_hostile_key_is_escaped(self) -> None:
        """An unknown key with control characters or great length still gives one short line."""
        key = "evil\nkey" + "x" * 500
        error = self.assertConfigError(with_value(EMBEDDED, (key,), 1), error_key(key))
        self.assertLess(len(str(error)), 200)

    def test_non_object_sections(self) -> None:
        """The top level and each entry must be JSON objects."""
        self.assertConfigError([], "<top level>", "expected an object, got array")
        self.assertConfigError("x", "<top level>", "expected an object, got string")
        self.assertConfigError({"btcd": ["127.0.0.1:8332"]}, "btcd[0]", "expected an object")

    def test_bool_is_not_a_number(self) -> None:
        """true/false are refused where numbers and integers are expected."""
        self.assertConfigError(
            with_value(EMBEDDED, ("mindiff",), True), "mindiff", "expected a number, got boolean"
        )
        self.assertConfigError(
            with_value(EMBEDDED, ("maxclients",), False),
            "maxclients",
            "expected an integer, got boolean",
        )

    def test_integral_float_is_not_an_integer(self) -> None:
        """10.0 is refused where an integer is expected, naming the value."""
        self.assertConfigError(
            with_value(EMBEDDED, ("blockpoll",), 100.0), "blockpoll", "expected an integer, got 100"
        )

    def test_non_finite_numbers_refused(self) -> None:
        """NaN and infinities are refused, naming the key."""
        for value in (float("nan"), float("inf"), float("-inf")):
            self.assertConfigError(
                with_value(EMBEDDED, ("startdiff",), value), "startdiff", "finite"
            )
        self.assertConfigError(
            with_value(EMBEDDED, ("vardiff", "ema_alpha"), float("nan")),
            "vardiff.ema_alpha",
            "finite",
        )

    def test_huge_integer_for_a_number(self) -> None:
        """An integer too large for a float is refused with the range, not an OverflowError."""
        self.assertConfigError(
            with_value(EMBEDDED, ("update_interval",), 10**400),
            "update_interval",
            "between 1 and 600",
            "a huge integer",
        )
        self.assertConfigError(
            with_value(EMBEDDED, ("mindiff",), 10**400), "mindiff", "a huge integer"
        )

    def test_range_messages(self) -> None:
        """Out-of-range messages say the allowed range and the value given."""
        self.assertConfigError(
            with_value(EMBEDDED, ("blockpoll",), 5), "blockpoll", "between 10 and 60000, got 5"
        )
        self.assertConfigError(
            with_value(CORE, ("btcd", 0, "timeout"), 0), "btcd[0].timeout", "in (0, 300], got 0"
        )
        self.assertConfigError(
            with_value(EMBEDDED, ("mindiff",), 0), "mindiff", "greater than 0, got 0"
        )
        self.assertConfigError(
            with_value(EMBEDDED, ("rate_limits", "max_shares_per_minute"), 0),
            "rate_limits.max_shares_per_minute",
            "at least 1, got 0",
        )
        self.assertConfigError(
            with_value(EMBEDDED, ("vardiff", "reconnect_memory_ttl"), -1),
            "vardiff.reconnect_memory_ttl",
            "at least 0, got -1",
        )

    def test_type_messages(self) -> None:
        """Wrong-type messages say the expected and the given JSON type."""
        self.assertConfigError(
            with_value(EMBEDDED, ("btcsig",), 5), "btcsig", "expected a string, got number"
        )
        self.assertConfigError(
            with_value(EMBEDDED, ("vardiff", "enabled"), "yes"),
            "vardiff.enabled",
            "expected a boolean",
            "got string",
        )
        self.assertConfigError(
            with_value(EMBEDDED, ("serverurl",), {"a": 1}), "serverurl", "expected an array"
        )

    def test_lone_surrogate_refused(self) -> None:
        """A string holding a lone surrogate (legal JSON escape) is refused, not passed on."""
        self.assertConfigError(
            with_value(CORE_AUTH, ("btcd", 0, "pass"), "p\ud800"), "btcd[0].pass", "surrogate"
        )
        self.assertConfigError(with_value(EMBEDDED, ("logdir",), "\udfff"), "logdir", "surrogate")

    def test_long_values_are_cut_in_messages(self) -> None:
        """A long bad value is shortened in the message."""
        error = self.assertConfigError(
            with_value(CORE, ("btcd", 0, "url"), "x" * 5000), "btcd[0].url"
        )
        self.assertLess(len(str(error)), 300)


def set_home(case: SynchronousTestCase, home: str) -> None:
    """Set $HOME (which ~ expands to) for the duration of one test."""
    old = os.environ.get("HOME")
    os.environ["HOME"] = home

    def restore() -> None:
        if old is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old

    case.addCleanup(restore)


def error_key(key: str) -> str:
    """The key path ConfigError uses for an odd top-level key: JSON-quoted in brackets, cut."""
    text = json.dumps(key)
    return f'[{text[:36]}..."]'


class BackendTests(ConfigTestCase):
    """The btcd list and its credentials."""

    def test_btcd_required(self) -> None:
        """A configuration without btcd is refused with an example."""
        self.assertConfigError({}, "btcd", "is required", '"embedded"')
        self.assertConfigError({"btcd": None}, "btcd", "expected an array")

    def test_url_required(self) -> None:
        """Each btcd entry needs a url."""
        self.assertConfigError({"btcd": [{"cookie": "/c"}]}, "btcd[0].url", "is required")

    def test_failover_order_kept(self) -> None:
        """Several nodes are kept in the order given, each with its own settings."""
        raw: dict[str, list[dict[str, Any]]] = {
            "btcd": [
                {"url": "10.0.0.1:8332", "cookie": "/a/.cookie", "timeout": 3},
                {"url": "http://10.0.0.2:8332", "auth": "u", "pass": "p", "notify": False},
                {"url": "[2001:db8::1]:8332", "cookie": "/b/.cookie"},
            ]
        }
        backends = parse_config(raw).btcd
        self.assertEqual([b.url for b in backends], [e["url"] for e in raw["btcd"]])
        self.assertEqual(backends[0].timeout_s, 3.0)
        self.assertEqual((backends[1].user, backends[1].password), ("u", "p"))
        self.assertFalse(backends[1].notify)

    def test_same_node_twice(self) -> None:
        """The same node under two spellings is refused."""
        raw = {
            "btcd": [
                {"url": "127.0.0.1:8332", "cookie": "/c"},
                {"url": "http://127.0.0.1:8332", "cookie": "/c"},
            ]
        }
        self.assertConfigError(raw, "btcd[1].url", "same node as btcd[0].url")

    def test_embedded_must_be_alone(self) -> None:
        """The embedded chain next to a Core node (or itself) is refused."""
        raw = {"btcd": [{"url": "127.0.0.1:8332", "cookie": "/c"}, {"url": "embedded"}]}
        self.assertConfigError(raw, "btcd[1].url", "only btcd entry")
        raw = {"btcd": [{"url": "embedded"}, {"url": "embedded"}]}
        self.assertConfigError(raw, "btcd[0].url", "only btcd entry")

    def test_embedded_takes_no_cookie(self) -> None:
        """A cookie on the embedded chain is refused."""
        self.assertConfigError(
            {"btcd": [{"url": "embedded", "cookie": "/c"}]}, "btcd[0].cookie", "embedded"
        )

    def test_embedded_auth_protects_rpc_server(self) -> None:
        """auth/pass on the embedded entry are kept (for its JSON-RPC server)."""
        parsed = parse_config(EMBEDDED_WITH_AUTH)
        self.assertEqual((parsed.btcd[0].user, parsed.btcd[0].password), ("u", "p"))

    def test_credentials_required_for_core(self) -> None:
        """A Core node without cookie or auth/pass is refused."""
        self.assertConfigError(
            {"btcd": [{"url": "127.0.0.1:8332"}]}, "btcd[0]", "needs credentials", "cookie"
        )

    def test_auth_and_pass_go_together(self) -> None:
        """auth without pass, or pass without auth, is refused naming the missing one."""
        self.assertConfigError(
            {"btcd": [{"url": "127.0.0.1:8332", "auth": "u"}]}, "btcd[0].pass", "both"
        )
        self.assertConfigError(
            {"btcd": [{"url": "127.0.0.1:8332", "pass": "p"}]}, "btcd[0].auth", "both"
        )
        self.assertConfigError({"btcd": [{"url": "embedded", "auth": "u"}]}, "btcd[0].pass")

    def test_cookie_or_auth_not_both(self) -> None:
        """cookie together with auth/pass is refused."""
        raw = with_value(CORE_AUTH, ("btcd", 0, "cookie"), "/c")
        self.assertConfigError(raw, "btcd[0].cookie", "one or the other")

    def test_null_credentials_are_absent(self) -> None:
        """auth/pass set to null count as not given."""
        raw = with_value(CORE, ("btcd", 0, "auth"), None)
        raw["btcd"][0]["pass"] = None
        self.assertIsNone(parse_config(raw).btcd[0].user)

    def test_cookie_home_expanded(self) -> None:
        """A leading ~ in the cookie path is expanded to the home directory."""
        set_home(self, "/home/miner")
        raw = with_value(CORE, ("btcd", 0, "cookie"), "~/.bitcoin/regtest/.cookie")
        self.assertEqual(parse_config(raw).btcd[0].cookie, "/home/miner/.bitcoin/regtest/.cookie")

    def test_https_explained(self) -> None:
        """An https url is refused saying Core speaks plain http."""
        self.assertConfigError(
            with_value(CORE, ("btcd", 0, "url"), "https://10.0.0.1:8332"),
            "btcd[0].url",
            "plain http",
        )

    def test_ipv6_needs_brackets(self) -> None:
        """An unbracketed IPv6 node address is refused with the bracketed form."""
        self.assertConfigError(
            with_value(CORE, ("btcd", 0, "url"), "::1:8332"), "btcd[0].url", '"[::1]:8332"'
        )

    def test_embedded_section_needs_embedded_backend(self) -> None:
        """An embedded section with a Core backend is refused."""
        self.assertConfigError(with_value(CORE, ("embedded",), {}), "embedded", 'url "embedded"')


class DifficultyTests(ConfigTestCase):
    """mindiff, startdiff, maxdiff and their copy into the vardiff settings."""

    def test_startdiff_below_mindiff(self) -> None:
        """startdiff below mindiff is refused naming both."""
        raw = {**EMBEDDED, "mindiff": 512, "startdiff": 100}
        self.assertConfigError(raw, "startdiff", "at least mindiff (512), got 100")

    def test_startdiff_above_maxdiff(self) -> None:
        """startdiff above a non-zero maxdiff is refused."""
        raw = {**EMBEDDED, "mindiff": 1, "startdiff": 100, "maxdiff": 50}
        self.assertConfigError(raw, "startdiff", "at most maxdiff (50), got 100")

    def test_maxdiff_below_mindiff(self) -> None:
        """A non-zero maxdiff below mindiff is refused; 0 means no maximum."""
        self.assertConfigError(
            {**EMBEDDED, "mindiff": 10, "maxdiff": 5}, "maxdiff", "0 (no maximum)"
        )
        self.assertEqual(parse_config({**EMBEDDED, "mindiff": 10, "maxdiff": 0}).maxdiff, 0.0)

    def test_default_startdiff_follows_bounds(self) -> None:
        """Without startdiff the default 42 is raised to mindiff or lowered to maxdiff."""
        self.assertEqual(parse_config({**EMBEDDED, "mindiff": 512}).startdiff, 512.0)
        self.assertEqual(parse_config({**EMBEDDED, "maxdiff": 10}).startdiff, 10.0)
        self.assertEqual(parse_config({**EMBEDDED, "mindiff": 0.001}).startdiff, 42.0)

    def test_tiny_difficulties(self) -> None:
        """Regtest-sized fractional difficulties are accepted."""
        parsed = parse_config({**EMBEDDED, "mindiff": 1e-9, "startdiff": 0.00015, "maxdiff": 0.5})
        self.assertEqual((parsed.mindiff, parsed.startdiff, parsed.maxdiff), (1e-9, 0.00015, 0.5))

    def test_vardiff_gets_top_level_difficulties(self) -> None:
        """The vardiff settings carry the top-level mindiff, startdiff and maxdiff."""
        raw = {**EMBEDDED, "mindiff": 2, "startdiff": 3, "maxdiff": 4, "vardiff": {"dampening": 1}}
        settings = parse_config(raw).vardiff
        self.assertEqual(
            (settings.mindiff, settings.startdiff, settings.maxdiff, settings.dampening),
            (2.0, 3.0, 4.0, 1.0),
        )

    def test_embedded_difficulty_bounds(self) -> None:
        """The embedded difficulty may be as low as regtest's limit and no lower."""
        raw = with_value(EMBEDDED, ("embedded", "difficulty"), MIN_NETWORK_DIFFICULTY)
        self.assertEqual(parse_config(raw).embedded.difficulty, MIN_NETWORK_DIFFICULTY)
        raw = with_value(EMBEDDED, ("embedded", "difficulty"), MIN_NETWORK_DIFFICULTY / 2)
        self.assertConfigError(raw, "embedded.difficulty", "4.65")
        self.assertAlmostEqual(MIN_NETWORK_DIFFICULTY, 4.656542373906925e-10)


class CrossKeyTests(ConfigTestCase):
    """Rules that tie keys together."""

    def test_maxclients_fits_extranonce1(self) -> None:
        """maxclients may not exceed the number of distinct extranonce1 values; its default shrinks."""
        self.assertEqual(parse_config({**EMBEDDED, "nonce1length": 2}).maxclients, 65536)
        self.assertEqual(
            parse_config({**EMBEDDED, "nonce1length": 2, "maxclients": 65536}).maxclients, 65536
        )
        self.assertConfigError(
            {**EMBEDDED, "nonce1length": 2, "maxclients": 65537}, "maxclients", "at most 65536"
        )

    def test_scriptsig_budget(self) -> None:
        """The largest allowed btcsig and extranonces fit the 100-byte scriptSig; more would not."""
        self.assertEqual(coinbase_scriptsig_max_bytes(38, 8, 8), 61)
        self.assertLessEqual(coinbase_scriptsig_max_bytes(38, 8, 8), 100)
        self.assertGreater(coinbase_scriptsig_max_bytes(80, 8, 8), 100)
        parsed = parse_config(
            {**EMBEDDED, "btcsig": "x" * 38, "nonce1length": 8, "nonce2length": 8}
        )
        self.assertEqual(len(parsed.btcsig), 38)

    def test_empty_btcsig_allowed(self) -> None:
        """An empty pool tag is allowed."""
        self.assertEqual(parse_config({**EMBEDDED, "btcsig": ""}).btcsig, "")

    def test_btcsig_too_long_mentions_ckpool(self) -> None:
        """A 39-byte tag is refused rather than truncated as ckpool would."""
        self.assertConfigError({**EMBEDDED, "btcsig": "x" * 39}, "btcsig", "39 bytes", "truncate")

    def test_donation_only_zero(self) -> None:
        """A donation is refused with the reason."""
        self.assertConfigError({**EMBEDDED, "donation": 0.5}, "donation", "solo pool", "got 0.5")

    def test_zmqblock_needs_core(self) -> None:
        """zmqblock with the embedded chain is refused."""
        self.assertConfigError(
            {**EMBEDDED, "zmqblock": "tcp://127.0.0.1:28332"}, "zmqblock", "embedded chain"
        )

    def test_zmqblock_needs_a_notify_node(self) -> None:
        """zmqblock when no node has notify true is refused."""
        raw = with_value(CORE, ("btcd", 0, "notify"), False)
        raw["zmqblock"] = "tcp://127.0.0.1:28332"
        self.assertConfigError(raw, "zmqblock", '"notify": true')

    def test_zmqblock_forms(self) -> None:
        """zmqblock takes tcp:// with an IP or host name, or ipc://."""
        for url in (
            "tcp://127.0.0.1:28332",
            "tcp://bitcoind:28332",
            "ipc:///run/bitcoind/zmq.sock",
        ):
            self.assertEqual(parse_config({**CORE, "zmqblock": url}).zmqblock, url)

    def test_version_mask_zero_disables_rolling(self) -> None:
        """A version mask of "0" is accepted (no version rolling)."""
        self.assertEqual(parse_config({**EMBEDDED, "version_mask": "0"}).version_mask, 0)

    def test_version_mask_bit31(self) -> None:
        """A mask with bit 31 is refused saying why."""
        self.assertConfigError({**EMBEDDED, "version_mask": "9fffe000"}, "version_mask", "bit 31")

    def test_block_interval_zero_is_off(self) -> None:
        """block_interval 0 turns network blocks off; tiny positive values are refused."""
        raw = with_value(EMBEDDED, ("embedded", "block_interval"), 0)
        self.assertEqual(parse_config(raw).embedded.block_interval_s, 0.0)
        self.assertConfigError(
            with_value(EMBEDDED, ("embedded", "block_interval"), 0.01),
            "embedded.block_interval",
            "0 (off)",
        )

    def test_events_include_empty(self) -> None:
        """An empty include list sends nothing; a duplicate names the first occurrence."""
        raw = with_value(EMBEDDED, ("events", "include"), [])
        self.assertEqual(parse_config(raw).events.include, ())
        raw = with_value(EMBEDDED, ("events", "include"), ["block_found", "block_found"])
        self.assertConfigError(raw, "events.include[1]", "duplicates events.include[0]")

    def test_events_include_unknown_type(self) -> None:
        """An unknown event type is refused listing the known ones."""
        raw = with_value(EMBEDDED, ("events", "include"), ["block_found", "blocks"])
        self.assertConfigError(raw, "events.include[1]", "unknown event type", "share_best_diff")

    def test_exempt_host_bits(self) -> None:
        """An exempt network with host bits set is refused saying so."""
        raw = with_value(EMBEDDED, ("rate_limits", "exempt"), ["192.168.1.5/24"])
        self.assertConfigError(raw, "rate_limits.exempt[0]", "host bits")


class ListenerTests(ConfigTestCase):
    """serverurl forms, endpoint conversion, and listener conflicts."""

    def endpoints(self, *serverurl: str) -> list[str]:
        """server_endpoints for a configuration with these serverurl entries."""
        return server_endpoints(parse_config({**EMBEDDED, "serverurl": list(serverurl)}))

    def test_ipv4_conversion(self) -> None:
        """An IPv4 host:port becomes a tcp endpoint on that interface."""
        self.assertEqual(self.endpoints("0.0.0.0:3333"), ["tcp:3333:interface=0.0.0.0"])

    def test_ipv6_conversion(self) -> None:
        """A bracketed IPv6 host:port becomes a tcp6 endpoint with the colons escaped."""
        self.assertEqual(self.endpoints("[::1]:3333"), ["tcp6:3333:interface=\\:\\:1"])

    def test_endpoint_strings_pass_through(self) -> None:
        """Twisted endpoint strings are used as given."""
        given = [
            "tcp:3333:interface=127.0.0.1",
            "tcp6:3334:interface=\\:\\:1",
            "unix:/run/tbgpool/stratum.sock:mode=660",
            "tcp:0",
        ]
        self.assertEqual(self.endpoints(*given), given)

    def test_single_string_serverurl(self) -> None:
        """A single serverurl string (as ckpool accepts) is one listener."""
        parsed = parse_config({**EMBEDDED, "serverurl": "0.0.0.0:3333"})
        self.assertEqual(parsed.serverurl, ("0.0.0.0:3333",))
        self.assertEqual(server_endpoints(parsed), ["tcp:3333:interface=0.0.0.0"])

    def test_converted_endpoints_listen_where_asked(self) -> None:
        """Twisted parses the converted strings and listens on the configured address and port."""
        reactor = MemoryReactor()
        for endpoint in self.endpoints("0.0.0.0:3333", "[::1]:3334", "127.0.0.1:3335"):
            serverFromString(reactor, endpoint).listen(Factory.forProtocol(Protocol))
        self.assertEqual(
            [(port, interface) for port, _factory, _backlog, interface in reactor.tcpServers],
            [(3333, "0.0.0.0"), (3334, "::1"), (3335, "127.0.0.1")],
        )

    def test_metrics_endpoint_listens_where_asked(self) -> None:
        """metrics.bind, IPv4 or IPv6, becomes an endpoint Twisted listens on as configured"""
        reactor = MemoryReactor()
        for bind, port in (("127.0.0.1", 9100), ("::1", 9101), ("0.0.0.0", 9102)):
            parsed = parse_config({**EMBEDDED, "metrics": {"enabled": True, "bind": bind,
                                                           "port": port}})
            serverFromString(reactor, metrics_endpoint(parsed)).listen(Factory())
        self.assertEqual(
            [(port, interface) for port, _factory, _backlog, interface in reactor.tcpServers],
            [(9100, "127.0.0.1"), (9101, "::1"), (9102, "0.0.0.0")],
        )

    def test_metrics_path_cannot_hide_health(self) -> None:
        """metrics.path "/" or "/health" is refused: /health is served beside the metrics"""
        for path in ("/", "/health", "/health/"):
            self.assertConfigError(
                {**EMBEDDED, "metrics": {"path": path}}, "metrics.path", "taken"
            )

    def test_listener_host_must_be_an_ip(self) -> None:
        """A host name as a listening address is refused."""
        self.assertConfigError(
            {**EMBEDDED, "serverurl": ["localhost:3333"]}, "serverurl[0]", "IP address"
        )

    def test_bad_endpoint_strings(self) -> None:
        """Endpoint strings Twisted would refuse, or that hide a mistake, are refused."""
        cases = {
            "tcp:3333:interfce=0.0.0.0": "unknown tcp endpoint argument",
            "tcp:interface=0.0.0.0": "needs a port",
            "tcp:99999": "needs a port",
            "tcp:3333:interface=localhost": "interface must be an IP address",
            "tcp:3333:backlog=0": "backlog",
            "tcp:3333:0.0.0.0:50:extra": "too many positional arguments",
            "tcp:3333:port=3334": "given twice",
            "tcp:3333\\": "lone backslash",
            "ssl:3334": "tls://HOST:PORT",
            "ssl:3334:privateKey=k.pem:certKey=c.pem": "bypass the pool's TLS version",
            "SSL:3334:privateKey=k.pem": "tls://HOST:PORT",
            "tls:3334": 'write a TLS listener as "tls://HOST:PORT"',
            "TLS://127.0.0.1:3334": "lower case: tls://",
            "tls://localhost:3334": "IP address",
            "tls://::1:3334": "brackets",
            "tls://[::1]": "tls://[IPv6]:port",
            "tls://127.0.0.1:65536": "between 0 and 65535",
            "tls://127.0.0.1:3334/": "between 0 and 65535",
            "unix:": "socket path",
            "unix:/run/x.sock:mode=rw": "octal",
            "unix:/run/x.sock:lockfile=yes": "lockfile",
            "unix:/" + "x" * 120: "107 bytes",
            "TCP:3333": "lower case",
            "tcp:3333:backlog=\u0663": "backlog",
        }
        for entry, fragment in cases.items():
            self.assertConfigError({**EMBEDDED, "serverurl": [entry]}, "serverurl[0]", fragment)

    def test_duplicate_listener(self) -> None:
        """The same listener twice, under two spellings, is refused."""
        self.assertConfigError(
            {**EMBEDDED, "serverurl": ["0.0.0.0:3333", "tcp:3333"]},
            "serverurl[1]",
            "same address as serverurl[0]",
        )

    def test_wildcards_overlap(self) -> None:
        """A wildcard address overlaps specific addresses of its family; [::] overlaps IPv4 too."""
        self.assertConfigError(
            {**EMBEDDED, "serverurl": ["127.0.0.1:3333", "0.0.0.0:3333"]}, "serverurl[1]"
        )
        self.assertConfigError(
            {**EMBEDDED, "serverurl": ["[::]:3333", "192.168.1.2:3333"]}, "serverurl[1]"
        )
        parsed = parse_config(
            {**EMBEDDED, "serverurl": ["0.0.0.0:3333", "[::1]:3333", "127.0.0.1:3334"]}
        )
        self.assertEqual(len(parsed.serverurl), 3)

    def test_port_zero_never_conflicts(self) -> None:
        """Two listeners on port 0 get different ports from the kernel, so both are allowed."""
        parsed = parse_config(
            {**EMBEDDED, "serverurl": ["127.0.0.1:0", "tcp:0:interface=127.0.0.1"]}
        )
        self.assertEqual(len(parsed.serverurl), 2)

    def test_same_unix_socket(self) -> None:
        """Two unix listeners on one path are refused."""
        self.assertConfigError(
            {**EMBEDDED, "serverurl": ["unix:/run/s.sock", "unix:/run/s.sock:mode=600"]},
            "serverurl[1]",
        )

    def test_metrics_port_conflict(self) -> None:
        """Enabled metrics on a Stratum address are refused; disabled metrics are not checked."""
        raw = {**EMBEDDED, "serverurl": ["0.0.0.0:9100"], "metrics": {"enabled": True}}
        self.assertConfigError(raw, "metrics.port", "same address as serverurl[0]")
        raw = {**EMBEDDED, "serverurl": ["0.0.0.0:9100"], "metrics": {"enabled": False}}
        self.assertEqual(parse_config(raw).metrics.port, 9100)

    def test_embedded_rpc_port_conflict(self) -> None:
        """The embedded JSON-RPC port may not be a Stratum port on localhost."""
        raw = with_value(EMBEDDED, ("embedded", "rpc_port"), 3333)
        self.assertConfigError(raw, "embedded.rpc_port", "same address as serverurl")



class TLSListenerTests(ConfigTestCase):
    """tls:// listeners and the tls section their certificate and key come from."""

    def test_tls_listeners_ipv4_and_ipv6(self) -> None:
        """tls://IPv4:port and tls://[IPv6]:port bind like plain entries and are marked TLS."""
        raw = {**TLS_BASE, "serverurl": ["tls://0.0.0.0:3334", "tls://[::1]:3335", "[::]:3333"]}
        self.assertEqual(
            stratum_listeners(parse_config(raw)),
            [
                StratumListener("tcp:3334:interface=0.0.0.0", True),
                StratumListener("tcp6:3335:interface=\\:\\:1", True),
                StratumListener("tcp6:3333:interface=\\:\\:", False),
            ],
        )

    def test_tls_listener_endpoints_listen_where_asked(self) -> None:
        """The endpoint strings of tls:// entries are ones Twisted listens on as configured."""
        raw = {**TLS_BASE, "serverurl": ["tls://127.0.0.1:3334", "tls://[::1]:3335"]}
        reactor = MemoryReactor()
        for listener in stratum_listeners(parse_config(raw)):
            serverFromString(reactor, listener.endpoint).listen(Factory.forProtocol(Protocol))
        self.assertEqual(
            [(port, interface) for port, _factory, _backlog, interface in reactor.tcpServers],
            [(3334, "127.0.0.1"), (3335, "::1")],
        )

    def test_server_endpoints_refuses_tls(self) -> None:
        """server_endpoints will not hand out a tls:// entry's bare (plaintext) endpoint."""
        self.assertRaises(ValueError, server_endpoints, parse_config(TLS_BASE))

    def test_tls_section_required(self) -> None:
        """A tls:// listener without a tls section names the tls key and the listener."""
        raw = without(TLS_BASE, ("tls",))
        self.assertConfigError(raw, "tls", "is required", "tls://127.0.0.1:3334")

    def test_tls_section_without_tls_listener(self) -> None:
        """A tls section with no tls:// listener is still checked, and kept."""
        raw = {**TLS_BASE, "serverurl": ["127.0.0.1:3333"]}
        self.assertEqual(parse_config(raw).tls, TLSConfig(PKI.chain_path, PKI.key_path, 10.0))
        raw["tls"] = {"certificate": PKI.chain_path, "private_key": PKI.other_key_path}
        self.assertConfigError(raw, "tls.private_key", "does not match")

    def test_no_tls_by_default(self) -> None:
        """Without tls:// listeners or a tls section, config.tls is None."""
        self.assertIsNone(parse_config(EMBEDDED).tls)

    def test_mismatched_key(self) -> None:
        """A key that is not the certificate's is refused naming both files."""
        raw = with_value(TLS_BASE, ("tls", "private_key"), PKI.other_key_path)
        error = self.assertConfigError(raw, "tls.private_key", "does not match", "must come first")
        self.assertIn("other.key", str(error))
        self.assertIn("chain.pem", str(error))

    def test_chain_in_the_wrong_order(self) -> None:
        """An intermediate before the server's certificate is refused with the right order."""
        raw = with_value(TLS_BASE, ("tls", "certificate"), PKI.reversed_chain_path)
        self.assertConfigError(
            raw, "tls.certificate", "did not issue certificate 1", "server's own certificate first"
        )

    def test_file_problems_are_named(self) -> None:
        """Missing, unreadable, non-PEM, encrypted and weak files each say what is wrong."""
        cases = {
            ("certificate", PKI.directory + "/missing.pem"): "cannot read",
            ("certificate", PKI.directory_path): "not a regular file",
            ("private_key", "/dev/null"): "not a regular file",
            ("certificate", PKI.not_pem_path): "no valid PEM certificate",
            ("certificate", PKI.key_path): "no valid PEM certificate",
            ("private_key", PKI.not_pem_path): "no valid PEM private key",
            ("private_key", PKI.chain_path): "no valid PEM private key",
            ("private_key", PKI.encrypted_key_path): "is encrypted",
            ("private_key", PKI.weak_key_path): "1024 bits is too weak",
            ("private_key", PKI.ed25519_key_path): "use an RSA (2048 bits or more) or ECDSA key",
        }
        for (key, path), fragment in cases.items():
            raw = with_value(TLS_BASE, ("tls", key), path)
            self.assertConfigError(raw, f"tls.{key}", fragment)

    def test_oversized_file(self) -> None:
        """A certificate file over 1 MiB is refused without being parsed."""
        path = self.write(b"-" * (1024 * 1024 + 1))
        raw = with_value(TLS_BASE, ("tls", "certificate"), path)
        self.assertConfigError(raw, "tls.certificate", "larger than")

    def test_tls_listener_conflicts_with_plain(self) -> None:
        """A tls:// listener on the same address and port as a plain one is a conflict."""
        raw = {**TLS_BASE, "serverurl": ["0.0.0.0:3334", "tls://127.0.0.1:3334"]}
        self.assertConfigError(raw, "serverurl[1]", "same address as serverurl[0]")

    def test_load_config_reads_the_tls_files(self) -> None:
        """A whole file with a tls:// listener loads, its tls section parsed."""
        path = self.write(json.dumps(TLS_BASE))
        self.assertEqual(load_config(path).tls, TLSConfig(PKI.chain_path, PKI.key_path, 10.0))


_TRICKY_VALUES: tuple[object, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1,
    2**64,
    10**400,
    0.5,
    -0.0,
    1e308,
    float("nan"),
    float("inf"),
    "",
    "x",
    "\x00",
    "\ud800",
    "\n",
    "0.0.0.0:3333",
    "[::1]:3333",
    "tcp:0",
    "embedded",
    "tcp://127.0.0.1:28332",
    "1fffe000",
    [],
    [None],
    ["x"],
    [{}],
    {},
    {"x": 1},
)


def _mutate(node: Any, rng: random.Random) -> Any:
    """A copy of ``node`` with one value somewhere inside replaced, or a key added or removed."""
    if isinstance(node, dict) and node and rng.random() < 0.8:
        key = rng.choice(sorted(node))
        copied = dict(node)
        action = rng.random()
        if action < 0.1:
            del copied[key]
        elif action < 0.15:
            copied[key + "x"] = rng.choice(_TRICKY_VALUES)
        elif action < 0.6:
            copied[key] = _mutate(node[key], rng)
        else:
            copied[key] = rng.choice(_TRICKY_VALUES)
        return copied
    if isinstance(node, list) and node and rng.random() < 0.8:
        index = rng.randrange(len(node))
        copied_list = list(node)
        copied_list[index] = _mutate(node[index], rng)
        return copied_list
    return rng.choice(_TRICKY_VALUES)


class RobustnessTests(ConfigTestCase):
    """Hostile input gives a ConfigError, never another exception."""

    def test_mutated_configurations(self) -> None:
        """Thousands of seeded random mutations of the spec example parse or raise ConfigError."""
        rng = random.Random(20240601)
        spec = json.loads(SPEC_MAINNET)
        outcomes = {"parsed": 0, "refused": 0}
        for _ in range(3000):
            raw = _mutate(_mutate(spec, rng), rng)
            try:
                parse_config(raw)
            except ConfigError as error:
                self.assertNotIn("\n", str(error))
                outcomes["refused"] += 1
            else:
                outcomes["parsed"] += 1
        self.assertGreater(outcomes["refused"], 1000)
        self.assertGreater(outcomes["parsed"], 10)

    def test_accepted_endpoints_are_accepted_by_twisted(self) -> None:
        """Random endpoint-like strings the validator accepts are all ones Twisted can parse."""
        rng = random.Random(7)
        alphabet = "tcpunixsl6:=\\0123456789.abf[]/ -"
        accepted = 0
        for _ in range(20000):
            prefix = rng.choice(["tcp:", "tcp6:", "unix:", ""])
            entry = prefix + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
            try:
                parsed = parse_config({**EMBEDDED, "serverurl": [entry]})
            except ConfigError:
                continue
            serverFromString(MemoryReactor(), server_endpoints(parsed)[0])
            accepted += 1
        self.assertGreater(accepted, 100)


class FileTests(ConfigTestCase):
    """load_config: reading and decoding the file."""

    def test_file_not_found(self) -> None:
        """A missing file is a <file> error naming it."""
        path = self.mktemp()
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(error.key, "<file>")
        self.assertIn("No such file", str(error))
        self.assertIn(os.path.basename(path), str(error))

    def test_directory(self) -> None:
        """A directory is not a configuration file."""
        path = self.mktemp()
        os.mkdir(path)
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(error.key, "<file>")
        self.assertIn("not a regular file", str(error))

    def test_nul_in_path(self) -> None:
        """A path containing NUL is a <file> error, not a ValueError."""
        error = self.assertRaises(ConfigError, load_config, "a\x00b.json")
        self.assertEqual(error.key, "<file>")

    def test_invalid_json_position(self) -> None:
        """Invalid JSON is a <file> error with line and column."""
        path = self.write('{\n  "btcd": [{"url": "embedded"}]\n  "mindiff": 1\n}\n')
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(error.key, "<file>")
        self.assertIn("line 3 column 3", str(error))
        self.assertNotIn("\n", str(error))

    def test_comments_refused(self) -> None:
        """Comments are refused with a hint that the file is plain JSON."""
        for comment in ("// dev pool", "# dev pool", "/* dev pool */"):
            path = self.write("{\n  " + comment + '\n  "btcd": [{"url": "embedded"}]\n}\n')
            error = self.assertRaises(ConfigError, load_config, path)
            self.assertEqual(error.key, "<file>")
            self.assertIn("comments are not allowed", str(error))
            self.assertIn("line 2", str(error))

    def test_non_finite_literals(self) -> None:
        """NaN, Infinity and overflowing literals in the file are refused naming the key."""
        for literal in ("NaN", "Infinity", "-Infinity", "1e999"):
            path = self.write(
                '{"btcd": [{"url": "embedded"}], "vardiff": {"dampening": ' + literal + "}}"
            )
            error = self.assertRaises(ConfigError, load_config, path)
            self.assertEqual(error.key, "vardiff.dampening")
            self.assertIn("finite", str(error))

    def test_non_finite_for_a_string_key(self) -> None:
        """A NaN where a string is expected is a type error, not a crash."""
        path = self.write('{"btcd": [{"url": NaN}]}')
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(error.key, "btcd[0].url")
        self.assertIn("non-finite number NaN", str(error))

    def test_duplicate_keys(self) -> None:
        """A key given twice in one object is refused with its path."""
        path = self.write(
            '{"btcd": [{"url": "embedded"}], "vardiff": {"ema_alpha": 0.3, "ema_alpha": 0.5}}'
        )
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(error.key, "vardiff.ema_alpha")
        self.assertIn("more than once", str(error))

    def test_not_utf8(self) -> None:
        """Bytes that are not UTF-8 are a <file> error."""
        path = self.write(b'{"btcd": [{"url": "embedded"}], "btcsig": "\xff"}')
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(error.key, "<file>")
        self.assertIn("UTF-8", str(error))

    def test_byte_order_mark_tolerated(self) -> None:
        """A UTF-8 byte-order mark, as some editors write, is accepted."""
        path = self.write(b"\xef\xbb\xbf" + json.dumps(EMBEDDED).encode())
        self.assertTrue(load_config(path).uses_embedded_chain)

    def test_too_large(self) -> None:
        """A file over the size cap is refused before decoding."""
        path = self.write(" " * (MAX_CONFIG_FILE_BYTES + 1))
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(error.key, "<file>")
        self.assertIn("larger than", str(error))

    def test_deep_nesting(self) -> None:
        """Pathologically nested JSON is a <file> error, not a RecursionError."""
        path = self.write("[" * 100000 + "]" * 100000)
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(error.key, "<file>")

    def test_too_many_digits(self) -> None:
        """An integer beyond Python's digit limit is a <file> error."""
        path = self.write('{"btcd": [{"url": "embedded"}], "seed": ' + "9" * 5000 + "}")
        error = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(error.key, "<file>")
        self.assertIn("too many digits", str(error))

    def test_empty_file(self) -> None:
        """An empty file is a <file> error."""
        error = self.assertRaises(ConfigError, load_config, self.write(""))
        self.assertEqual(error.key, "<file>")

    def test_top_level_array(self) -> None:
        """A file holding an array is refused at the top level."""
        error = self.assertRaises(ConfigError, load_config, self.write("[]"))
        self.assertEqual(error.key, "<top level>")


class ExampleFileTests(ConfigTestCase):
    """The example files in etc/ and the spec's example."""

    def test_dev_file(self) -> None:
        """etc/tbgpool-dev.json: embedded chain, Stratum on 127.0.0.1:3333, logs, low difficulty."""
        parsed = load_config(os.path.join(_ETC, "tbgpool-dev.json"))
        self.assertTrue(parsed.uses_embedded_chain)
        self.assertEqual(parsed.embedded.network, "regtest")
        self.assertEqual(server_endpoints(parsed), ["tcp:3333:interface=127.0.0.1"])
        self.assertEqual(parsed.logdir, "logs")
        self.assertLess(parsed.mindiff, 0.01)
        self.assertLessEqual(parsed.startdiff, 0.1)
        self.assertIsNone(parsed.zmqblock)

    def test_regtest_core_file(self) -> None:
        """etc/tbgpool-regtest-core.json: Core on 127.0.0.1:18443, cookie auth, ZMQ."""
        set_home(self, "/home/miner")
        parsed = load_config(os.path.join(_ETC, "tbgpool-regtest-core.json"))
        backend = parsed.btcd[0]
        self.assertEqual(backend.url, "127.0.0.1:18443")
        self.assertEqual(backend.cookie, "/home/miner/.bitcoin/regtest/.cookie")
        self.assertIsNone(backend.user)
        self.assertEqual(parsed.zmqblock, "tcp://127.0.0.1:28332")
        self.assertEqual(server_endpoints(parsed), ["tcp:3333:interface=127.0.0.1"])

    def test_mainnet_file(self) -> None:
        """etc/tbgpool-mainnet.json parses to the same configuration as the spec's example."""
        from_file = load_config(os.path.join(_ETC, "tbgpool-mainnet.json"))
        self.assertEqual(from_file, parse_config(json.loads(SPEC_MAINNET)))

    def test_spec_example(self) -> None:
        """The spec's mainnet example gives the values it spells out."""
        parsed = parse_config(json.loads(SPEC_MAINNET))
        self.assertEqual(parsed.btcd[0].user, "ckpool_primary")
        self.assertEqual(parsed.btcsig, "/TheBitcoinGame/")
        self.assertEqual((parsed.mindiff, parsed.startdiff, parsed.maxdiff), (512.0, 10000.0, 0.0))
        self.assertEqual(parsed.version_mask, 0x1FFFE000)
        self.assertEqual(server_endpoints(parsed), ["tcp:3333:interface=0.0.0.0"])
        self.assertEqual(parsed.events.include, EVENT_TYPES)
        self.assertEqual(parsed.vardiff.reconnect_memory_ttl_s, 86400.0)
        self.assertEqual(parsed.metrics, MetricsConfig(True, 9100, "/metrics", "127.0.0.1"))
        self.assertEqual(parsed.rate_limits.max_invalid_shares_per_minute, 100)

    def test_docs_examples_load(self) -> None:
        """Every JSON example in docs/configuration.md that is a whole file is valid."""
        with open(_DOCS, encoding="utf-8") as f:
            blocks = re.findall(r"```json\n(.*?)```", f.read(), re.S)
        whole = [json.loads(block) for block in blocks if block.lstrip().startswith("{")]
        self.assertTrue(whole)
        for raw in whole:
            self.assertIsInstance(parse_config(raw), PoolConfig)


class MainTests(ConfigTestCase):
    """The tbgpool-check-config console script."""

    def setUp(self) -> None:
        """Capture standard output."""
        self.stdout = io.StringIO()
        self.patch(sys, "stdout", self.stdout)

    def test_good_file(self) -> None:
        """A valid file prints OK and its name, exit status 0."""
        path = self.write(json.dumps(EMBEDDED))
        self.assertEqual(main([path]), 0)
        self.assertEqual(self.stdout.getvalue(), f"OK: {path}\n")

    def test_bad_value(self) -> None:
        """An invalid value prints the one-line error, exit status 1."""
        path = self.write(json.dumps({**EMBEDDED, "vardiff": {"ema_alph": 0.3}}))
        self.assertEqual(main([path]), 1)
        output = self.stdout.getvalue()
        self.assertEqual(output.count("\n"), 1)
        self.assertTrue(output.startswith("ERROR: config key 'vardiff.ema_alph': unknown key"))

    def test_missing_file(self) -> None:
        """A missing file prints the <file> error, exit status 1."""
        self.assertEqual(main([self.mktemp()]), 1)
        self.assertIn("config key '<file>'", self.stdout.getvalue())

    def test_etc_files(self) -> None:
        """The shipped example files pass the checker."""
        for name in ("tbgpool-dev.json", "tbgpool-regtest-core.json", "tbgpool-mainnet.json"):
            self.assertEqual(main([os.path.join(_ETC, name)]), 0, name)
        self.assertEqual(self.stdout.getvalue().count("OK: "), 3)

    def test_usage(self) -> None:
        """A wrong command line exits with status 2 (argparse)."""
        self.patch(sys, "stderr", io.StringIO())
        error = self.assertRaises(SystemExit, main, [])
        self.assertEqual(error.code, 2)

    def test_module_entry_point(self) -> None:
        """The module exposes main for the console script declared in setup.cfg."""
        with open(os.path.join(_REPO, "setup.cfg"), encoding="utf-8") as f:
            self.assertIn("tbgpool-check-config = tbgpool.config:main", f.read())
        self.assertIs(config.main, main)
