"""The twistd plugin, its options, the wiring, and a real ``twistd -n tbgpool`` process."""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any

from twisted.application.service import IServiceMaker, MultiService
from twisted.internet import defer, protocol, reactor
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import IPlugin, getPlugins
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tbgpool import tap
from tbgpool.bitcoind.source import BitcoindTemplateSource
from tbgpool.pool import Pool
from tbgpool.stratum.listeners import StratumListeners
from tbgpool.testing import regtest_addresses
from tests.miner import connect_miner, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _write_config(path: str, **config: Any) -> str:
    with open(path, "w") as f:
        json.dump(config, f)
    return path


class PluginTests(SynchronousTestCase):
    """twistd finds the plugin and its options check the config."""

    def test_plugin_found(self) -> None:
        """getPlugins finds a 'tbgpool' IServiceMaker pointing at tbgpool.tap"""
        import twisted.plugins

        makers = [p for p in getPlugins(IServiceMaker, twisted.plugins) if p.tapname == "tbgpool"]
        self.assertEqual(len(makers), 1)
        self.assertTrue(IPlugin.providedBy(makers[0]))
        self.assertIs(makers[0].options, tap.Options)

    def test_config_required(self) -> None:
        """without --config the options refuse to parse"""
        self.assertRaises(usage.UsageError, tap.Options().parseOptions, [])

    def test_bad_config_names_key(self) -> None:
        """an invalid config stops twistd with the offending key named"""
        path = _write_config(self.mktemp(), btcd=[{"url": "embedded"}], mindiff="low")
        error = self.assertRaises(usage.UsageError, tap.Options().parseOptions, ["--config", path])
        self.assertIn("mindiff", str(error))
        path = _write_config(self.mktemp(), btcd=[{"url": "embedded"}], blockpol=100)
        error = self.assertRaises(usage.UsageError, tap.Options().parseOptions, ["--config", path])
        self.assertIn("blockpol", str(error))

    def test_dev_config_loads(self) -> None:
        """make run's config is valid"""
        options = tap.Options()
        options.parseOptions(["--config", os.path.join(ROOT, "etc", "tbgpool-dev.json")])
        self.assertTrue(options["pool_config"].uses_embedded_chain)


class WiringTests(SynchronousTestCase):
    """makeService only builds and joins objects."""

    def test_services(self) -> None:
        """pool, template source, embedded chain and one listener per serverurl entry"""
        logdir = self.mktemp()
        path = _write_config(self.mktemp(), btcd=[{"url": "embedded"}], logdir=logdir,
                             serverurl=["127.0.0.1:0", "tcp:0:interface=127.0.0.1"])
        options = tap.Options()
        options.parseOptions(["--config", path])
        top = tap.build_service(MemoryReactorClock(), options["pool_config"])
        self.assertIsInstance(top, MultiService)
        kinds = [type(s).__name__ for s in top]
        [listeners] = [s for s in top if isinstance(s, StratumListeners)]
        self.assertEqual([type(s).__name__ for s in listeners], ["StreamServerEndpointService"] * 2)
        self.assertEqual(sum(isinstance(s, Pool) for s in top), 1)
        self.assertEqual(sum(isinstance(s, BitcoindTemplateSource) for s in top), 1)
        self.assertIn("EmbeddedChainService", kinds)
        self.assertTrue(os.path.isdir(os.path.join(logdir, "blocks")))

    def test_bitcoind_backends(self) -> None:
        """btcd entries become RPC clients tried in order, with ZMQ when zmqblock is set"""
        path = _write_config(
            self.mktemp(), logdir=self.mktemp(), zmqblock="tcp://127.0.0.1:28332",
            btcd=[{"url": "127.0.0.1:18443", "auth": "u", "pass": "p"},
                  {"url": "127.0.0.1:18444", "cookie": "/nonexistent/.cookie"}])
        options = tap.Options()
        options.parseOptions(["--config", path])
        top = tap.build_service(MemoryReactorClock(), options["pool_config"])
        [source] = [s for s in top if isinstance(s, BitcoindTemplateSource)]
        self.assertEqual(source.backend.name, "127.0.0.1:18443")
        self.assertIn("HashblockSubscriber", [type(s).__name__ for s in top])


class _Output(protocol.ProcessProtocol):
    def __init__(self) -> None:
        self.output = b""
        self.ended: defer.Deferred[None] = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason: Any) -> None:
        self.ended.callback(None)


class TwistdProcessTests(TestCase):
    """``twistd -n tbgpool --config FILE`` serves Stratum and mines real blocks."""

    timeout = 120

    def test_twistd_mines_a_block(self) -> defer.Deferred[None]:
        """a real twistd process on the embedded chain accepts a block and records it on disk"""

        async def scenario() -> None:
            port = _free_port()
            logdir = os.path.abspath(self.mktemp())
            config = _write_config(os.path.abspath(self.mktemp()), btcd=[{"url": "embedded"}],
                                   logdir=logdir, serverurl=[f"127.0.0.1:{port}"],
                                   mindiff=1e-12, startdiff=1e-9)
            twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
            output = _Output()
            process = reactor.spawnProcess(
                output, twistd, [twistd, "--pidfile=", "-n", "tbgpool", "--config", config],
                env={**os.environ, "PYTHONPATH": ROOT}, path=ROOT)
            try:
                def listening() -> bool:
                    with socket.socket() as s:
                        return s.connect_ex(("127.0.0.1", port)) == 0

                await wait_for(reactor, listening, timeout_s=60, step_s=0.1)
                client = await connect_miner(reactor, port)
                address, script = regtest_addresses()["p2wpkh"]
                job = await client.setup(address)
                solution = client.solve(job, target=0x7FFFFF << (8 * 29))
                self.assertIs(await client.submit(address, job, solution), True)
                client.transport.loseConnection()
                blocks = os.path.join(logdir, "blocks")
                await wait_for(reactor, lambda: any(
                    json.load(open(os.path.join(blocks, n))).get("status") == "accepted"
                    for n in os.listdir(blocks) if n.endswith(".json")), timeout_s=10)
            finally:
                process.signalProcess("TERM")
                await output.ended
            self.assertIn(b"SHA-256 implementation", output.output)
            self.assertIn(b"BLOCK ACCEPTED", output.output)
            users = os.listdir(os.path.join(logdir, "users"))
            self.assertEqual(users, [f"{address}.json"])

        return defer.Deferred.fromCoroutine(scenario())
