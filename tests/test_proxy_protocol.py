"""The PROXY protocol v1/v2 reader: parsing, trust, timeouts, and a real load-balancer client."""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tbgpool.stratum.endpoints import listener_services
from tbgpool.stratum.protocol import StratumFactory
from tbgpool.stratum.proxy_protocol import (
    HEADER_TIMEOUT_LIMIT,
    HEADER_TIMEOUT_S,
    INVALID_HEADER_LIMIT,
    V1_MAX_BYTES,
    V2_MAX_PAYLOAD_BYTES,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    ProxyProtocolFactory,
    parse_proxy_header,
)
from tbgpool.testing import make_template
from tests.helpers import PoolHarness
from tests.miner import MinerClient
from tests.tls_certs import SERVER_HOSTNAME, shared_pki

V1_TCP4 = b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 3333\r\n"
V1_TCP6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 3334\r\n"
#: The specification's worst case: 107 bytes.
V1_UNKNOWN_LONGEST = (
    b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
    b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
)
SUBSCRIBE = b'{"id":1,"method":"mining.subscribe","params":["lb-test/1.0"]}\n'
PROXY_PEER = IPv4Address("TCP", "10.0.0.5", 61000)
TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


def v2(
    command: int = 1,
    family: int = 1,
    transport: int = 1,
    addresses: bytes | None = None,
    tlvs: bytes = b"",
    version: int = 2,
    length: int | None = None,
) -> bytes:
    """A v2 header; by default PROXY, TCP over IPv4 from 192.0.2.10:56324 to 198.51.100.1:3333."""
    if addresses is None:
        addresses = (
            ipaddress.IPv4Address("192.0.2.10").packed
            + ipaddress.IPv4Address("198.51.100.1").packed
            + struct.pack("!HH", 56324, 3333)
        )
    payload = addresses + tlvs
    size = len(payload) if length is None else length
    return (
        V2_SIGNATURE
        + bytes([(version << 4) | command, (family << 4) | transport])
        + struct.pack("!H", size)
        + payload
    )


def v2_inet6(source: str, destination: str, source_port: int, destination_port: int) -> bytes:
    """A v2 PROXY header for TCP over IPv6."""
    addresses = (
        ipaddress.IPv6Address(source).packed
        + ipaddress.IPv6Address(destination).packed
        + struct.pack("!HH", source_port, destination_port)
    )
    return v2(family=2, addresses=addresses)


class ParserTests(SynchronousTestCase):
    """parse_proxy_header on whole, partial and malformed headers."""

    def assertParses(self, header: bytes, source: tuple[str, int] | None) -> ProxyHeader:
        """``header`` (with trailing payload) parses to ``source``, its length exact."""
        parsed = parse_proxy_header(header + SUBSCRIBE)
        assert parsed is not None
        self.assertEqual(parsed.length, len(header))
        if source is None:
            self.assertIsNone(parsed.source)
        else:
            assert parsed.source is not None
            self.assertEqual((str(parsed.source[0]), parsed.source[1]), source)
        return parsed

    def assertMalformed(self, header: bytes, fragment: str) -> None:
        """``header`` is refused with a message containing ``fragment``."""
        error = self.assertRaises(ProxyHeaderError, parse_proxy_header, header)
        self.assertIn(fragment, str(error))

    def test_v1_tcp4(self) -> None:
        """A v1 TCP4 header gives the source address and port, and the destination."""
        parsed = self.assertParses(V1_TCP4, ("192.0.2.10", 56324))
        assert parsed.destination is not None
        self.assertEqual(
            (str(parsed.destination[0]), parsed.destination[1]), ("198.51.100.1", 3333)
        )

    def test_v1_tcp6(self) -> None:
        """A v1 TCP6 header gives the IPv6 source; an IPv4-mapped one becomes IPv4."""
        self.assertParses(V1_TCP6, ("2001:db8::1", 65535))
        self.assertParses(b"PROXY TCP6 2001:DB8:0::1 ::1 1 2\r\n", ("2001:db8::1", 1))
        self.assertParses(b"PROXY TCP6 ::ffff:192.0.2.9 ::1 0 2\r\n", ("192.0.2.9", 0))

    def test_v1_unknown(self) -> None:
        """v1 UNKNOWN, bare or with the longest allowed (107-byte) rest, means the proxy itself."""
        self.assertParses(b"PROXY UNKNOWN\r\n", None)
        self.assertEqual(len(V1_UNKNOWN_LONGEST), V1_MAX_BYTES)
        self.assertParses(V1_UNKNOWN_LONGEST, None)

    def test_v2_inet(self) -> None:
        """A v2 PROXY TCP/IPv4 header gives the source; TLVs after the addresses are skipped."""
        self.assertParses(v2(), ("192.0.2.10", 56324))
        tlvs = b"\x04\x00\x03abc" + b"\xea\x00\x05vpce1"
        self.assertParses(v2(tlvs=tlvs), ("192.0.2.10", 56324))

    def test_v2_inet6(self) -> None:
        """A v2 PROXY TCP/IPv6 header gives the IPv6 source; IPv4-mapped becomes IPv4."""
        self.assertParses(
            v2_inet6("2001:db8::7", "2001:db8::1", 40000, 3333), ("2001:db8::7", 40000)
        )
        self.assertParses(v2_inet6("::ffff:203.0.113.4", "::1", 1, 2), ("203.0.113.4", 1))

    def test_v2_local_and_unspec(self) -> None:
        """v2 LOCAL (health check), with or without addresses, and PROXY UNSPEC mean the proxy."""
        self.assertParses(v2(command=0, family=0, transport=0, addresses=b""), None)
        self.assertParses(v2(command=0), None)
        self.assertParses(v2(family=0, transport=0, addresses=b""), None)

    def test_every_prefix_is_incomplete(self) -> None:
        """Every proper prefix of a valid header asks for more bytes rather than failing."""
        for header in (V1_TCP4, V1_TCP6, V1_UNKNOWN_LONGEST, v2(), v2_inet6("::1", "::2", 1, 2)):
            for end in range(len(header)):
                self.assertIsNone(parse_proxy_header(header[:end]), (header, end))

    def test_v1_malformed(self) -> None:
        """Malformed v1 headers are refused, each with its reason."""
        cases = {
            b"PROXY UNKNOWN " + b"x" * 100: "longer than 107",
            b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 3333\n": "CRLF",
            b"PROXY TCP5 192.0.2.10 198.51.100.1 56324 3333\r\n": "TCP4, TCP6 or UNKNOWN",
            b"PROXY tcp4 192.0.2.10 198.51.100.1 56324 3333\r\n": "TCP4, TCP6 or UNKNOWN",
            b"PROXY TCP4 192.0.2.10 198.51.100.1 56324\r\n": "exactly",
            b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 3333 x\r\n": "exactly",
            b"PROXY TCP4  192.0.2.10 198.51.100.1 56324 3333\r\n": "exactly",
            b"PROXY TCP4 256.0.2.10 198.51.100.1 56324 3333\r\n": "bad TCP4 address",
            b"PROXY TCP4 01.0.2.10 198.51.100.1 56324 3333\r\n": "bad TCP4 address",
            b"PROXY TCP4 2001:db8::1 198.51.100.1 56324 3333\r\n": "bad TCP4 address",
            b"PROXY TCP6 192.0.2.10 2001:db8::2 56324 3333\r\n": "bad TCP6 address",
            b"PROXY TCP6 fe80::1%eth0 2001:db8::2 56324 3333\r\n": "scope",
            b"PROXY TCP4 192.0.2.10 198.51.100.1 65536 3333\r\n": "bad port",
            b"PROXY TCP4 192.0.2.10 198.51.100.1 056324 3333\r\n": "bad port",
            b"PROXY TCP4 192.0.2.10 198.51.100.1 -1 3333\r\n": "bad port",
            b"PROXY TCP4 192.0.2.10 198.51.100.1 5 +3\r\n": "bad port",
            b"PROXY TCP4 192.0.2.10 198.51.100.1 \xff 3333\r\n": "printable ASCII",
            b"PROXY TCP4 192.0.2.10\t198.51.100.1 5 3\r\n": "printable ASCII",
            b"PROXY\r\n": "bad v1 signature",
            b"proxy TCP4 192.0.2.10 198.51.100.1 56324 3333\r\n": "not a PROXY header",
        }
        for header, fragment in cases.items():
            self.assertMalformed(header, fragment)

    def test_v2_malformed(self) -> None:
        """Malformed v2 headers are refused, each with its reason."""
        cases = {
            v2(version=1): "version must be 2",
            v2(command=2): "LOCAL or PROXY",
            v2(family=3, addresses=b"\x00" * 216): "AF_UNIX",
            v2(family=4): "unknown family 4",
            v2(transport=2): "STREAM",
            v2(transport=0): "STREAM",
            v2(length=11): "shorter than its addresses (12)",
            v2(family=2): "shorter than its addresses (36)",
            v2(length=V2_MAX_PAYLOAD_BYTES + 1): "more than allowed",
            v2(command=0, length=0xFFFF): "more than allowed",
        }
        for header, fragment in cases.items():
            self.assertMalformed(header, fragment)

    def test_bad_signature_at_each_byte(self) -> None:
        """A v2 signature with any one byte wrong is refused as soon as that byte arrives."""
        for index in range(len(V2_SIGNATURE)):
            broken = bytearray(v2())
            broken[index] ^= 0x40
            self.assertRaises(ProxyHeaderError, parse_proxy_header, bytes(broken[: index + 1]))

    def test_garbage(self) -> None:
        """Stratum, HTTP, TLS and binary junk instead of a header are refused at once."""
        for junk in (SUBSCRIBE, b"GET / HTTP/1.1\r\n", b"\x16\x03\x01\x02\x00", b"\x00", b"P\x00"):
            self.assertMalformed(junk, "not a PROXY header")


class PeerRecorder(Protocol):
    """An application protocol that records its bytes, its peer and its end."""

    def __init__(self) -> None:
        self.received = b""
        self.peer: IAddress | None = None
        self.lost: Failure | None = None

    def connectionMade(self) -> None:
        """Note the peer the transport reports."""
        assert self.transport is not None
        self.peer = self.transport.getPeer()

    def dataReceived(self, data: bytes) -> None:
        """Keep the bytes."""
        self.received += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Keep the reason."""
        self.lost = reason


class RecordingFactory(Factory):
    """Builds PeerRecorders, keeping each and the address it was built for."""

    def __init__(self, refuse: bool = False) -> None:
        self.built: list[tuple[IAddress | None, PeerRecorder]] = []
        self.refuse = refuse

    def buildProtocol(self, addr: IAddress | None) -> PeerRecorder | None:  # type: ignore[override]
        """A PeerRecorder, or None when refusing."""
        if self.refuse:
            return None
        protocol = PeerRecorder()
        self.built.append((addr, protocol))
        return protocol


class WrapperTests(SynchronousTestCase):
    """ProxyProtocolFactory over StringTransport and a task.Clock."""

    def setUp(self) -> None:
        """A PROXY reader trusting 10.0.0.0/8 and fd00::/8 in front of a recording factory."""
        self.clock = Clock()
        self.inner = RecordingFactory()
        self.hits: list[tuple[str, str, str]] = []
        self.factory = ProxyProtocolFactory(
            self.inner, TRUSTED, self.clock, lambda *hit: self.hits.append(hit)
        )

    def connect(self, peer: IAddress = PROXY_PEER) -> tuple[Any, StringTransport]:
        """A new connection from ``peer``: (the protocol the factory built, its transport)."""
        protocol = self.factory.buildProtocol(peer)
        assert protocol is not None
        transport = StringTransport(peerAddress=peer)
        protocol.makeConnection(transport)
        return protocol, transport

    def test_header_split_at_every_offset(self) -> None:
        """v1 and v2 headers followed by Stratum, split anywhere: the client's address, same bytes."""
        for header in (V1_TCP4, v2()):
            stream = header + SUBSCRIBE
            for split in range(len(stream) + 1):
                self.inner.built.clear()
                protocol, transport = self.connect()
                protocol.dataReceived(stream[:split])
                protocol.dataReceived(stream[split:])
                ((addr, app),) = self.inner.built
                expected = IPv4Address("TCP", "192.0.2.10", 56324)
                self.assertEqual((addr, app.peer), (expected, expected), (header, split))
                self.assertEqual(app.received, SUBSCRIBE, (header, split))
                self.assertFalse(transport.disconnecting)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_byte_at_a_time(self) -> None:
        """An IPv6 v2 header and the Stratum line after it, one byte per read."""
        protocol, _transport = self.connect()
        for byte in v2_inet6("2001:db8::7", "2001:db8::1", 40000, 3333) + SUBSCRIBE:
            protocol.dataReceived(bytes([byte]))
        ((addr, app),) = self.inner.built
        self.assertEqual(addr, IPv6Address("TCP", "2001:db8::7", 40000))
        self.assertEqual(app.received, SUBSCRIBE)

    def test_application_talks_through(self) -> None:
        """Once connected, the application writes to the proxy's connection; getHost is real."""
        protocol, transport = self.connect()
        protocol.dataReceived(V1_TCP6)
        ((_addr, app),) = self.inner.built
        assert app.transport is not None
        app.transport.write(b"reply\n")
        self.assertEqual(transport.value(), b"reply\n")
        self.assertEqual(app.transport.getHost(), transport.getHost())
        self.assertEqual(app.peer, IPv6Address("TCP", "2001:db8::1", 65535))

    def test_local_and_unknown_use_the_proxy(self) -> None:
        """A v2 LOCAL (health check) or v1 UNKNOWN connection is the proxy's own."""
        for header in (v2(command=0, family=0, transport=0, addresses=b""), b"PROXY UNKNOWN\r\n"):
            self.inner.built.clear()
            protocol, _transport = self.connect()
            protocol.dataReceived(header + SUBSCRIBE)
            ((addr, app),) = self.inner.built
            self.assertEqual((addr, app.peer), (PROXY_PEER, PROXY_PEER))
            self.assertEqual(app.received, SUBSCRIBE)

    def test_malformed_header_aborts_and_counts(self) -> None:
        """A malformed header aborts the connection, builds nothing, and is counted."""
        for junk in (b"PROXY TCP4 192.0.2.10 198.51.100.1 65536 3333\r\n", v2(family=3), SUBSCRIBE):
            protocol, transport = self.connect()
            protocol.dataReceived(junk)
            self.assertTrue(transport.disconnected, junk)
            protocol.dataReceived(SUBSCRIBE)
        self.assertEqual(self.inner.built, [])
        self.assertEqual(self.factory.refusals[INVALID_HEADER_LIMIT], 3)
        self.assertEqual([hit[:2] for hit in self.hits], [(INVALID_HEADER_LIMIT, "10.0.0.5")] * 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_header_timeout(self) -> None:
        """No complete header within 10 s (here: a truncated one): aborted and counted."""
        protocol, transport = self.connect()
        protocol.dataReceived(v2()[:20])
        self.clock.advance(HEADER_TIMEOUT_S - 0.01)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.01)
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.factory.refusals[HEADER_TIMEOUT_LIMIT], 1)
        self.assertEqual(self.hits[0][:2], (HEADER_TIMEOUT_LIMIT, "10.0.0.5"))
        self.assertEqual(self.inner.built, [])

    def test_truncated_then_closed(self) -> None:
        """A connection that closes mid-header builds nothing and leaves no timer."""
        protocol, _transport = self.connect()
        protocol.dataReceived(V1_TCP4[:10])
        protocol.connectionLost(Failure(ConnectionError("closed")))
        self.assertEqual(self.inner.built, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.hits, [])

    def test_connection_lost_reaches_the_application(self) -> None:
        """After the header, losing the connection is passed to the application."""
        protocol, _transport = self.connect()
        protocol.dataReceived(V1_TCP4)
        protocol.connectionLost(Failure(ConnectionError("closed")))
        ((_addr, app),) = self.inner.built
        self.assertIsNotNone(app.lost)

    def test_refused_by_the_next_factory(self) -> None:
        """When the next factory refuses the client (pool full), the connection is closed."""
        self.factory = ProxyProtocolFactory(RecordingFactory(refuse=True), TRUSTED, self.clock)
        protocol, transport = self.connect()
        protocol.dataReceived(V1_TCP4 + SUBSCRIBE)
        self.assertTrue(transport.disconnecting)

    def test_untrusted_peer_passes_straight_through(self) -> None:
        """From an untrusted address a PROXY header is just bytes for the application."""
        stranger = IPv4Address("TCP", "192.0.2.99", 5000)
        protocol, _transport = self.connect(stranger)
        protocol.dataReceived(V1_TCP4 + SUBSCRIBE)
        ((addr, app),) = self.inner.built
        self.assertIs(protocol, app)
        self.assertEqual((addr, app.peer), (stranger, stranger))
        self.assertEqual(app.received, V1_TCP4 + SUBSCRIBE)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_trust(self) -> None:
        """Trust follows the networks; IPv4-mapped IPv6 peers match IPv4 networks."""
        cases = {
            IPv4Address("TCP", "10.200.0.1", 1): True,
            IPv4Address("TCP", "11.0.0.1", 1): False,
            IPv6Address("TCP", "::ffff:10.1.2.3", 1): True,
            IPv6Address("TCP", "::ffff:11.1.2.3", 1): False,
            IPv6Address("TCP", "fd12::1", 1): True,
            IPv6Address("TCP", "fd12::1%eth0", 1): True,
            IPv6Address("TCP", "2001:db8::1", 1): False,
            UNIXAddress("/run/x.sock"): False,
            None: False,
        }
        for peer, trusted in cases.items():
            self.assertEqual(self.factory.is_trusted(peer), trusted, peer)

    def test_no_networks_trusts_nobody(self) -> None:
        """With no trusted networks every connection passes through."""
        factory = ProxyProtocolFactory(self.inner, [], self.clock)
        self.assertFalse(factory.is_trusted(PROXY_PEER))


class LoadBalancerClient(MinerClient):
    """A Stratum client as a load balancer forwards it: a PROXY header first, then maybe TLS."""

    def __init__(self, header: bytes, tls: Any = None) -> None:
        super().__init__()
        self.header = header
        self.tls = tls

    def connectionMade(self) -> None:
        """Send the header in the clear, then start TLS if asked."""
        assert self.transport is not None
        self.transport.write(self.header)
        if self.tls is not None:
            self.transport.startTLS(self.tls)  # type: ignore[attr-defined]


class RealProxyTests(TestCase):
    """listener_services on 127.0.0.1 with 127.0.0.1 as the trusted load balancer."""

    timeout = 30

    async def _start(self, serverurl: str, **overrides: Any) -> None:
        self.harness = PoolHarness(
            self.mktemp(), serverurl=[serverurl], trusted_proxies=["127.0.0.1"], **overrides
        )
        self.harness.source.push(make_template())
        (self.service,) = listener_services(
            reactor, self.harness.config, StratumFactory(self.harness.pool)
        )
        self.service.startService()
        self.addCleanup(self.service.stopService)
        # StreamServerEndpointService has no public way to the port it opened.
        port = await self.service._waitingForPort  # type: ignore[attr-defined]
        self.port = port.getHost().port

    async def _subscribe(self, client: LoadBalancerClient) -> list[Any]:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port)
        await connectProtocol(endpoint, client)
        try:
            result: list[Any] = await client.request("mining.subscribe", "lb-test/1.0")
        finally:
            assert client.transport is not None
            client.transport.loseConnection()
            await client.closed
        return result

    def test_session_sees_the_proxied_address(self) -> defer.Deferred[None]:
        """A v2 header from the trusted balancer: the session's IP is the miner's, not 127.0.0.1."""

        async def run() -> None:
            await self._start("127.0.0.1:0")
            header = v2(
                addresses=ipaddress.IPv4Address("203.0.113.5").packed
                + ipaddress.IPv4Address("127.0.0.1").packed
                + struct.pack("!HH", 40000, 3333)
            )
            sessions: list[Any] = []
            self.patch(
                self.harness.pool, "new_session", self._spy(self.harness.pool.new_session, sessions)
            )
            result = await self._subscribe(LoadBalancerClient(header))
            self.assertEqual(len(result), 3)
            (session,) = sessions
            self.assertEqual(session.ip, "203.0.113.5")
            self.assertEqual(session.connection.peer, "203.0.113.5:40000")

        return defer.Deferred.fromCoroutine(run())

    def test_proxy_header_before_tls(self) -> defer.Deferred[None]:
        """PROXY v1 in the clear, then TLS, then Stratum: served, as the proxied IPv6 address."""

        async def run() -> None:
            pki = shared_pki()
            await self._start(
                "tls://127.0.0.1:0",
                tls={"certificate": pki.chain_path, "private_key": pki.key_path},
            )
            sessions: list[Any] = []
            self.patch(
                self.harness.pool, "new_session", self._spy(self.harness.pool.new_session, sessions)
            )
            options = optionsForClientTLS(
                SERVER_HOSTNAME, trustRoot=Certificate.loadPEM(pki.root_pem)
            )
            client = LoadBalancerClient(b"PROXY TCP6 2001:db8::5 ::1 40001 3334\r\n", options)
            result = await self._subscribe(client)
            self.assertEqual(len(result), 3)
            (session,) = sessions
            self.assertEqual(session.ip, "2001:db8::5")

        return defer.Deferred.fromCoroutine(run())

    @staticmethod
    def _spy(new_session: Any, sessions: list[Any]) -> Any:
        """Wrap Pool.new_session to keep every session it opens."""

        def spy(connection: Any) -> Any:
            session = new_session(connection)
            sessions.append(session)
            return session

        return spy
