"""Hostile clients over real TCP: each gets an error or is cut off, and other miners are served.

Every test ends by checking that a well-behaved miner on another connection (from
another loopback address, so per-IP limits do not touch it) still completes its
set-up and has a real share accepted.
"""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IListeningPort
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tbgpool.bitcoind.source import BitcoindTemplateSource
from tbgpool.blocks import BlockSubmitter
from tbgpool.chain.embedded import EmbeddedChain, difficulty_to_bits
from tbgpool.pool import Pool
from tbgpool.stats import StatsBook
from tbgpool.stratum.protocol import MAX_LINE_BYTES, StratumFactory
from tbgpool.testing import regtest_addresses
from tests.helpers import pool_config
from tests.miner import MinerClient, StratumRequestError, wait_for

GOOD_MINER_HOST = "127.0.0.9"
HOSTILE_HOST = "127.0.0.5"


class RawClient(protocol.Protocol):
    """Sends whatever it is told; keeps what comes back and how the connection ended."""

    def __init__(self) -> None:
        self.received = b""
        self.closed: defer.Deferred[None] = defer.Deferred()
        self.reason: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        """Keep it."""
        self.received += data

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        """Remember why."""
        self.reason = reason
        if not self.closed.called:
            self.closed.callback(None)

    def replies(self) -> list[dict[str, Any]]:
        """Every JSON line received."""
        return [json.loads(line) for line in self.received.split(b"\n") if line.strip()]

    def errors(self) -> list[Any]:
        """The error member of every reply."""
        return [reply.get("error") for reply in self.replies()]


class HostileTestCase(TestCase):
    """The real pool on the embedded chain, with tight limits, listening on 127.0.0.1."""

    timeout = 60

    rate_limits: dict[str, Any] = {
        "connections_per_ip_per_minute": 10,
        "max_connections_per_ip": 5,
        "subscribes_per_minute": 3,
        "authorizes_per_minute": 5,
        "max_shares_per_minute": 50,
        "max_invalid_shares_per_minute": 20,
        "subscribe_timeout": 1,
        "authorize_timeout": 2,
        "slow_reader_timeout": 1,
    }

    async def _start(self) -> None:
        logdir = self.mktemp()
        # Network difficulty 1e-4: shares at 1e-9 are (almost) never blocks.
        self.chain = EmbeddedChain(reactor, bits=difficulty_to_bits(1e-4), seed=3)
        # Fixed share difficulty: a flood must not push vardiff up to the network's.
        self.config = pool_config(logdir, mindiff=1e-12, startdiff=1e-9,
                                  vardiff={"enabled": False}, rate_limits=self.rate_limits)
        self.source = BitcoindTemplateSource(reactor, [self.chain], update_interval_s=30,
                                             blockpoll_s=0.05)
        self.stats = StatsBook(reactor, os.path.join(logdir, "users"))
        self.submitter = BlockSubmitter(reactor, self.source, os.path.join(logdir, "blocks"))
        self.pool = Pool(reactor, self.config, self.source, self.stats, self.submitter)
        self.source.addConsumer(self.pool)
        self.pool.startService()
        self.source.startService()
        self.listener: IListeningPort = reactor.listenTCP(  # type: ignore[attr-defined]
            0, StratumFactory(self.pool), interface="0.0.0.0")
        self.port = self.listener.getHost().port
        self.connections: list[protocol.Protocol] = []
        await self.pool.whenReady()

    def setUp(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._start())

    async def _stop(self) -> None:
        for client in self.connections:
            if client.transport is not None:
                client.transport.abortConnection()  # type: ignore[attr-defined]
        await self.listener.stopListening()
        await defer.maybeDeferred(self.source.stopService)
        await defer.maybeDeferred(self.pool.stopService)
        await wait_for(reactor, lambda: not self.pool.sessions, timeout_s=5)

    def tearDown(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._stop())

    async def raw(self, host: str = HOSTILE_HOST) -> RawClient:
        """A raw connection from ``host`` (a loopback address)."""
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port, bindAddress=(host, 0))
        client = RawClient()
        try:
            await connectProtocol(endpoint, client)
        except Exception as e:  # reset before the connection was even reported as made
            client.connectionLost(Failure(e))
        self.connections.append(client)
        return client

    async def send_lines(self, client: RawClient, *lines: bytes) -> None:
        """Send lines and wait for as many replies (or the connection to end)."""
        before = len(client.replies())
        if client.closed.called:
            return
        assert client.transport is not None
        client.transport.write(b"".join(line + b"\n" for line in lines))
        await wait_for(reactor, lambda: len(client.replies()) >= before + len(lines)
                       or client.closed.called, timeout_s=10)

    async def assert_good_miner_served(self) -> None:
        """A well-behaved miner from another address sets up and has a share accepted."""
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port,
                                      bindAddress=(GOOD_MINER_HOST, 0))
        miner: MinerClient = await connectProtocol(endpoint, MinerClient())
        self.connections.append(miner)
        address, _ = regtest_addresses()["p2wpkh"]
        job = await miner.setup(address + ".good")
        self.assertIs(await miner.submit(address + ".good", job, miner.solve(job)), True)

    async def assert_closed(self, client: RawClient) -> None:
        """The pool closed (or reset) the connection."""
        await wait_for(reactor, lambda: client.closed.called, timeout_s=10)


def _run(coroutine: Any) -> defer.Deferred[Any]:
    return defer.Deferred.fromCoroutine(coroutine)


class OversizedLineTests(HostileTestCase):
    """A line over the cap is answered once, then the connection closes."""

    def test_oversized_line(self) -> defer.Deferred[None]:
        """a 20 KiB line without a newline: "Line too long" and a disconnect"""
        async def scenario() -> None:
            client = await self.raw()
            assert client.transport is not None
            client.transport.write(b'{"id":1,"method":"mining.subscribe","params":["' +
                                   b"A" * (MAX_LINE_BYTES + 4096))
            await self.assert_closed(client)
            self.assertEqual(client.errors(), [[20, "Line too long", None]])
            await self.assert_good_miner_served()
        return _run(scenario())


class SlowlorisTests(HostileTestCase):
    """Connections that never finish set-up are closed at each stage."""

    def test_silent_connection(self) -> defer.Deferred[None]:
        """a connection that sends half a line and nothing more is closed (subscribe_timeout)"""
        async def scenario() -> None:
            client = await self.raw()
            assert client.transport is not None
            client.transport.write(b'{"id":1,"meth')
            await self.assert_closed(client)
            self.assertEqual(client.received, b"")
            await self.assert_good_miner_served()
        return _run(scenario())

    def test_subscribed_never_authorizes(self) -> defer.Deferred[None]:
        """subscribed but never authorized: closed at authorize_timeout"""
        async def scenario() -> None:
            client = await self.raw()
            await self.send_lines(client, b'{"id":1,"method":"mining.subscribe","params":[]}')
            self.assertIsNone(client.replies()[0]["error"])
            await self.assert_closed(client)
            await self.assert_good_miner_served()
        return _run(scenario())


class ConnectionFloodTests(HostileTestCase):
    """One address opening connections fast, or too many at once, is reset."""

    def test_flood_from_one_address(self) -> defer.Deferred[None]:
        """beyond 5 concurrent connections from one IP, new ones are reset; others unaffected"""
        async def scenario() -> None:
            clients = [await self.raw() for _ in range(12)]
            await wait_for(reactor, lambda: sum(c.closed.called for c in clients) >= 7,
                           timeout_s=10)
            open_ones = [c for c in clients if not c.closed.called]
            self.assertEqual(len(open_ones), 5)
            self.assertEqual(self.pool.gate.active(HOSTILE_HOST), 5)
            await self.assert_good_miner_served()
        return _run(scenario())

    def test_rate_per_minute(self) -> defer.Deferred[None]:
        """connect-and-close 15 times: the 11th and later are reset (10 a minute)"""
        async def scenario() -> None:
            results = []
            for _ in range(15):
                client = await self.raw()
                await self.send_lines(client, b'{"id":1,"method":"mining.subscribe","params":[]}')
                results.append(bool(client.replies()))
                assert client.transport is not None
                client.transport.loseConnection()
                await client.closed
            self.assertEqual(results, [True] * 10 + [False] * 5)
            await self.assert_good_miner_served()
        return _run(scenario())


class JunkShareTests(HostileTestCase):
    """Floods of bad shares end in a disconnect; floods of submits in a soft ban."""

    async def authorized(self) -> RawClient:
        client = await self.raw()
        address, _ = regtest_addresses()["p2wpkh"]
        await self.send_lines(
            client,
            b'{"id":1,"method":"mining.subscribe","params":["junk/1.0"]}',
            json.dumps({"id": 2, "method": "mining.authorize",
                        "params": [address + ".junk", "x"]}).encode(),
        )
        return client

    def test_invalid_share_flood(self) -> defer.Deferred[None]:
        """each junk share is rejected; past 20 a minute the connection is closed"""
        async def scenario() -> None:
            client = await self.authorized()
            address, _ = regtest_addresses()["p2wpkh"]
            lines = [json.dumps({"id": 10 + i, "method": "mining.submit", "params": [
                address + ".junk", "deadbeef", "00" * 8, "6553f100", f"{i:08x}"]}).encode()
                for i in range(40)]
            assert client.transport is not None
            client.transport.write(b"\n".join(lines) + b"\n")
            await self.assert_closed(client)
            submits = [r for r in client.replies() if isinstance(r.get("id"), int)
                       and r["id"] >= 10]
            self.assertEqual(len(submits), 21)
            self.assertTrue(all(r["result"] is None and r["error"] for r in submits))
            self.assertEqual(self.stats.user(address).shares_accepted, 0)  # type: ignore[union-attr]
            await self.assert_good_miner_served()
        return _run(scenario())

    def test_submit_flood_soft_ban(self) -> defer.Deferred[None]:
        """past 50 submits a minute, even valid ones are refused as rate limited, no disconnect"""
        async def scenario() -> None:
            endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port,
                                          bindAddress=(HOSTILE_HOST, 0))
            miner: MinerClient = await connectProtocol(endpoint, MinerClient())
            self.connections.append(miner)
            address, _ = regtest_addresses()["p2wpkh"]
            job = await miner.setup(address + ".flood")
            results = []
            for i in range(55):
                try:
                    results.append(await miner.submit(address + ".flood", job,
                                                      miner.solve(job, extranonce2=i)))
                except StratumRequestError as e:
                    results.append(e.message)
            self.assertEqual(results[:50], [True] * 50)
            self.assertTrue(all(str(r).startswith("Rate limited") for r in results[50:]),
                            results[50:])
            self.assertEqual(self.stats.user(address).shares_accepted, 50)  # type: ignore[union-attr]
            await self.assert_good_miner_served()
        return _run(scenario())


class MalformedJSONTests(HostileTestCase):
    """Hostile JSON gets a clear error; too much of it closes the connection."""

    LINES = (
        b'{"id":1,"method":"mining.subscribe","params":[NaN]}',
        b'{"id":2,"method":"mining.subscribe","params":[Infinity]}',
        b'{"id":3,"id":4,"method":"mining.subscribe","params":[]}',
        b'{"id":5,"method":"mining.subscribe","params":["\\ud800"]}',
        b"[" * 5000 + b"]" * 5000,
        b'{"id":6,"method":"mining.subscribe","params":[' + b"9" * 5000 + b"]}",
        b"\xff\xfe\xfd",
        b'{"id":{"a":[1,2,3]},"method":"mining.subscribe","params":[]}',
        b'{"id":7,"method":"mining.subscribe","params":"nope"}',
    )

    def test_each_gets_an_error(self) -> defer.Deferred[None]:
        """NaN, Infinity, duplicate keys, lone surrogates, deep nesting, huge numbers, bad UTF-8,
        bad id and params types: each answered with an error, the connection kept"""
        async def scenario() -> None:
            client = await self.raw()
            await self.send_lines(client, *self.LINES)
            replies = client.replies()
            self.assertEqual(len(replies), len(self.LINES))
            for reply in replies:
                self.assertIsNone(reply["result"])
                self.assertEqual(reply["error"][0], 20)
            self.assertFalse(client.closed.called)
            await self.assert_good_miner_served()
        return _run(scenario())

    def test_too_much_junk_disconnects(self) -> defer.Deferred[None]:
        """more than 10 malformed lines a minute close the connection"""
        async def scenario() -> None:
            client = await self.raw()
            assert client.transport is not None
            client.transport.write(b"garbage\n" * 30)
            await self.assert_closed(client)
            self.assertEqual(len(client.replies()), 11)
            await self.assert_good_miner_served()
        return _run(scenario())

    def test_http_and_tls_on_the_plain_port(self) -> defer.Deferred[None]:
        """an HTTP request gets a 400 and a close; a TLS ClientHello is cut off"""
        async def scenario() -> None:
            http = await self.raw()
            assert http.transport is not None
            http.transport.write(b"GET / HTTP/1.1\r\nHost: pool\r\n\r\n")
            await self.assert_closed(http)
            self.assertTrue(http.received.startswith(b"HTTP/1.1 400 Bad Request"))
            tls = await self.raw()
            assert tls.transport is not None
            tls.transport.write(bytes.fromhex("16030100a5010000a10303") + os.urandom(32))
            await self.assert_closed(tls)
            self.assertEqual(tls.received, b"")
            await self.assert_good_miner_served()
        return _run(scenario())


class HostileNameTests(HostileTestCase):
    """Worker names and user agents outside their character sets."""

    def test_names(self) -> defer.Deferred[None]:
        """bad worker names are refused by name; a hostile user agent is cleaned, not echoed"""
        async def scenario() -> None:
            client = await self.raw()
            address, _ = regtest_addresses()["p2wpkh"]
            agent = "evil\x1b[31m{format}\n" + "x" * 2000
            names = [address + ".{worker}", address + ".a b", address + ".\u202e", address + "." +
                     "w" * 200, address + ".ok\x00"]
            await self.send_lines(
                client,
                json.dumps({"id": 1, "method": "mining.subscribe", "params": [agent]}).encode(),
                *[json.dumps({"id": 2 + i, "method": "mining.authorize",
                              "params": [name, "x"]}).encode() for i, name in enumerate(names)],
            )
            replies = client.replies()
            self.assertIsNone(replies[0]["error"])
            for reply in replies[1:]:
                self.assertIsNone(reply["result"])
                self.assertIsNotNone(reply["error"])
            [session] = [s for s in self.pool.sessions if s.ip == HOSTILE_HOST]
            self.assertTrue(session.user_agent.isprintable() and session.user_agent.isascii())
            self.assertLessEqual(len(session.user_agent), 256)
            self.assertEqual(session.usernames, {})
            await self.assert_good_miner_served()
        return _run(scenario())


class ProtocolOrderTests(HostileTestCase):
    """Requests out of order get the right error; repeated set-up is limited."""

    def test_submit_before_subscribe(self) -> defer.Deferred[None]:
        """submit first: error 25 (not subscribed), nothing credited"""
        async def scenario() -> None:
            client = await self.raw()
            await self.send_lines(client, b'{"id":1,"method":"mining.submit","params":'
                                          b'["x","1","00","00000000","00000000"]}')
            self.assertEqual(client.errors(), [[25, "Not subscribed", None]])
            await self.assert_good_miner_served()
        return _run(scenario())

    def test_repeated_subscribe(self) -> defer.Deferred[None]:
        """the same extranonce1 for repeats; the 4th subscribe in a minute disconnects"""
        async def scenario() -> None:
            client = await self.raw()
            line = b'{"id":1,"method":"mining.subscribe","params":[]}'
            await self.send_lines(client, line, line, line, line)
            await self.assert_closed(client)
            replies = client.replies()
            self.assertEqual(len({r["result"][1] for r in replies[:3]}), 1)
            self.assertEqual(replies[3]["error"][1], "Too many subscribes")
            await self.assert_good_miner_served()
        return _run(scenario())
