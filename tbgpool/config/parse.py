"""The entry points: a decoded document or a file in, a validated PoolConfig out."""

from __future__ import annotations

from tbgpool.config.addresses import check_zmq_url
from tbgpool.config.backends import parse_backends, parse_embedded
from tbgpool.config.checks import check_file_path, number_text, show
from tbgpool.config.jsonload import decode_json, read_config_text
from tbgpool.config.keys import TOP_KEYS
from tbgpool.config.listeners import Bind, check_no_conflicts, parse_serverurl
from tbgpool.config.mining import (
    parse_btcsig,
    parse_difficulties,
    parse_vardiff,
    parse_version_mask,
)
from tbgpool.config.model import (
    COINBASE_SCRIPTSIG_MAX_BYTES,
    PoolConfig,
    coinbase_scriptsig_max_bytes,
)
from tbgpool.config.section import Section
from tbgpool.config.services import parse_events, parse_metrics, parse_networks, parse_rate_limits
from tbgpool.config.tls import parse_tls
from tbgpool.errors import ConfigError


def parse_config(raw: object) -> PoolConfig:
    """Validate a decoded JSON document and build the PoolConfig; ConfigError if invalid."""
    top = Section(raw, "", TOP_KEYS)
    btcd = parse_backends(top)
    uses_embedded = btcd[0].is_embedded
    embedded = parse_embedded(top, uses_embedded)
    btcsig = parse_btcsig(top)
    serverurl, binds = parse_serverurl(top)
    mindiff, startdiff, maxdiff = parse_difficulties(top)
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
        check_zmq_url(zmqblock, "zmqblock")
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
            f"got {number_text(donation)}",
        )
    metrics = parse_metrics(top)
    if metrics.enabled:
        binds.append(("metrics.port", Bind("tcp", metrics.bind, metrics.port)))
    if embedded.rpc_port is not None:
        binds.append(("embedded.rpc_port", Bind("tcp", "127.0.0.1", embedded.rpc_port)))
    check_no_conflicts(binds)
    tls = parse_tls(top, serverurl)
    return PoolConfig(
        btcd=btcd,
        embedded=embedded,
        btcsig=btcsig,
        blockpoll_ms=top.integer("blockpoll", 100, 10, 60000),
        serverurl=serverurl,
        update_interval_s=top.number("update_interval", 30.0, 1, 600),
        version_mask=parse_version_mask(top),
        mindiff=mindiff,
        startdiff=startdiff,
        maxdiff=maxdiff,
        nonce1length=nonce1length,
        nonce2length=nonce2length,
        logdir=check_file_path(top.string("logdir", "logs"), "logdir"),
        zmqblock=zmqblock,
        maxclients=maxclients,
        donation=donation,
        vardiff=parse_vardiff(top, mindiff, startdiff, maxdiff),
        events=parse_events(top),
        metrics=metrics,
        rate_limits=parse_rate_limits(top),
        trusted_proxies=parse_networks(top.array("trusted_proxies") or [], "trusted_proxies"),
        tls=tls,
    )


def load_config(path: str) -> PoolConfig:
    """Read, decode and validate the JSON configuration file at ``path``."""
    shown = show(path, 200)
    return parse_config(decode_json(read_config_text(path, shown), shown))
