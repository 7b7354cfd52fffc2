"""A real ``twistd -n tbgpool`` with events and metrics on: what the operator and the game see."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, protocol, reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, readBody

from tbgpool.difficulty import target_for_difficulty
from tbgpool.events.validate import validate_event
from tbgpool.testing import regtest_addresses
from tests.miner import connect_miner, wait_for
from tests.test_tap import ROOT, _free_port, _Output, _write_config


class Collector(protocol.DatagramProtocol):
    """The game's side of the events socket: keeps every event, in arrival order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.datagrams = 0

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """Split a batch into its events."""
        self.datagrams += 1
        for line in datagram.split(b"\n"):
            if line:
                self.events.append(json.loads(line))

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        """The events of one type."""
        return [e for e in self.events if e["event"] == event_type]


class OperatorViewTests(TestCase):
    """Events reach a collector, /metrics and /health tell the truth, logs land in logdir."""

    timeout = 120

    def test_events_metrics_health_logs(self) -> defer.Deferred[None]:
        """mining through twistd yields schema-valid gap-free events and matching metrics"""

        async def scenario() -> None:
            port, metrics_port = _free_port(), _free_port()
            logdir = os.path.abspath(self.mktemp())
            sockdir = tempfile.mkdtemp(prefix="tbg", dir="/tmp")
            self.addCleanup(shutil.rmtree, sockdir, True)
            socket_path = os.path.join(sockdir, "events.sock")
            collector = Collector()
            listening_port = reactor.listenUNIXDatagram(socket_path, collector)  # type: ignore[attr-defined]
            config = _write_config(
                os.path.abspath(self.mktemp()), btcd=[{"url": "embedded"}], logdir=logdir,
                serverurl=[f"127.0.0.1:{port}"], mindiff=1e-12, startdiff=1e-9,
                embedded={"difficulty": 1e-5},
                events={"enabled": True, "socket_path": socket_path},
                metrics={"enabled": True, "port": metrics_port},
            )
            twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
            output = _Output()
            process = reactor.spawnProcess(
                output, twistd, [twistd, "--pidfile=", "-n", "tbgpool", "--config", config],
                env={**os.environ, "PYTHONPATH": ROOT}, path=ROOT)
            agent = Agent(reactor)

            async def get(path: str) -> tuple[int, bytes]:
                url = f"http://127.0.0.1:{metrics_port}{path}".encode()
                response = await agent.request(b"GET", url)
                return response.code, await readBody(response)

            try:
                await wait_for(reactor, lambda: collector.of_type("new_block_network"),
                               timeout_s=60, step_s=0.1)
                client = await connect_miner(reactor, port)
                address, _ = regtest_addresses()["p2wpkh"]
                job = await client.setup(address + ".rig7", version_mask="1fffe000")
                shares = [client.solve(job, extranonce2=i, version_bits=0x2000 * (i + 1))
                          for i in range(3)]
                for solution in shares:
                    self.assertIs(await client.submit(address + ".rig7", job, solution), True)
                block = client.solve(job, target=target_for_difficulty(1e-5), extranonce2=99)
                self.assertIs(await client.submit(address + ".rig7", job, block), True)
                await wait_for(reactor, lambda: collector.of_type("block_found"), timeout_s=10)
                await wait_for(reactor, lambda: len(collector.of_type("new_block_network")) >= 2,
                               timeout_s=10)
                code, body = await get("/metrics")
                self.assertEqual(code, 200)
                metrics = {s.name: s for f in text_string_to_metric_families(body.decode())
                           for s in f.samples if not s.labels or s.labels.get("valid") == "true"}
                code, health = await get("/health")
                self.assertEqual(code, 200, health)
                client.transport.loseConnection()
                await wait_for(reactor, lambda: collector.of_type("miner_disconnected"),
                               timeout_s=10)
            finally:
                process.signalProcess("TERM")
                await output.ended
                await listening_port.stopListening()

            # Every event is schema-valid, from one instance, numbered without gaps.
            for event in collector.events:
                validate_event(event)
            self.assertEqual({e["instance"] for e in collector.events}, {
                collector.events[0]["instance"]})
            seqs = [e["seq"] for e in collector.events]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
            for event_type in ("miner_connected", "diff_updated", "share_submitted",
                               "share_best_diff", "asicboost_detected", "block_found",
                               "new_block_network", "miner_disconnected"):
                self.assertTrue(collector.of_type(event_type), f"no {event_type} event")
            found = collector.of_type("block_found")[0]["data"]
            self.assertTrue(found["accepted"])
            self.assertEqual((found["user"], found["worker"]), (address, "rig7"))
            tips = collector.of_type("new_block_network")
            self.assertEqual(tips[1]["data"]["hash"], found["hash"])
            self.assertEqual(tips[1]["data"]["height"], found["height"])
            self.assertEqual(len(collector.of_type("share_submitted")), 4)

            # Metrics and health match what happened.
            self.assertEqual(metrics["ckpool_shares_total"].value, 4)
            self.assertEqual(metrics["ckpool_blocks_found_total"].value, 1)
            self.assertEqual(metrics["ckpool_bitcoin_height"].value, found["height"])
            self.assertEqual(metrics["ckpool_bitcoin_connected"].value, 1)
            self.assertEqual(metrics["ckpool_connected_miners"].value, 1)
            self.assertGreater(metrics["ckpool_memory_bytes"].value, 10_000_000)
            self.assertGreaterEqual(metrics["ckpool_events_sent_total"].value, 8)
            self.assertGreaterEqual(metrics["ckpool_event_emit_latency_us_count"].value, 8)
            report = json.loads(health)
            self.assertEqual((report["status"], report["bitcoind_connected"]), ("ok", True))
            self.assertEqual(report["height"], found["height"])

            # The structured log file holds the block, with its fields.
            with open(os.path.join(logdir, "tbgpool.log.json")) as f:
                lines = [json.loads(line) for line in f]
            self.assertTrue(any(line.get("block_hash") == found["hash"] for line in lines))

        return defer.Deferred.fromCoroutine(scenario())
