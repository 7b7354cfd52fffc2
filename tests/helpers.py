"""Building a pool in memory for tests: a fake node, fake connections, a task.Clock."""

from __future__ import annotations

import json
import os
from typing import Any

from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock

from tbgpool.blocks import BlockSubmitter
from tbgpool.config import PoolConfig, parse_config
from tbgpool.metrics.instruments import PoolInstruments
from tbgpool.pool import Pool
from tbgpool.stats import StatsBook
from tbgpool.stratum.session import StratumSession
from tbgpool.testing import (
    FakeMinerConnection,
    FakeTemplateSource,
    RecordingEventSink,
    StratumJob,
)

#: Regtest addresses of each type (BIP173/BIP350 style, valid checksums) and their scripts.
REGTEST_P2WPKH = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
REGTEST_P2WPKH_SCRIPT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")


def pool_config(logdir: str, **overrides: Any) -> PoolConfig:
    """A valid config for in-memory pools, with low difficulties."""
    raw: dict[str, Any] = {
        "btcd": [{"url": "embedded"}],
        "logdir": logdir,
        "mindiff": 1e-9,
        "startdiff": 1e-6,
        "update_interval": 30,
    }
    raw.update(overrides)
    return parse_config(json.loads(json.dumps(raw)))


class PoolHarness:
    """A pool on a task.Clock with a fake template source."""

    def __init__(self, logdir: str, **overrides: Any) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.source = FakeTemplateSource()
        self.config = pool_config(logdir, **overrides)
        self.stats = StatsBook(self.clock, os.path.join(logdir, "users"))
        self.submitter = BlockSubmitter(self.clock, self.source, os.path.join(logdir, "blocks"))
        self.registry = CollectorRegistry()
        self.events = RecordingEventSink()
        self.pool = Pool(
            self.clock, self.config, self.source, self.stats, self.submitter,
            instruments=PoolInstruments(self.registry), events=self.events,
        )
        self.source.addConsumer(self.pool)

    def connect(self) -> tuple[StratumSession, FakeMinerConnection]:
        """A new miner connection and its session."""
        connection = FakeMinerConnection()
        return self.pool.new_session(connection), connection

    def request(self, session: StratumSession, method: str, *params: Any) -> Any:
        """Run one request as the protocol does (handle, then replied)."""
        try:
            return session.handle(method, list(params))
        finally:
            session.replied()

    def working_session(
        self, username: str = REGTEST_P2WPKH, configure_mask: str | None = None
    ) -> tuple[StratumSession, FakeMinerConnection, str, int]:
        """A subscribed and authorized session: (session, connection, extranonce1, en2 size)."""
        session, connection = self.connect()
        if configure_mask is not None:
            self.request(session, "mining.configure", ["version-rolling"],
                         {"version-rolling.mask": configure_mask})
        _, extranonce1, size = self.request(session, "mining.subscribe", "test/1.0")
        self.request(session, "mining.authorize", username, "x")
        return session, connection, extranonce1, size


def last_job(connection: FakeMinerConnection) -> StratumJob:
    """The newest job the miner was sent."""
    return StratumJob.from_params(connection.notifications("mining.notify")[-1])


def last_difficulty(connection: FakeMinerConnection) -> float:
    """The newest difficulty the miner was sent."""
    value: float = connection.notifications("mining.set_difficulty")[-1][0]
    return value
