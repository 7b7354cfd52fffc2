"""TLS Stratum listeners: the TLS policy, the handshake deadline, and real TLS clients."""

from __future__ import annotations

import dataclasses
import json
import shutil
from typing import Any

from cryptography import x509
from OpenSSL import SSL
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.interfaces import (
    IHandshakeListener,
    IListeningPort,
    IOpenSSLClientConnectionCreator,
)
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol, connectionDone
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger, LogLevel
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from tbgpool.stratum import endpoints
from tbgpool.stratum.endpoints import listener_services
from tbgpool.stratum.protocol import StratumFactory
from tbgpool.stratum.tls import (
    HANDSHAKE_TIMEOUT_LIMIT,
    TLS12_CIPHERS,
    HandshakeDeadlineFactory,
    StratumTLSFactory,
    tls_options,
    tls_server_factory,
)
from tbgpool.testing import make_template
from tests.helpers import PoolHarness
from tests.miner import MinerClient
from tests.tls_certs import SERVER_HOSTNAME, shared_pki

PKI = shared_pki()
_OPENSSL = shutil.which("openssl")


class Recorder(Protocol):
    """Records what reaches the application layer."""

    def __init__(self) -> None:
        self.received = b""
        self.handshakes = 0
        self.lost: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        """Keep the bytes."""
        self.received += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Keep the reason."""
        self.lost = reason


@implementer(IHandshakeListener)
class HandshakeRecorder(Recorder):
    """A Recorder that also wants to hear of the finished handshake."""

    def handshakeCompleted(self) -> None:
        """Count the handshake."""
        self.handshakes += 1


class RefusingFactory(Factory):
    """A factory that refuses every connection, as the pool does at maxclients."""

    def buildProtocol(self, addr: Any) -> None:  # type: ignore[override]
        """Refuse."""
        return None


class PolicyTests(SynchronousTestCase):
    """The server context tls_options builds."""

    def setUp(self) -> None:
        """Options and context from the test chain and key."""
        self.options = tls_options(PKI.chain_path, PKI.key_path)
        self.context = self.options.getContext()

    def test_protocol_and_feature_options(self) -> None:
        """TLS 1.0/1.1 off, no compression, no renegotiation, server cipher order, tickets on."""
        flags = self.context.set_options(0)
        for flag in (
            SSL.OP_NO_SSLv3,
            SSL.OP_NO_TLSv1,
            SSL.OP_NO_TLSv1_1,
            SSL.OP_NO_COMPRESSION,
            SSL.OP_NO_RENEGOTIATION,
            SSL.OP_CIPHER_SERVER_PREFERENCE,
        ):
            self.assertTrue(flags & flag, hex(flag))
        self.assertFalse(flags & SSL.OP_NO_TLSv1_2)
        self.assertFalse(flags & SSL.OP_NO_TLSv1_3)
        self.assertFalse(flags & SSL.OP_NO_TICKET)

    def test_cipher_list(self) -> None:
        """TLS 1.2 suites are exactly the ECDHE AEAD ones, in order; TLS 1.3 suites are offered."""
        ciphers = SSL.Connection(self.context, None).get_cipher_list()
        tls12 = [name for name in ciphers if not name.startswith("TLS_")]
        self.assertEqual(tls12, TLS12_CIPHERS.split(":"))
        self.assertIn("TLS_AES_256_GCM_SHA384", ciphers)
        self.assertIn("TLS_CHACHA20_POLY1305_SHA256", ciphers)

    def test_chain_sent(self) -> None:
        """The intermediate is configured as the extra chain, after the server certificate."""
        self.assertEqual(len(self.options.extraCertChain), 1)
        assert self.options.certificate is not None
        self.assertEqual(self.options.certificate.get_subject().CN, SERVER_HOSTNAME)
        self.assertEqual(
            self.options.extraCertChain[0].get_subject().CN, "tbgpool test intermediate"
        )


class HandshakeDeadlineTests(SynchronousTestCase):
    """The handshake deadline, on a task.Clock, without TLS bytes."""

    def setUp(self) -> None:
        """A deadline wrapper of 10 s around a recorder, connected to a StringTransport."""
        self.clock = Clock()
        self.hits: list[tuple[str, str, str]] = []
        self.inner = HandshakeRecorder()
        self.factory = HandshakeDeadlineFactory(
            Factory.forProtocol(lambda: self.inner),
            self.clock,
            10.0,
            lambda *hit: self.hits.append(hit),
        )
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "198.51.100.7", 4242))
        self.protocol = self.factory.buildProtocol(IPv4Address("TCP", "198.51.100.7", 4242))
        assert self.protocol is not None
        self.protocol.makeConnection(self.transport)

    def test_aborted_at_the_deadline(self) -> None:
        """No finished handshake after handshake_timeout: aborted and counted, not before."""
        self.clock.advance(9.99)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.01)
        self.assertTrue(self.transport.disconnected)
        self.assertEqual(len(self.hits), 1)
        self.assertEqual(self.hits[0][:2], (HANDSHAKE_TIMEOUT_LIMIT, "198.51.100.7"))

    def test_finished_handshake_stops_the_clock(self) -> None:
        """A finished handshake cancels the deadline and is passed on to the application."""
        assert self.protocol is not None
        self.protocol.handshakeCompleted()  # type: ignore[attr-defined]
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(60)
        self.assertFalse(self.transport.disconnecting)
        self.assertEqual(self.inner.handshakes, 1)
        self.assertEqual(self.hits, [])

    def test_lost_connection_stops_the_clock(self) -> None:
        """A connection that goes away first leaves no timer behind."""
        assert self.protocol is not None
        self.protocol.connectionLost(Failure(ConnectionError("gone")))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertIsNotNone(self.inner.lost)

    def test_data_and_writes_pass_through(self) -> None:
        """Bytes in reach the application; its writes reach the transport."""
        assert self.protocol is not None
        self.protocol.dataReceived(b"hello\n")
        self.assertEqual(self.inner.received, b"hello\n")
        assert self.inner.transport is not None
        self.inner.transport.write(b"reply\n")
        self.assertEqual(self.transport.value(), b"reply\n")
        self.assertEqual(self.inner.transport.getPeer(), IPv4Address("TCP", "198.51.100.7", 4242))

    def test_refusal_passes_through(self) -> None:
        """A factory that refuses (None) is refused by the deadline and TLS layers too."""
        deadline = HandshakeDeadlineFactory(RefusingFactory(), self.clock, 10.0)
        self.assertIsNone(deadline.buildProtocol(None))
        options = tls_options(PKI.chain_path, PKI.key_path)
        tls = tls_server_factory(options, RefusingFactory(), self.clock, 10.0)
        self.assertIsInstance(tls, StratumTLSFactory)
        self.assertIsNone(tls.buildProtocol(None))


class ListenerServicesTests(SynchronousTestCase):
    """listener_services builds one service per serverurl entry."""

    def test_one_service_per_entry(self) -> None:
        """Plain and TLS entries each become a StreamServerEndpointService on their address."""
        harness = PoolHarness(
            self.mktemp(),
            serverurl=["127.0.0.1:3333", "tls://127.0.0.1:3334"],
            tls={"certificate": PKI.chain_path, "private_key": PKI.key_path},
        )
        memory = MemoryReactorClock()
        services = listener_services(memory, harness.config, StratumFactory(harness.pool))
        self.assertEqual(len(services), 2)
        for service in services:
            self.assertTrue(IService.providedBy(service))
            self.assertIsInstance(service, StreamServerEndpointService)
            service.startService()
        self.assertEqual(
            [(port, interface) for port, _f, _b, interface in memory.tcpServers],
            [(3333, "127.0.0.1"), (3334, "127.0.0.1")],
        )
        plain, tls = (factory for _p, factory, _b, _i in memory.tcpServers)
        self.assertIsInstance(plain, StratumFactory)
        self.assertIsInstance(tls, StratumTLSFactory)

    def test_expiring_certificate_logged(self) -> None:
        """Start-up logs an error for an expired certificate and a warning two weeks before."""
        harness = PoolHarness(
            self.mktemp(),
            serverurl=["tls://127.0.0.1:3334"],
            tls={"certificate": PKI.chain_path, "private_key": PKI.key_path},
        )
        with open(PKI.chain_path, "rb") as f:
            expires_at = x509.load_pem_x509_certificate(f.read()).not_valid_after_utc.timestamp()
        levels = []
        for now in (expires_at - 30 * 86400, expires_at - 7 * 86400, expires_at + 1):
            events: list[dict[str, Any]] = []
            self.patch(endpoints, "_log", Logger(observer=events.append))
            memory = MemoryReactorClock()
            memory.advance(now)
            listener_services(memory, harness.config, StratumFactory(harness.pool))
            levels.append([event["log_level"] for event in events])
        self.assertEqual(levels, [[], [LogLevel.warn], [LogLevel.error]])


@implementer(IOpenSSLClientConnectionCreator)
class RawClientTLS:
    """A client TLS configuration straight from pyOpenSSL: any version and cipher list."""

    def __init__(self, version: int, ciphers: bytes) -> None:
        self._context = SSL.Context(SSL.TLS_METHOD)
        self._context.set_min_proto_version(version)
        self._context.set_max_proto_version(version)
        self._context.set_cipher_list(ciphers)

    def clientConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        """A fresh client connection."""
        return SSL.Connection(self._context, None)


class OpenSSLClient(ProcessProtocol):
    """``openssl s_client``: sends one line once connected, stops after the first reply line."""

    def __init__(self, line: bytes | None) -> None:
        self.line = line
        self.out = b""
        self.err = b""
        self.exit_code: int | None = None
        self.ended: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        """Send the request (s_client sends it once the handshake is done), or close stdin."""
        assert self.transport is not None
        if self.line is None:
            self.transport.closeStdin()
        else:
            self.transport.write(self.line)

    def outReceived(self, data: bytes) -> None:
        """Collect stdout; a reply line ends the session."""
        self.out += data
        if self.line is not None and b'"id":1' in self.out and self.out.endswith(b"\n"):
            assert self.transport is not None
            self.transport.signalProcess("KILL")

    def errReceived(self, data: bytes) -> None:
        """Collect stderr."""
        self.err += data

    def processEnded(self, reason: Failure) -> None:
        """Keep the exit code (None when killed) and fire ``ended``."""
        self.exit_code = getattr(reason.value, "exitCode", None)
        self.ended.callback(None)


class RealTLSTests(TestCase):
    """A real TLS listener on 127.0.0.1, built by listener_services, and real TLS clients."""

    timeout = 60

    def setUp(self) -> defer.Deferred[None]:  # type: ignore[override]
        """A pool with work and a tls:// listener on a free port."""
        self.hits: list[tuple[str, str, str]] = []
        self.harness = PoolHarness(
            self.mktemp(),
            serverurl=["tls://127.0.0.1:0"],
            tls={"certificate": PKI.chain_path, "private_key": PKI.key_path},
        )
        self.harness.source.push(make_template())
        return defer.Deferred.fromCoroutine(self._listen(self.harness.config))

    async def _listen(self, config: Any) -> None:
        """Start the listener for ``config``; remember its port."""
        (self.service,) = listener_services(
            reactor, config, StratumFactory(self.harness.pool), lambda *hit: self.hits.append(hit)
        )
        self.service.startService()
        # StreamServerEndpointService has no public way to the port it opened.
        port: IListeningPort = await self.service._waitingForPort  # type: ignore[attr-defined]
        self.port: int = port.getHost().port  # type: ignore[attr-defined]

    def tearDown(self) -> defer.Deferred[None]:  # type: ignore[override]
        """Stop listening."""
        return defer.maybeDeferred(self.service.stopService)

    async def _restart(self, **tls_overrides: Any) -> None:
        """Listen again with changed tls settings."""
        await defer.maybeDeferred(self.service.stopService)
        config = self.harness.config
        assert config.tls is not None
        tls = dataclasses.replace(config.tls, **tls_overrides)
        await self._listen(dataclasses.replace(config, tls=tls))

    async def _connect(self, creator: Any) -> MinerClient:
        """A MinerClient over TLS to the listener."""
        endpoint = wrapClientTLS(creator, TCP4ClientEndpoint(reactor, "127.0.0.1", self.port))
        client: MinerClient = await connectProtocol(endpoint, MinerClient())
        self.addCleanup(self._close, client)
        return client

    async def _close(self, client: MinerClient) -> None:
        if client.transport is not None and not client.closed.called:
            client.transport.loseConnection()
        await client.closed

    def _trusting_client(self, hostname: str = SERVER_HOSTNAME) -> Any:
        return optionsForClientTLS(hostname, trustRoot=Certificate.loadPEM(PKI.root_pem))

    async def _subscribe_fails(self, creator: Any) -> Failure:
        """Connect with ``creator``; the subscribe must fail with the connection lost."""
        client = await self._connect(creator)
        try:
            await client.request("mining.subscribe", "tls-test/1.0")
        except Exception:
            return Failure()
        raise AssertionError("the TLS connection was expected to fail")

    def test_subscribe_over_tls13(self) -> defer.Deferred[None]:
        """A verifying Twisted client gets a subscribe reply, over TLS 1.3, as 127.0.0.1."""

        async def run() -> None:
            client = await self._connect(self._trusting_client())
            result = await client.request("mining.subscribe", "tls-test/1.0")
            self.assertEqual(len(result), 3)
            self.assertEqual(len(result[1]), 2 * self.harness.config.nonce1length)
            self.assertEqual(result[2], self.harness.config.nonce2length)
            assert client.transport is not None
            handle = client.transport.getHandle()  # type: ignore[attr-defined]
            self.assertEqual(handle.get_protocol_version_name(), "TLSv1.3")
            (session,) = self.harness.pool.sessions
            self.assertEqual(session.ip, "127.0.0.1")

        return defer.Deferred.fromCoroutine(run())

    def test_tls12_with_modern_cipher(self) -> defer.Deferred[None]:
        """A TLS 1.2-only client offering ECDHE-RSA-AES128-GCM-SHA256 is served."""

        async def run() -> None:
            creator = RawClientTLS(SSL.TLS1_2_VERSION, b"ECDHE-RSA-AES128-GCM-SHA256")
            client = await self._connect(creator)
            result = await client.request("mining.subscribe", "tls-test/1.0")
            self.assertEqual(len(result), 3)
            assert client.transport is not None
            handle = client.transport.getHandle()  # type: ignore[attr-defined]
            self.assertEqual(handle.get_protocol_version_name(), "TLSv1.2")
            self.assertEqual(handle.get_cipher_name(), "ECDHE-RSA-AES128-GCM-SHA256")

        return defer.Deferred.fromCoroutine(run())

    def test_wrong_hostname_fails_verification(self) -> defer.Deferred[None]:
        """A client checking another host name refuses the pool's certificate."""

        async def run() -> None:
            failure = await self._subscribe_fails(self._trusting_client("other.test"))
            self.assertIn("other.test", str(failure.value))

        return defer.Deferred.fromCoroutine(run())

    def test_chain_is_needed_and_sent(self) -> defer.Deferred[None]:
        """Without the intermediate a root-trusting client fails; the full chain file works."""

        async def run() -> None:
            await self._restart(certificate=PKI.leaf_only_path)
            failure = await self._subscribe_fails(self._trusting_client())
            self.assertIn("certificate verify failed", str(failure.value))

        return defer.Deferred.fromCoroutine(run())

    def test_tls11_client_refused(self) -> defer.Deferred[None]:
        """A client limited to TLS 1.1 is refused by the server with a protocol_version alert."""

        async def run() -> None:
            creator = RawClientTLS(SSL.TLS1_1_VERSION, b"DEFAULT:@SECLEVEL=0")
            failure = await self._subscribe_fails(creator)
            self.assertIn("alert protocol version", str(failure.value))

        return defer.Deferred.fromCoroutine(run())

    def test_weak_cipher_refused(self) -> defer.Deferred[None]:
        """A TLS 1.2 client offering only AES128-SHA (RSA key exchange, CBC) is refused."""

        async def run() -> None:
            creator = RawClientTLS(SSL.TLS1_2_VERSION, b"AES128-SHA")
            failure = await self._subscribe_fails(creator)
            self.assertIn("handshake failure", str(failure.value))

        return defer.Deferred.fromCoroutine(run())

    def test_silent_client_cut_at_handshake_timeout(self) -> defer.Deferred[None]:
        """A client that connects and sends nothing is aborted at handshake_timeout."""

        async def run() -> None:
            await self._restart(handshake_timeout_s=0.2)
            silent = Recorder()
            lost: defer.Deferred[None] = defer.Deferred()
            silent.connectionLost = lambda reason=connectionDone: lost.callback(None)  # type: ignore[method-assign]
            endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port)
            await connectProtocol(endpoint, silent)
            await lost
            self.assertEqual([hit[0] for hit in self.hits], [HANDSHAKE_TIMEOUT_LIMIT])
            self.assertEqual(self.hits[0][1], "127.0.0.1")

        return defer.Deferred.fromCoroutine(run())

    async def _s_client(self, *arguments: str, line: bytes | None = None) -> OpenSSLClient:
        """Run ``openssl s_client`` against the listener."""
        assert _OPENSSL is not None
        root = self.mktemp()
        with open(root, "wb") as f:
            f.write(PKI.root_pem)
        client = OpenSSLClient(line)
        argv = [
            _OPENSSL,
            "s_client",
            "-connect",
            f"127.0.0.1:{self.port}",
            "-servername",
            SERVER_HOSTNAME,
            "-verify_hostname",
            SERVER_HOSTNAME,
            "-CAfile",
            root,
            "-verify_return_error",
            *arguments,
        ]
        reactor.spawnProcess(client, _OPENSSL, argv, env={})
        await client.ended
        return client

    def test_openssl_s_client(self) -> defer.Deferred[None]:
        """openssl s_client verifies the chain and name, gets TLS 1.3 and a subscribe reply."""
        if _OPENSSL is None:
            raise self.skipTest("no openssl command")

        async def run() -> None:
            request = b'{"id":1,"method":"mining.subscribe","params":["s_client"]}\n'
            client = await self._s_client("-brief", line=request)
            self.assertIn(b"Protocol version: TLSv1.3", client.err)
            self.assertIn(b"Verification: OK", client.err)
            reply = json.loads(client.out.strip().splitlines()[-1])
            self.assertEqual(reply["id"], 1)
            self.assertIsNone(reply["error"])
            self.assertEqual(len(reply["result"]), 3)

        return defer.Deferred.fromCoroutine(run())

    def test_openssl_s_client_refusals(self) -> defer.Deferred[None]:
        """openssl s_client with -tls1_1, or -tls1_2 and only AES128-SHA, fails the handshake."""
        if _OPENSSL is None:
            raise self.skipTest("no openssl command")

        async def run() -> None:
            old = await self._s_client("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
            self.assertNotEqual(old.exit_code, 0)
            self.assertIn(b"alert protocol version", old.err)
            weak = await self._s_client("-tls1_2", "-cipher", "AES128-SHA")
            self.assertNotEqual(weak.exit_code, 0)
            self.assertIn(b"alert handshake failure", weak.err)

        return defer.Deferred.fromCoroutine(run())
