"""Stratum line framing over StringTransport: replies, ids, errors, and every byte split."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from tbgpool.interfaces import IMinerConnection, ITemplateSource
from tbgpool.stratum.protocol import MAX_LINE_BYTES, StratumFactory, StratumProtocol
from tbgpool.testing import FakeMinerConnection, FakeTemplateSource, make_template
from tests.helpers import REGTEST_P2WPKH, PoolHarness

HARD_BITS = 0x1E00FFFF

SETUP = (
    b'{"id":1,"method":"mining.configure","params":[["version-rolling"],'
    b'{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":2}]}\n'
    b'{"id":"xnsub","method":"mining.subscribe","params":["bitaxe/2.4.1"]}\n'
    b'{"id":3,"method":"mining.authorize","params":["' + REGTEST_P2WPKH.encode() + b'.bitaxe","x"]}\r\n'
    b'{"id":4,"method":"mining.suggest_difficulty","params":[0.001]}\n'
)


class ProtocolTestCase(SynchronousTestCase):
    """A StratumProtocol on a StringTransport, attached to an in-memory pool."""

    def setUp(self) -> None:
        self.logdir = self.mktemp()
        self.fresh_pool()

    def fresh_pool(self) -> None:
        """A new pool (no reconnect memory of earlier connections) with one template."""
        self.harness = PoolHarness(self.logdir)
        self.harness.source.push(make_template(bits=HARD_BITS,
                                               curtime=int(self.harness.clock.seconds())))
        self.factory = StratumFactory(self.harness.pool)

    def connect(self) -> tuple[StratumProtocol, StringTransport]:
        """A connected protocol and its transport."""
        proto = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        assert isinstance(proto, StratumProtocol)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        proto.makeConnection(transport)
        return proto, transport

    def messages(self, transport: StringTransport) -> list[dict[str, Any]]:
        """Everything written so far, decoded line by line."""
        data = transport.value()
        self.assertTrue(data == b"" or data.endswith(b"\n"))
        return [json.loads(line) for line in data.splitlines()]


class InterfaceTests(SynchronousTestCase):
    """The fakes and the protocol provide their interfaces."""

    def test_interfaces(self) -> None:
        """verifyObject on the protocol and the public fakes"""
        self.assertTrue(verifyObject(IMinerConnection, StratumProtocol()))
        self.assertTrue(verifyObject(IMinerConnection, FakeMinerConnection()))
        self.assertTrue(verifyObject(ITemplateSource, FakeTemplateSource()))


class SetupTests(ProtocolTestCase):
    """A pipelined Bitaxe set-up, however it is split across reads."""

    def expected(self) -> list[dict[str, Any]]:
        """The answers to SETUP, fed in one read."""
        proto, transport = self.connect()
        proto.dataReceived(SETUP)
        messages = self.messages(transport)
        proto.connectionLost()
        self.fresh_pool()
        return messages

    def test_replies(self) -> None:
        """every request answered with result and error:null, ids echoed as given"""
        messages = self.expected()
        replies = [m for m in messages if "result" in m]
        self.assertEqual([r["id"] for r in replies], [1, "xnsub", 3, 4])
        for reply in replies:
            self.assertIn("error", reply)
            self.assertIsNone(reply["error"])
        self.assertEqual(replies[0]["result"],
                         {"version-rolling": True, "version-rolling.mask": "1fffe000"})
        notifications = [m["method"] for m in messages if m.get("method")]
        self.assertEqual(notifications,
                         ["mining.set_difficulty", "mining.notify", "mining.set_difficulty"])
        difficulties = [m["params"] for m in messages if m.get("method") == "mining.set_difficulty"]
        self.assertEqual(difficulties, [[1e-06], [0.001]])

    def test_split_at_every_byte(self) -> None:
        """the same answers whatever the read boundaries, at every split point"""
        expected = self.expected()
        for cut in range(1, len(SETUP)):
            self.fresh_pool()
            proto, transport = self.connect()
            proto.dataReceived(SETUP[:cut])
            proto.dataReceived(SETUP[cut:])
            got = self.messages(transport)
            proto.connectionLost()
            # extranonce1 differs per connection; compare everything else
            for message in got + expected:
                if message.get("id") == "xnsub":
                    message["result"][1] = "EN1"
                    message["result"][0] = "SUBS"
                if message.get("method") == "mining.notify":
                    message["params"][2] = "COINB1"
            self.assertEqual(got, expected, f"split at byte {cut}")

    def test_byte_at_a_time(self) -> None:
        """one byte per read works too"""
        proto, transport = self.connect()
        for i in range(len(SETUP)):
            proto.dataReceived(SETUP[i : i + 1])
        self.assertEqual(len([m for m in self.messages(transport) if "result" in m]), 4)


class ErrorTests(ProtocolTestCase):
    """Bad lines get a clear Stratum error, and the connection keeps working."""

    def send(self, proto: StratumProtocol, transport: StringTransport, line: bytes) -> dict[str, Any]:
        """Send one line, return the one reply."""
        transport.clear()
        proto.dataReceived(line + b"\n")
        [reply] = self.messages(transport)
        return reply

    def test_bad_lines(self) -> None:
        """invalid JSON, non-objects, non-UTF-8, bad params: error replies, still connected"""
        proto, transport = self.connect()
        cases = [
            (b"{not json", [20, "Parse error", None]),
            (b"\xff\xfe{}", [20, "Parse error: not UTF-8", None]),
            (b"[1,2,3]", [20, "Invalid request: expected a JSON object", None]),
            (b'{"id":5,"method":7}', [20, "Invalid request: method must be a short string", None]),
            (b'{"id":6,"method":"mining.subscribe","params":{"a":1}}',
             [20, "Invalid request: params must be an array", None]),
            (b'{"id":7,"method":"mining.submit","params":[]}', [25, "Not subscribed", None]),
            (b'{"id":8,"method":"mining.multi_version","params":[1]}', [20, "Method not found", None]),
            (b"[" * 100000 + b"]" * 100000, None),
        ]
        for line, error in cases:
            if len(line) > MAX_LINE_BYTES:
                continue
            reply = self.send(proto, transport, line)
            self.assertEqual(reply["error"], error, line[:40])
            self.assertIsNone(reply["result"])
        self.assertFalse(transport.disconnecting)
        reply = self.send(proto, transport, b'{"id":9,"method":"mining.subscribe","params":[]}')
        self.assertIsNone(reply["error"])

    def test_deep_nesting(self) -> None:
        """deeply nested JSON within the line cap is answered, not a crash"""
        proto, transport = self.connect()
        reply = self.send(proto, transport, b"[" * 8000 + b"]" * 8000)
        self.assertEqual(reply["error"][0], 20)

    def test_responses_and_blank_lines_ignored(self) -> None:
        """a miner's own result messages and blank lines get no answer"""
        proto, transport = self.connect()
        proto.dataReceived(b'{"id":1,"result":true,"error":null}\n\n\r\n   \n')
        self.assertEqual(transport.value(), b"")

    def test_line_too_long(self) -> None:
        """a line over the cap is answered once and the connection closed"""
        proto, transport = self.connect()
        proto.dataReceived(b"x" * (MAX_LINE_BYTES + 10))
        [reply] = self.messages(transport)
        self.assertEqual(reply["error"][1], "Line too long")
        self.assertTrue(transport.disconnecting)

    def test_connection_lost_releases(self) -> None:
        """a closed connection leaves the pool's session set"""
        proto, _ = self.connect()
        proto.dataReceived(SETUP)
        self.assertEqual(len(self.harness.pool.working), 1)
        proto.connectionLost()
        self.assertEqual(len(self.harness.pool.sessions), 0)
        self.assertEqual(len(self.harness.pool.working), 0)
        self.assertEqual(self.harness.pool.extranonces.live, 0)


class MaxClientsTests(SynchronousTestCase):
    """maxclients caps the number of connections."""

    def test_refused_beyond_maxclients(self) -> None:
        """the connection after maxclients gets no session and is reset at once"""
        harness = PoolHarness(self.mktemp(), maxclients=2)
        factory = StratumFactory(harness.pool)
        address = IPv4Address("TCP", "127.0.0.1", 1)
        for _ in range(2):
            proto = factory.buildProtocol(address)
            assert proto is not None
            proto.makeConnection(StringTransport(peerAddress=address))
        refused = factory.buildProtocol(address)
        assert refused is not None
        self.assertNotIsInstance(refused, StratumProtocol)
        transport = StringTransport(peerAddress=address)
        refused.makeConnection(transport)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(harness.pool.sessions), 2)


class BroadcastTests(ProtocolTestCase):
    """New templates reach every working connection."""

    def test_clean_jobs_on_new_block(self) -> None:
        """a new previous hash sends clean_jobs=true; a refresh sends false"""
        proto, transport = self.connect()
        proto.dataReceived(SETUP)
        transport.clear()
        now = int(self.harness.clock.seconds())
        self.harness.source.push(make_template(bits=HARD_BITS, curtime=now + 1))
        self.harness.source.push(make_template(bits=HARD_BITS, previous_block_hash="44" * 32,
                                               height=201, curtime=now + 2))
        notifies = [m["params"] for m in self.messages(transport) if m.get("method") == "mining.notify"]
        self.assertEqual([n[8] for n in notifies], [False, True])

    def test_reissue_when_node_is_silent(self) -> None:
        """without new templates the pool still sends a fresh job every update_interval"""
        proto, transport = self.connect()
        proto.dataReceived(SETUP)
        self.harness.pool.startService()
        self.addCleanup(self.harness.pool.stopService)
        transport.clear()
        self.harness.clock.pump([1.0] * 31)
        notifies = [m["params"] for m in self.messages(transport) if m.get("method") == "mining.notify"]
        self.assertEqual(len(notifies), 1)
        self.assertFalse(notifies[0][8])
        first_ntime = int(make_template(curtime=int(self.harness.clock.seconds()) - 31).curtime)
        self.assertGreater(int(notifies[0][7], 16), first_ntime)


class EveryMethodTests(ProtocolTestCase):
    """Every Stratum method over StringTransport, including a real share split at every byte."""

    def _working(self) -> tuple[StratumProtocol, StringTransport, dict[str, Any]]:
        proto, transport = self.connect()
        proto.dataReceived(SETUP)
        proto.dataReceived(b'{"id":5,"method":"mining.suggest_difficulty","params":[1e-6]}\n')
        messages = self.messages(transport)
        transport.clear()
        state = {
            "extranonce1": next(m for m in messages if m.get("id") == "xnsub")["result"][1],
            "job": [m for m in messages if m.get("method") == "mining.notify"][-1]["params"],
            "difficulty": [m for m in messages
                           if m.get("method") == "mining.set_difficulty"][-1]["params"][0],
        }
        return proto, transport, state

    def _submit_line(self, state: dict[str, Any], request_id: int, extranonce2: str) -> bytes:
        from tbgpool.difficulty import target_for_difficulty
        from tbgpool.testing import StratumJob, mine

        job = StratumJob.from_params(state["job"])
        solution = mine(job, state["extranonce1"], extranonce2,
                        target_for_difficulty(state["difficulty"]), version_bits=0x00002000)
        params = [REGTEST_P2WPKH + ".bitaxe", job.job_id, extranonce2, solution.ntime,
                  solution.nonce, solution.version_bits]
        return json.dumps({"id": request_id, "method": "mining.submit", "params": params}).encode()

    def test_submit_split_at_every_byte(self) -> None:
        """a real version-rolled share is accepted whatever the read boundaries"""
        proto, transport, state = self._working()
        for attempt in range(30):
            line = self._submit_line(state, attempt, f"{attempt:016x}") + b"\n"
            cut = 1 + (attempt * 7) % (len(line) - 1)
            transport.clear()
            proto.dataReceived(line[:cut])
            self.assertEqual(transport.value(), b"")
            proto.dataReceived(line[cut:])
            [reply] = self.messages(transport)
            self.assertEqual(reply, {"id": attempt, "result": True, "error": None})

    def test_submit_errors(self) -> None:
        """duplicate, bad extranonce2 and unknown job answered with 22, 20 and 21"""
        proto, transport, state = self._working()
        line = self._submit_line(state, 10, "00" * 8)
        proto.dataReceived(line + b"\n" + line.replace(b'"id": 10', b'"id": 11') + b"\n")
        replies = self.messages(transport)
        self.assertEqual([r["result"] for r in replies], [True, None])
        self.assertEqual(replies[1]["error"][0], 22)
        transport.clear()
        short = line.replace(b'"0000000000000000"', b'"00000000"')
        unknown = line.replace(json.dumps(state["job"][0]).encode(), b'"fffffffe"')
        proto.dataReceived(short + b"\n" + unknown + b"\n")
        self.assertEqual([r["error"][0] for r in self.messages(transport)], [20, 21])

    def test_other_methods(self) -> None:
        """suggest_target, extranonce.subscribe and a repeated authorize over the wire"""
        from tbgpool.difficulty import target_for_difficulty

        proto, transport, _ = self._working()
        lines = [
            {"id": 20, "method": "mining.suggest_target",
             "params": [f"{target_for_difficulty(0.002):064x}"]},
            {"id": 21, "method": "mining.extranonce.subscribe", "params": []},
            {"id": 22, "method": "mining.authorize", "params": [REGTEST_P2WPKH + ".bitaxe", "x"]},
        ]
        proto.dataReceived(b"".join(json.dumps(m).encode() + b"\n" for m in lines))
        messages = self.messages(transport)
        replies = {m["id"]: m for m in messages if "result" in m}
        self.assertEqual({i: replies[i]["result"] for i in (20, 21, 22)},
                         {20: True, 21: True, 22: True})
        difficulties = [m["params"][0] for m in messages if m.get("method") == "mining.set_difficulty"]
        self.assertAlmostEqual(difficulties[-1], 0.002)
