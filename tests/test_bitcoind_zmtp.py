"""Tests for the native ZMTP SUB client (tbgpool.bitcoind.zmtp).

The protocol is tested in memory against hand-written peer bytes (greeting,
handshake, frames split at every byte, hostile input); the subscriber's
reconnection on a MemoryReactorClock; and interoperability against a real libzmq
PUB socket through pyzmq (a test-only dependency), under both ZMTP 3.0 and 3.1.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, endpoints, task
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tbgpool.bitcoind.zmtp import (
    HashblockSubscriber,
    ZMTPError,
    ZMTPSubscriberProtocol,
    encode_command,
    encode_frame,
    encode_metadata,
    endpoint_from_url,
    parse_metadata,
)
from tbgpool.errors import ConfigError

# What libzmq 4.3 sends: its signature carries a ZMTP 1.0 length in the padding.
LIBZMQ_SIGNATURE = b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f"
NULL_MECHANISM = b"NULL" + b"\x00" * 16
PUB_READY = b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03PUB"
HASH = bytes(range(32))
HASH_HEX = HASH.hex()


def peer_greeting(minor: int = 1, major: int = 3, mechanism: bytes = NULL_MECHANISM) -> bytes:
    """A publisher's 64-byte greeting."""
    return LIBZMQ_SIGNATURE + bytes((major, minor)) + mechanism + b"\x00" + b"\x00" * 31


def hashblock(block_hash: bytes = HASH, sequence: int = 0) -> bytes:
    """Core's three-frame hashblock message, as frames on the wire."""
    return (
        b"\x01\x09hashblock"
        + b"\x01\x20"
        + block_hash
        + b"\x00\x04"
        + sequence.to_bytes(4, "little")
    )


class ProtocolTests(SynchronousTestCase):
    """ZMTPSubscriberProtocol against scripted peer bytes."""

    def setUp(self) -> None:
        self.clock = task.Clock()
        self.messages: list[list[bytes]] = []
        self.ready: list[ZMTPSubscriberProtocol] = []
        self.closed: list[ZMTPSubscriberProtocol] = []

    def connect(
        self, minor: int = 1, **kwargs: Any
    ) -> tuple[ZMTPSubscriberProtocol, StringTransport]:
        """A protocol connected to an in-memory transport, greeting already sent."""
        protocol = ZMTPSubscriberProtocol(
            self.clock,
            [b"hashblock"],
            self.messages.append,
            minor_version=minor,
            on_ready=self.ready.append,
            on_closed=self.closed.append,
            **kwargs,
        )
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def handshake(
        self, minor: int = 1, peer_minor: int = 1
    ) -> tuple[ZMTPSubscriberProtocol, StringTransport]:
        """A protocol past greeting and READY, with its output cleared."""
        protocol, transport = self.connect(minor)
        protocol.dataReceived(peer_greeting(peer_minor) + PUB_READY)
        self.assertTrue(protocol.ready)
        transport.clear()
        return protocol, transport

    def assertDropped(self, transport: StringTransport) -> None:
        """The connection was aborted."""
        self.assertTrue(transport.disconnected)

    def test_greeting(self) -> None:
        """On connect we send signature, version 3.1, NULL, as-server 0 and filler at once."""
        _, transport = self.connect()
        expected = (
            b"\xff"
            + b"\x00" * 8
            + b"\x7f"
            + b"\x03\x01"
            + b"NULL"
            + b"\x00" * 16
            + b"\x00"
            + b"\x00" * 31
        )
        self.assertEqual(len(expected), 64)
        self.assertEqual(transport.value(), expected)

    def test_greeting_30(self) -> None:
        """Asked for ZMTP 3.0, the greeting says version 3.0."""
        _, transport = self.connect(minor=0)
        self.assertEqual(transport.value()[10:12], b"\x03\x00")

    def test_handshake_30(self) -> None:
        """Under 3.0: READY(Socket-Type SUB) after the greeting, then a 0x01+topic message."""
        protocol, transport = self.connect(minor=0)
        transport.clear()
        protocol.dataReceived(peer_greeting(minor=1))
        self.assertEqual(protocol.negotiated_minor, 0)
        self.assertEqual(transport.value(), b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03SUB")
        self.assertFalse(protocol.ready)
        transport.clear()
        protocol.dataReceived(PUB_READY)
        self.assertTrue(protocol.ready)
        self.assertEqual(transport.value(), b"\x00\x0a\x01hashblock")
        self.assertEqual(self.ready, [protocol])

    def test_handshake_31(self) -> None:
        """Under 3.1 (both sides): the subscription is a SUBSCRIBE command."""
        protocol, transport = self.connect(minor=1)
        protocol.dataReceived(peer_greeting(minor=1))
        transport.clear()
        protocol.dataReceived(PUB_READY)
        self.assertEqual(protocol.negotiated_minor, 1)
        self.assertEqual(transport.value(), b"\x04\x13\x09SUBSCRIBEhashblock")

    def test_older_peer_downgrades(self) -> None:
        """A 3.0 peer makes a 3.1 subscriber fall back to the 3.0 message form."""
        protocol, transport = self.connect(minor=1)
        protocol.dataReceived(peer_greeting(minor=0))
        transport.clear()
        protocol.dataReceived(PUB_READY)
        self.assertEqual(protocol.negotiated_minor, 0)
        self.assertEqual(transport.value(), b"\x00\x0a\x01hashblock")

    def test_newer_peer(self) -> None:
        """A peer announcing a later version gets our version."""
        protocol, _ = self.connect(minor=1)
        protocol.dataReceived(peer_greeting(major=4, minor=0))
        self.assertEqual(protocol.negotiated_minor, 1)

    def test_xpub_peer(self) -> None:
        """An XPUB peer is accepted, and property names are case-insensitive."""
        protocol, _ = self.connect()
        ready = encode_command(
            b"READY", encode_metadata([(b"socket-type", b"XPUB"), (b"X-Other", b"")])
        )
        protocol.dataReceived(peer_greeting() + ready)
        self.assertTrue(protocol.ready)

    def test_message(self) -> None:
        """A hashblock message is delivered as its three parts."""
        protocol, _ = self.handshake()
        protocol.dataReceived(hashblock(sequence=7))
        self.assertEqual(self.messages, [[b"hashblock", HASH, b"\x07\x00\x00\x00"]])

    def test_split_at_every_offset(self) -> None:
        """The whole conversation split in two at every byte offset gives the same result."""
        stream = peer_greeting() + PUB_READY + hashblock(sequence=1) + hashblock(sequence=2)
        for cut in range(len(stream) + 1):
            self.messages.clear()
            protocol, transport = self.connect()
            protocol.dataReceived(stream[:cut])
            protocol.dataReceived(stream[cut:])
            self.assertEqual(len(self.messages), 2, f"cut at {cut}")
            self.assertEqual(self.messages[1][2], b"\x02\x00\x00\x00")
            self.assertFalse(transport.disconnecting)

    def test_byte_by_byte(self) -> None:
        """The conversation fed one byte at a time is parsed correctly."""
        protocol, transport = self.connect(minor=0)
        stream = peer_greeting() + PUB_READY + hashblock(sequence=5)
        for i in range(len(stream)):
            protocol.dataReceived(stream[i : i + 1])
        self.assertEqual(self.messages, [[b"hashblock", HASH, b"\x05\x00\x00\x00"]])
        self.assertTrue(transport.value().endswith(b"\x00\x0a\x01hashblock"))

    def test_long_frames(self) -> None:
        """Long frames (8-byte size) are parsed, also when the body would fit a short one."""
        protocol, _ = self.handshake()
        big = bytes(300)
        protocol.dataReceived(
            b"\x03"
            + (9).to_bytes(8, "big")
            + b"hashblock"
            + b"\x03"
            + (300).to_bytes(8, "big")
            + big
            + b"\x02"
            + (4).to_bytes(8, "big")
            + b"\x01\x00\x00\x00"
        )
        self.assertEqual(self.messages, [[b"hashblock", big, b"\x01\x00\x00\x00"]])

    def test_encode_frame(self) -> None:
        """Frames over 255 bytes are written in the long form."""
        self.assertEqual(encode_frame(b"ab", more=True), b"\x01\x02ab")
        self.assertEqual(encode_frame(bytes(256))[:9], b"\x02" + (256).to_bytes(8, "big"))

    def test_ping(self) -> None:
        """A PING gets a PONG carrying its context."""
        protocol, transport = self.handshake()
        protocol.dataReceived(encode_command(b"PING", b"\x00\x0actx"))
        self.assertEqual(transport.value(), encode_command(b"PONG", b"ctx"))
        self.assertFalse(transport.disconnecting)

    def test_unknown_command_ignored(self) -> None:
        """Commands a SUB socket has no use for are ignored after the handshake."""
        protocol, transport = self.handshake()
        protocol.dataReceived(
            encode_command(b"PONG", b"x") + encode_command(b"FUTURE") + hashblock()
        )
        self.assertEqual(len(self.messages), 1)
        self.assertFalse(transport.disconnecting)

    def test_handshake_timeout(self) -> None:
        """A peer that never completes the handshake is dropped after handshake_timeout_s."""
        protocol, transport = self.connect(handshake_timeout_s=5.0)
        protocol.dataReceived(peer_greeting())
        self.clock.advance(4.9)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.2)
        self.assertDropped(transport)

    def test_no_timeout_after_handshake(self) -> None:
        """Once ready, a quiet publisher is not dropped."""
        _, transport = self.handshake()
        self.clock.advance(3600)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_connection_lost(self) -> None:
        """Losing the connection cancels the timer and reports the loss."""
        protocol, _ = self.connect()
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.closed, [protocol])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def garbage(self, data: bytes, handshake: bool = False, **kwargs: Any) -> StringTransport:
        """Feed ``data`` (after the handshake if asked) and return the transport."""
        if handshake:
            protocol, transport = self.handshake()
        else:
            protocol, transport = self.connect(**kwargs)
        protocol.dataReceived(data)
        self.assertDropped(transport)
        protocol.dataReceived(b"more bytes after the error are ignored")
        self.assertEqual(self.messages, [])
        return transport

    def test_not_zmtp(self) -> None:
        """An HTTP server (or anything not starting with 0xFF) is dropped at the first byte."""
        self.garbage(b"H")

    def test_bad_signature_end(self) -> None:
        """A signature not ending in 0x7F is dropped."""
        self.garbage(b"\xff" + bytes(8) + b"\x00")

    def test_old_major_version(self) -> None:
        """A ZMTP 2.0 peer is dropped as soon as its version byte arrives."""
        self.garbage(LIBZMQ_SIGNATURE + b"\x01")

    def test_other_mechanism(self) -> None:
        """A CURVE publisher is dropped."""
        self.garbage(peer_greeting(mechanism=b"CURVE" + bytes(15)))

    def test_wrong_socket_type(self) -> None:
        """A peer that is not PUB/XPUB is dropped."""
        ready = encode_command(b"READY", encode_metadata([(b"Socket-Type", b"REP")]))
        self.garbage(peer_greeting() + ready)

    def test_missing_socket_type(self) -> None:
        """A READY without Socket-Type is dropped."""
        self.garbage(peer_greeting() + encode_command(b"READY"))

    def test_malformed_metadata(self) -> None:
        """READY metadata whose value length runs past the end is dropped."""
        self.garbage(
            peer_greeting() + encode_command(b"READY", b"\x0bSocket-Type\x00\x00\x01\x00PUB")
        )

    def test_message_before_ready(self) -> None:
        """A message frame during the handshake is dropped."""
        self.garbage(peer_greeting() + hashblock())

    def test_other_command_before_ready(self) -> None:
        """A command other than READY during the handshake is dropped."""
        self.garbage(peer_greeting() + encode_command(b"PING", b"\x00\x00"))

    def test_error_command(self) -> None:
        """An ERROR command drops the connection."""
        self.garbage(peer_greeting() + encode_command(b"ERROR", b"\x06denied"))

    def test_reserved_flags(self) -> None:
        """A frame with reserved flag bits is dropped."""
        self.garbage(b"\x80\x00", handshake=True)

    def test_command_with_more(self) -> None:
        """A command frame with MORE is dropped."""
        self.garbage(b"\x05\x05\x04PING", handshake=True)

    def test_empty_command(self) -> None:
        """A command frame with no name is dropped."""
        self.garbage(b"\x04\x00", handshake=True)

    def test_command_name_overrun(self) -> None:
        """A command whose name length runs past its body is dropped."""
        self.garbage(b"\x04\x02\x09P", handshake=True)

    def test_malformed_ping(self) -> None:
        """A PING with a context over 16 bytes is dropped."""
        self.garbage(encode_command(b"PING", b"\x00\x00" + bytes(17)), handshake=True)

    def test_huge_frame_header(self) -> None:
        """A frame announcing more than the cap is dropped on its header, before any body."""
        transport = self.garbage(b"\x02" + (2**63).to_bytes(8, "big"), handshake=True)
        self.assertTrue(transport.disconnected)

    def test_frame_cap(self) -> None:
        """The frame cap is configurable and applies to the frame size."""
        protocol, transport = self.connect(max_frame_bytes=100)
        protocol.dataReceived(peer_greeting() + PUB_READY + b"\x02" + (101).to_bytes(8, "big"))
        self.assertDropped(transport)

    def test_too_many_parts(self) -> None:
        """A multipart message with more parts than the cap is dropped."""
        self.garbage(b"\x01\x00" * 17 + b"\x00\x00", handshake=True)

    def test_metadata_round_trip(self) -> None:
        """parse_metadata reads what encode_metadata writes, and rejects a zero-length name."""
        data = encode_metadata([(b"Socket-Type", b"PUB"), (b"Identity", b"")])
        self.assertEqual(parse_metadata(data), {"socket-type": b"PUB", "identity": b""})
        self.assertRaises(ZMTPError, parse_metadata, b"\x00\x00\x00\x00\x00")
        self.assertRaises(ZMTPError, parse_metadata, b"\x02\xff\xfe\x00\x00\x00\x00")


class SubscriberTests(SynchronousTestCase):
    """HashblockSubscriber on a MemoryReactorClock."""

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.blocks: list[str] = []
        self.subscriber = HashblockSubscriber(
            self.reactor,
            "tcp://127.0.0.1:28332",
            self.blocks.append,
            retry_initial_s=1.0,
            retry_max_s=8.0,
        )
        self.subscriber.startService()

    def connect(self) -> tuple[ZMTPSubscriberProtocol, StringTransport]:
        """Complete the latest connection attempt in memory."""
        host, port, factory, _, _ = self.reactor.tcpClients[-1]
        self.assertEqual((host, port), ("127.0.0.1", 28332))
        protocol: Any = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def subscribed(self) -> tuple[ZMTPSubscriberProtocol, StringTransport]:
        """A connection through the handshake."""
        protocol, transport = self.connect()
        protocol.dataReceived(peer_greeting() + PUB_READY)
        self.assertTrue(self.subscriber.connected)
        return protocol, transport

    def fail_attempt(self) -> None:
        """Make the latest connection attempt fail."""
        _, _, factory, _, _ = self.reactor.tcpClients[-1]
        connector: Any = None
        factory.clientConnectionFailed(connector, Failure(ConnectionRefusedError()))

    def test_on_block(self) -> None:
        """Each hashblock message calls on_block with the hash as display hex."""
        protocol, _ = self.subscribed()
        protocol.dataReceived(hashblock(HASH, 0) + hashblock(bytes(32), 1))
        self.assertEqual(self.blocks, [HASH_HEX, "00" * 32])
        self.assertEqual(self.subscriber.last_sequence, 1)
        self.assertEqual(self.subscriber.missed_notifications, 0)

    def test_sequence_gap(self) -> None:
        """A jump in the sequence counts missed notifications; a restart or wrap does not."""
        protocol, _ = self.subscribed()
        protocol.dataReceived(hashblock(sequence=10) + hashblock(sequence=13))
        self.assertEqual(self.subscriber.missed_notifications, 2)
        protocol.dataReceived(hashblock(sequence=0))
        self.assertEqual(self.subscriber.missed_notifications, 2)
        protocol.dataReceived(hashblock(sequence=0xFFFFFFFE) + hashblock(sequence=0xFFFFFFFF))
        protocol.dataReceived(hashblock(sequence=0) + hashblock(sequence=3))
        self.assertEqual(self.subscriber.missed_notifications, 4)
        self.assertEqual(self.subscriber.last_sequence, 3)
        self.assertEqual(len(self.blocks), 7)

    def test_other_topics_and_malformed(self) -> None:
        """Other topics and malformed hashblocks are ignored; the connection stays."""
        protocol, transport = self.subscribed()
        protocol.dataReceived(
            b"\x01\x06hashtx\x01\x20"
            + HASH
            + b"\x00\x04\x00\x00\x00\x00"
            + b"\x01\x09hashblock\x00\x03abc"
            + b"\x00\x09hashblock"
            + hashblock()
        )
        self.assertEqual(self.blocks, [HASH_HEX])
        self.assertFalse(transport.disconnecting)

    def test_two_part_hashblock(self) -> None:
        """A hashblock without a sequence frame is still delivered."""
        protocol, _ = self.subscribed()
        protocol.dataReceived(b"\x01\x09hashblock\x00\x20" + HASH)
        self.assertEqual(self.blocks, [HASH_HEX])

    def test_handler_error(self) -> None:
        """An exception in on_block is logged and the next block still arrives."""
        calls: list[str] = []

        def explode(block_hash: str) -> None:
            calls.append(block_hash)
            raise RuntimeError("consumer bug")

        self.subscriber._on_block = explode
        protocol, transport = self.subscribed()
        protocol.dataReceived(hashblock(sequence=0) + hashblock(sequence=1))
        self.assertEqual(len(calls), 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)
        self.assertFalse(transport.disconnecting)

    def test_connect_retry_backoff(self) -> None:
        """Failed connects are retried after 1, 2, 4, 8, 8 s."""
        delays = []
        for _ in range(5):
            attempts = len(self.reactor.tcpClients)
            self.fail_attempt()
            delay = self.reactor.getDelayedCalls()[0].getTime() - self.reactor.seconds()
            delays.append(delay)
            self.reactor.advance(delay)
            self.assertEqual(len(self.reactor.tcpClients), attempts + 1)
        self.assertEqual(delays, [1.0, 2.0, 4.0, 8.0, 8.0])

    def test_reconnect_after_loss(self) -> None:
        """A subscription that drops is re-established, back-off reset by the handshake."""
        self.fail_attempt()
        self.reactor.advance(1.0)
        self.fail_attempt()
        self.reactor.advance(2.0)
        protocol, _ = self.subscribed()
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertFalse(self.subscriber.connected)
        self.reactor.advance(0.99)
        attempts = len(self.reactor.tcpClients)
        self.reactor.advance(0.02)
        self.assertEqual(len(self.reactor.tcpClients), attempts + 1)
        protocol, _ = self.subscribed()
        protocol.dataReceived(hashblock())
        self.assertEqual(self.blocks, [HASH_HEX])

    def test_garbage_peer_backs_off(self) -> None:
        """A peer that keeps failing the handshake is retried with growing delays."""
        for expected in (1.0, 2.0, 4.0):
            protocol, _ = self.connect()
            protocol.dataReceived(b"GET / HTTP/1.1\r\n")
            protocol.connectionLost(Failure(ConnectionDone()))
            delay = self.reactor.getDelayedCalls()[0].getTime() - self.reactor.seconds()
            self.assertEqual(delay, expected)
            self.reactor.advance(delay)

    def test_stop(self) -> None:
        """Stopping closes the connection and schedules nothing more."""
        protocol, transport = self.subscribed()
        d = self.subscriber.stopService()
        self.assertTrue(transport.disconnecting)
        self.assertNoResult(d)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(d)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_stop_while_waiting(self) -> None:
        """Stopping during a retry wait cancels the retry."""
        self.fail_attempt()
        self.successResultOf(self.subscriber.stopService())
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_endpoint_urls(self) -> None:
        """tcp:// IPv4, IPv6 and host names and ipc:// paths make the right endpoints."""
        reactor = MemoryReactorClock()
        self.assertIsInstance(
            endpoint_from_url(reactor, "tcp://10.1.2.3:1"), endpoints.TCP4ClientEndpoint
        )
        self.assertIsInstance(
            endpoint_from_url(reactor, "tcp://[::1]:28332"), endpoints.TCP6ClientEndpoint
        )
        self.assertIsInstance(
            endpoint_from_url(reactor, "tcp://node:28332"), endpoints.HostnameEndpoint
        )
        self.assertIsInstance(
            endpoint_from_url(reactor, "ipc:///run/b.sock"), endpoints.UNIXClientEndpoint
        )
        for bad in (
            "127.0.0.1:28332",
            "udp://a:1",
            "tcp://a",
            "tcp://:1",
            "tcp://a:0",
            "tcp://a:x",
            "tcp://a:\u00b2",
        ):
            self.assertRaises(ConfigError, endpoint_from_url, reactor, bad)


class LibzmqTests(TestCase):
    """Interoperability with a real libzmq PUB socket (what bitcoind runs)."""

    def setUp(self) -> None:
        try:
            import zmq
        except ImportError:
            raise self.skipTest("pyzmq (test dependency) is not installed") from None
        self.zmq = zmq
        self.context = zmq.Context()
        self.addCleanup(self.context.destroy, linger=0)
        self.publisher = self.context.socket(zmq.PUB)
        self.port = self.publisher.bind_to_random_port("tcp://127.0.0.1")

    async def rebind(self) -> None:
        """A new PUB socket on the same port, as a restarted bitcoind would open.

        libzmq releases the old listening socket in its I/O thread, so the bind is
        retried on the reactor until the port is free again.
        """
        from twisted.internet import reactor

        self.publisher.close(linger=0)
        self.publisher = self.context.socket(self.zmq.PUB)
        for _ in range(200):
            try:
                self.publisher.bind(f"tcp://127.0.0.1:{self.port}")
                return
            except self.zmq.ZMQError:
                await task.deferLater(reactor, 0.05, lambda: None)
        self.fail("the publisher port did not become free")

    async def receive(self, subscriber_blocks: list[str], count: int, publish: Any) -> None:
        """Publish every 50 ms until ``count`` blocks have arrived (slow joiners miss the first)."""
        from twisted.internet import reactor

        done: defer.Deferred[None] = defer.Deferred()

        def tick() -> None:
            if len(subscriber_blocks) >= count:
                loop.stop()
                if not done.called:
                    done.callback(None)
                return
            publish()

        loop = task.LoopingCall(tick)
        loop.clock = reactor
        loop.start(0.05)
        done.addTimeout(10, reactor)
        try:
            await done
        finally:
            if loop.running:
                loop.stop()

    def start(self, minor: int) -> tuple[HashblockSubscriber, list[str]]:
        """A subscriber for our PUB socket."""
        from twisted.internet import reactor

        blocks: list[str] = []
        subscriber = HashblockSubscriber(
            reactor,
            f"tcp://127.0.0.1:{self.port}",
            blocks.append,
            zmtp_minor_version=minor,
            retry_initial_s=0.05,
            retry_max_s=0.2,
        )
        subscriber.startService()
        self.addCleanup(subscriber.stopService)
        return subscriber, blocks

    async def check_hashblock(self, minor: int) -> None:
        """Only hashblock messages arrive, in display hex, with their sequence."""
        subscriber, blocks = self.start(minor)
        sequence = [0]

        def publish() -> None:
            self.publisher.send_multipart([b"hashtx", bytes(32), b"\x00" * 4])
            self.publisher.send_multipart([b"hashblock", HASH, sequence[0].to_bytes(4, "little")])
            sequence[0] += 1

        await self.receive(blocks, 3, publish)
        self.assertEqual(blocks[:3], [HASH_HEX] * 3)
        self.assertIsNotNone(subscriber.last_sequence)
        self.assertEqual(subscriber.missed_notifications, 0)

    async def test_zmtp_31(self) -> None:
        """Against libzmq under ZMTP 3.1 (SUBSCRIBE command) hashblocks arrive."""
        await self.check_hashblock(1)

    async def test_zmtp_30(self) -> None:
        """Against libzmq under ZMTP 3.0 (subscription message) hashblocks arrive."""
        await self.check_hashblock(0)

    async def test_publisher_restart(self) -> None:
        """When bitcoind restarts (a new PUB on the same port) the subscriber reconnects."""
        subscriber, blocks = self.start(1)
        await self.receive(
            blocks, 1, lambda: self.publisher.send_multipart([b"hashblock", HASH, b"\x00" * 4])
        )
        await self.rebind()
        other = bytes(31) + b"\x01"
        await self.receive(
            blocks,
            len(blocks) + 1,
            lambda: self.publisher.send_multipart([b"hashblock", other, b"\x00" * 4]),
        )
        self.assertEqual(blocks[-1], other.hex())
