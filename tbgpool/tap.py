"""twistd wiring: options, then the objects of the pool joined into one MultiService.

No logic lives here: every decision is made by the modules this file connects.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from prometheus_client import CollectorRegistry
from twisted.application import service, strports
from twisted.python import usage

from tbgpool.bitcoind.rpc import BitcoindRPC
from tbgpool.bitcoind.rpcserver import make_rpc_site
from tbgpool.bitcoind.source import BitcoindTemplateSource
from tbgpool.bitcoind.zmtp import HashblockSubscriber
from tbgpool.blocks import BlockSubmitter
from tbgpool.chain.embedded import EmbeddedChain, difficulty_to_bits
from tbgpool.chain.service import EmbeddedChainService
from tbgpool.config import PoolConfig, load_config, metrics_endpoint
from tbgpool.errors import ConfigError
from tbgpool.events.emitter import EventEmitter
from tbgpool.interfaces import IBitcoinRPC, IEventSink
from tbgpool.lifecycle import CloseOnStop, FreezeStartupObjects
from tbgpool.logfile import LogFileService
from tbgpool.metrics import HealthResource, PoolCollector, PoolInstruments, make_metrics_site
from tbgpool.pool import Pool
from tbgpool.pool_events import NoEvents, instance_id
from tbgpool.stats import StatsBook
from tbgpool.stratum.endpoints import listener_services
from tbgpool.stratum.listeners import StratumListeners
from tbgpool.stratum.protocol import StratumFactory

REGTEST_BITS = 0x207FFFFF


class Options(usage.Options):
    """``--config FILE``: the pool's JSON configuration."""

    optParameters = [["config", "c", None, "Path to the JSON configuration file."]]

    def postOptions(self) -> None:
        """Load and check the configuration now, so a bad one stops twistd with its reason."""
        if not self["config"]:
            raise usage.UsageError("--config FILE is required")
        try:
            self["pool_config"] = load_config(self["config"])
        except ConfigError as e:
            raise usage.UsageError(str(e)) from e


def _backends(reactor: Any, config: PoolConfig, top: service.MultiService) -> list[IBitcoinRPC]:
    backends: list[IBitcoinRPC] = []
    for backend in config.btcd:
        if backend.url == "embedded":
            embedded = config.embedded
            bits = difficulty_to_bits(embedded.difficulty) if embedded.difficulty else REGTEST_BITS
            chain = EmbeddedChain(
                reactor,
                network=embedded.network,
                bits=bits,
                block_interval_s=embedded.block_interval_s,
                seed=embedded.seed,
            )
            EmbeddedChainService(chain).setServiceParent(top)
            if embedded.rpc_port is not None:
                strports.service(
                    f"tcp:{embedded.rpc_port}:interface=127.0.0.1",
                    make_rpc_site(chain, backend.user, backend.password),
                ).setServiceParent(top)
            backends.append(chain)
        else:
            backends.append(
                BitcoindRPC(
                    reactor,
                    backend.url,
                    user=backend.user,
                    password=backend.password,
                    cookie_path=backend.cookie,
                    timeout_s=backend.timeout_s,
                )
            )
    return backends


def build_service(reactor: Any, config: PoolConfig) -> service.MultiService:
    """Every part of the pool, wired together, as one MultiService."""
    top = service.MultiService()
    logfile = LogFileService(reactor, config.logdir)
    logfile.setServiceParent(top)
    registry = CollectorRegistry()
    instruments = PoolInstruments(registry)
    emitter: EventEmitter | None = None
    events: IEventSink = NoEvents()
    if config.events.enabled:
        emitter = EventEmitter(
            reactor,
            config.events.socket_path,
            config.events.include,
            instance_id(socket.gethostname(), os.getpid(), os.urandom(4)),
            observe_latency_us=instruments.event_emit_latency_us.observe,
        )
        events = emitter
    source = BitcoindTemplateSource(
        reactor,
        _backends(reactor, config, top),
        update_interval_s=config.update_interval_s,
        blockpoll_s=config.blockpoll_ms / 1000.0,
    )
    stats = StatsBook(reactor, os.path.join(config.logdir, "users"))
    submitter = BlockSubmitter(reactor, source, os.path.join(config.logdir, "blocks"))
    pool = Pool(
        reactor, config, source, stats, submitter,
        extranonce_start=int.from_bytes(os.urandom(8), "big"),
        # Job ids differ across restarts, so a share for a pre-restart job is "not found".
        first_job_id=int.from_bytes(os.urandom(4), "big"),
        instruments=instruments,
        events=events,
    )
    if emitter is not None:
        # Stopped after the pool (services stop in reverse order): its last events go out.
        CloseOnStop(emitter.close).setServiceParent(top)
    registry.register(PoolCollector(pool, source, emitter, lambda: logfile.write_failures))
    if config.metrics.enabled:
        site = make_metrics_site(
            registry, config.metrics.path, HealthResource(pool, lambda: source.connected)
        )
        strports.service(metrics_endpoint(config), site).setServiceParent(top)
    source.addConsumer(pool)
    pool.setServiceParent(top)
    source.setServiceParent(top)
    if config.zmqblock:
        HashblockSubscriber(reactor, config.zmqblock, source.blockNotified).setServiceParent(top)
    factory = StratumFactory(pool)
    listeners = StratumListeners(pool)
    for listener in listener_services(reactor, config, factory, pool.limit_log.hit):
        listener.setServiceParent(listeners)
    listeners.setServiceParent(top)
    FreezeStartupObjects().setServiceParent(top)
    return top


def makeService(options: Options) -> service.MultiService:
    """twistd entry point."""
    from twisted.internet import reactor

    return build_service(reactor, options["pool_config"])
