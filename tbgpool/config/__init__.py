"""The pool configuration: a ckpool-compatible JSON file, validated into frozen dataclasses.

Every key is documented in ``docs/configuration.md``. Parsing is strict, because a
mistyped key in a mainnet pool's configuration should stop it, not be ignored:
an unknown key, a value of the wrong JSON type, an out-of-range or non-finite
number and a key given twice each raise :class:`tbgpool.errors.ConfigError`
naming the key path (``"vardiff.ema_alpha"``, ``"btcd[0].url"``) in one line.
Problems with the file itself (missing, unreadable, not JSON) use the key
``"<file>"``. Nothing here touches the network. Besides the file itself, only the
``tls`` section's certificate and key are read (and checked) at load time; other
referenced files (cookie, sockets) are opened when the pool uses them.

This package's modules, by concern:

- :mod:`~tbgpool.config.model`: the frozen dataclasses and the limits they obey;
- :mod:`~tbgpool.config.keys`: which keys each section takes;
- :mod:`~tbgpool.config.jsonload`: reading and strictly decoding the file;
- :mod:`~tbgpool.config.checks` and :mod:`~tbgpool.config.section`: typed value checks;
- :mod:`~tbgpool.config.addresses` and :mod:`~tbgpool.config.listeners`: addresses,
  endpoint strings and the Stratum listeners;
- :mod:`~tbgpool.config.tls`: the ``tls`` section and loading its PEM files;
- :mod:`~tbgpool.config.backends`, :mod:`~tbgpool.config.mining` and
  :mod:`~tbgpool.config.services`: the per-section parsers;
- :mod:`~tbgpool.config.parse`: :func:`parse_config` and :func:`load_config`;
- :mod:`~tbgpool.config.cli`: the ``tbgpool-check-config`` command.

Import the names below from ``tbgpool.config``; the modules are its implementation.
"""

from __future__ import annotations

from tbgpool.config.checks import UNIX_SOCKET_PATH_MAX_BYTES
from tbgpool.config.cli import main
from tbgpool.config.jsonload import MAX_CONFIG_FILE_BYTES
from tbgpool.config.keys import CONFIG_KEYS
from tbgpool.config.listeners import (
    StratumListener,
    metrics_endpoint,
    server_endpoints,
    stratum_listeners,
)
from tbgpool.config.model import (
    BIP34_HEIGHT_PUSH_MAX_BYTES,
    BTCSIG_MAX_BYTES,
    COINBASE_SCRIPTSIG_MAX_BYTES,
    EMBEDDED_NETWORKS,
    EMBEDDED_URL,
    EVENT_TYPES,
    MAX_NETWORK_DIFFICULTY,
    MIN_NETWORK_DIFFICULTY,
    BackendConfig,
    EmbeddedConfig,
    EventsConfig,
    MetricsConfig,
    PoolConfig,
    RateLimitsConfig,
    TLSConfig,
    coinbase_scriptsig_max_bytes,
)
from tbgpool.config.parse import load_config, parse_config
from tbgpool.config.tls import TLSCredentials, load_tls_credentials

__all__ = [
    "BIP34_HEIGHT_PUSH_MAX_BYTES",
    "BTCSIG_MAX_BYTES",
    "COINBASE_SCRIPTSIG_MAX_BYTES",
    "CONFIG_KEYS",
    "EMBEDDED_NETWORKS",
    "EMBEDDED_URL",
    "EVENT_TYPES",
    "MAX_CONFIG_FILE_BYTES",
    "MAX_NETWORK_DIFFICULTY",
    "MIN_NETWORK_DIFFICULTY",
    "UNIX_SOCKET_PATH_MAX_BYTES",
    "BackendConfig",
    "EmbeddedConfig",
    "EventsConfig",
    "MetricsConfig",
    "PoolConfig",
    "RateLimitsConfig",
    "StratumListener",
    "TLSConfig",
    "TLSCredentials",
    "coinbase_scriptsig_max_bytes",
    "load_config",
    "load_tls_credentials",
    "main",
    "parse_config",
    "metrics_endpoint",
    "server_endpoints",
    "stratum_listeners",
]
