"""The key vocabulary: which keys each section takes, and what to say about any other."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: The keys each section takes; CONFIG_KEYS below maps the section names to them.
TOP_KEYS = (
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
    "trusted_proxies",
    "tls",
)
BACKEND_KEYS = ("url", "auth", "pass", "cookie", "notify", "timeout")
EMBEDDED_KEYS = ("network", "difficulty", "block_interval", "rpc_port", "seed")
VARDIFF_KEYS = (
    "enabled",
    "target_share_interval",
    "retarget_interval",
    "ema_alpha",
    "dampening",
    "dead_band_percent",
    "reconnect_memory_ttl",
)
EVENTS_KEYS = ("enabled", "socket_path", "include")
METRICS_KEYS = ("enabled", "port", "path", "bind")
RATE_LIMIT_COUNT_KEYS = (
    "connections_per_ip_per_minute",
    "max_connections_per_ip",
    "subscribes_per_minute",
    "authorizes_per_minute",
    "max_shares_per_minute",
    "max_invalid_shares_per_minute",
)
RATE_LIMIT_TIME_KEYS = (
    "submit_ban",
    "subscribe_timeout",
    "authorize_timeout",
    "idle_timeout",
    "slow_reader_timeout",
)
RATE_LIMITS_KEYS = (*RATE_LIMIT_COUNT_KEYS, *RATE_LIMIT_TIME_KEYS, "exempt")
TLS_KEYS = ("certificate", "private_key", "handshake_timeout")

#: Every key the parser knows, by section (``btcd[]`` is each entry of ``btcd``).
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "": TOP_KEYS,
    "btcd[]": BACKEND_KEYS,
    "embedded": EMBEDDED_KEYS,
    "vardiff": VARDIFF_KEYS,
    "events": EVENTS_KEYS,
    "metrics": METRICS_KEYS,
    "rate_limits": RATE_LIMITS_KEYS,
    "tls": TLS_KEYS,
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


def unknown_key_detail(key: str, known: Iterable[str]) -> str:
    """'unknown key', with a ckpool migration note or a close spelling when there is one."""
    if key in _CKPOOL_ONLY_KEYS:
        return f"unknown key (ckpool's {key!r} is not used: {_CKPOOL_ONLY_KEYS[key]})"
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return "unknown key"
