"""A native Twisted ZMTP 3.x SUB client for Bitcoin Core's ``zmqpubhashblock``.

Core publishes ``[b"hashblock", <32-byte hash, display order>, <uint32 LE sequence>]``
on a libzmq PUB socket. Rather than run libzmq in a thread, this module speaks
the wire protocol itself (RFC 23/ZMTP 3.0 and 37/ZMTP 3.1, NULL mechanism):
the 64-byte greeting, the READY handshake, one subscription, then frames. It is
driven by the reactor, takes an injected clock, and treats anything unexpected
from the peer as a protocol error: log, drop the connection, reconnect later.

Subscriptions are sent the way libzmq itself sends them: as a ``0x01 + topic``
message when ZMTP 3.0 was negotiated, and as a SUBSCRIBE command under 3.1
(libzmq >= 4.3.3 accepts either form; older libzmq only speaks 3.0).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

from twisted.application import service
from twisted.internet import defer, endpoints
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from tbgpool.errors import ConfigError

#: Largest frame (and multipart message) accepted from the peer; a hashblock is 45 bytes.
MAX_FRAME_BYTES = 1024 * 1024
#: Most frames in one multipart message (Core sends 3).
MAX_MESSAGE_PARTS = 16
GREETING_BYTES = 64
HASHBLOCK_TOPIC = b"hashblock"

_SIGNATURE_FIRST = 0xFF
_SIGNATURE_LAST = 0x7F
_FLAG_MORE = 0x01
_FLAG_LONG = 0x02
_FLAG_COMMAND = 0x04
_FLAGS_RESERVED = 0xF8
_NULL_MECHANISM = b"NULL".ljust(20, b"\0")
_PUBLISHER_TYPES = frozenset({b"PUB", b"XPUB"})
_MAX_PING_CONTEXT = 16


class ZMTPError(Exception):
    """The peer broke the ZMTP protocol (the connection is dropped)."""


def encode_frame(body: bytes, *, more: bool = False, command: bool = False) -> bytes:
    """One ZMTP 3 frame: flags, short (1-byte) or long (8-byte) size, body."""
    flags = (_FLAG_MORE if more else 0) | (_FLAG_COMMAND if command else 0)
    if len(body) <= 255:
        return bytes((flags, len(body))) + body
    return bytes((flags | _FLAG_LONG,)) + len(body).to_bytes(8, "big") + body


def encode_command(name: bytes, data: bytes = b"") -> bytes:
    """A command frame: name length, name, command data."""
    return encode_frame(bytes((len(name),)) + name + data, command=True)


def encode_metadata(properties: Sequence[tuple[bytes, bytes]]) -> bytes:
    """READY metadata: (1-byte name length, name, 4-byte value length, value) each."""
    out = bytearray()
    for name, value in properties:
        out += bytes((len(name),)) + name + len(value).to_bytes(4, "big") + value
    return bytes(out)


def parse_metadata(data: bytes) -> dict[str, bytes]:
    """Parse READY metadata; names lower-cased (they are case-insensitive); ZMTPError if bad."""
    properties: dict[str, bytes] = {}
    offset = 0
    while offset < len(data):
        name_length = data[offset]
        name_end = offset + 1 + name_length
        if name_length == 0 or name_end + 4 > len(data):
            raise ZMTPError("malformed READY metadata")
        try:
            name = data[offset + 1 : name_end].decode("ascii").lower()
        except UnicodeDecodeError:
            raise ZMTPError("READY metadata name is not ASCII") from None
        value_length = int.from_bytes(data[name_end : name_end + 4], "big")
        value_end = name_end + 4 + value_length
        if value_end > len(data):
            raise ZMTPError("malformed READY metadata")
        properties[name] = data[name_end + 4 : value_end]
        offset = value_end
    return properties


def greeting(minor_version: int) -> bytes:
    """Our 64-byte greeting: signature, version 3.minor, NULL mechanism, as-server 0, filler."""
    signature = bytes((_SIGNATURE_FIRST,)) + bytes(8) + bytes((_SIGNATURE_LAST,))
    return signature + bytes((3, minor_version)) + _NULL_MECHANISM + b"\0" + bytes(31)


class ZMTPSubscriberProtocol(Protocol):
    """A ZMTP 3.x SUB connection: handshake, subscribe to ``topics``, deliver messages."""

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        topics: Sequence[bytes],
        on_message: Callable[[list[bytes]], None],
        minor_version: int = 1,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        handshake_timeout_s: float = 10.0,
        on_ready: Callable[[ZMTPSubscriberProtocol], None] | None = None,
        on_closed: Callable[[ZMTPSubscriberProtocol], None] | None = None,
    ) -> None:
        if minor_version not in (0, 1):
            raise ValueError("ZMTP minor version must be 0 (3.0) or 1 (3.1)")
        self._clock = clock
        self._topics = list(topics)
        self._on_message = on_message
        self._on_ready = on_ready
        self._on_closed = on_closed
        self._minor_version = minor_version
        self._max_frame_bytes = max_frame_bytes
        self._handshake_timeout_s = handshake_timeout_s
        self._buffer = bytearray()
        self._parts: list[bytes] = []
        self._parts_bytes = 0
        self._state = "greeting"
        self._handshake_timer: IDelayedCall | None = None
        #: ZMTP 3.x minor version agreed with the peer, once its greeting is read.
        self.negotiated_minor: int | None = None
        #: The READY handshake completed and our subscriptions are sent.
        self.ready = False

    def connectionMade(self) -> None:
        """Send our greeting straight away and start the handshake timer."""
        set_keepalive = getattr(self.transport, "setTcpKeepAlive", None)
        if set_keepalive is not None:
            set_keepalive(1)
        self._handshake_timer = self._clock.callLater(
            self._handshake_timeout_s, self._handshake_timed_out
        )
        self.transport.write(greeting(self._minor_version))  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Stop timers and report the loss."""
        self._state = "closed"
        self._buffer.clear()
        self._cancel_handshake_timer()
        if self._on_closed is not None:
            self._on_closed(self)

    def dataReceived(self, data: bytes) -> None:
        """Feed bytes from the peer through the greeting, handshake and frame parsers."""
        if self._state == "closed":
            return
        self._buffer += data
        try:
            self._process()
        except ZMTPError as e:
            self._protocol_error(str(e))

    def _process(self) -> None:
        if self._state == "greeting" and not self._read_greeting():
            return
        offset = 0
        buffer = self._buffer
        while self._state != "closed":
            if len(buffer) - offset < 1:
                break
            flags = buffer[offset]
            if flags & _FLAGS_RESERVED:
                raise ZMTPError(f"reserved frame flag bits set: {flags:#04x}")
            header_bytes = 9 if flags & _FLAG_LONG else 2
            if len(buffer) - offset < header_bytes:
                break
            if flags & _FLAG_LONG:
                size = int.from_bytes(buffer[offset + 1 : offset + 9], "big")
            else:
                size = buffer[offset + 1]
            if size > self._max_frame_bytes:
                raise ZMTPError(f"frame of {size} bytes exceeds {self._max_frame_bytes}")
            end = offset + header_bytes + size
            if len(buffer) < end:
                break
            body = bytes(buffer[offset + header_bytes : end])
            offset = end
            if flags & _FLAG_COMMAND:
                if flags & _FLAG_MORE:
                    raise ZMTPError("command frame with the MORE flag")
                self._command(body)
            else:
                self._message_frame(body, bool(flags & _FLAG_MORE))
        del buffer[:offset]

    def _read_greeting(self) -> bool:
        buffer = self._buffer
        if not buffer:
            return False
        if buffer[0] != _SIGNATURE_FIRST or (len(buffer) >= 10 and buffer[9] != _SIGNATURE_LAST):
            raise ZMTPError("peer did not send a ZMTP 3 greeting")
        if len(buffer) >= 11 and buffer[10] < 3:
            raise ZMTPError(f"peer speaks ZMTP major version {buffer[10]}, we need 3")
        if len(buffer) < GREETING_BYTES:
            return False
        peer_major, peer_minor = buffer[10], buffer[11]
        if bytes(buffer[12:32]) != _NULL_MECHANISM:
            mechanism = bytes(buffer[12:32]).rstrip(b"\0").decode("ascii", "replace")
            raise ZMTPError(f"peer wants security mechanism {mechanism!r}; only NULL is supported")
        del buffer[:GREETING_BYTES]
        self.negotiated_minor = (
            self._minor_version if peer_major > 3 else min(peer_minor, self._minor_version)
        )
        self._state = "handshake"
        self.transport.write(  # type: ignore[union-attr]
            encode_command(b"READY", encode_metadata([(b"Socket-Type", b"SUB")]))
        )
        return True

    def _command(self, body: bytes) -> None:
        name_length = body[0] if body else 0
        if name_length == 0 or len(body) < 1 + name_length:
            raise ZMTPError("malformed command frame")
        name = body[1 : 1 + name_length]
        data = body[1 + name_length :]
        if name == b"ERROR":
            reason = data[1 : 1 + data[0]] if data else b""
            raise ZMTPError(f"peer sent ERROR: {reason.decode('utf-8', 'replace')!r}")
        if self._state == "handshake":
            if name != b"READY":
                raise ZMTPError(f"expected READY, got command {name[:32]!r}")
            self._peer_ready(parse_metadata(data))
        elif name == b"PING":
            if len(data) < 2 or len(data) - 2 > _MAX_PING_CONTEXT:
                raise ZMTPError("malformed PING command")
            self.transport.write(encode_command(b"PONG", data[2:]))  # type: ignore[union-attr]
        # Any other command (PONG, SUBSCRIBE, CANCEL, ...) means nothing to a SUB socket.

    def _peer_ready(self, properties: dict[str, bytes]) -> None:
        socket_type = properties.get("socket-type")
        if socket_type not in _PUBLISHER_TYPES:
            raise ZMTPError(f"peer socket type {socket_type!r} cannot publish to a SUB socket")
        self._cancel_handshake_timer()
        self._state = "ready"
        self.ready = True
        for topic in self._topics:
            if self.negotiated_minor == 0:
                self.transport.write(encode_frame(b"\x01" + topic))  # type: ignore[union-attr]
            else:
                self.transport.write(encode_command(b"SUBSCRIBE", topic))  # type: ignore[union-attr]
        if self._on_ready is not None:
            self._on_ready(self)

    def _message_frame(self, body: bytes, more: bool) -> None:
        if self._state != "ready":
            raise ZMTPError("message frame before the handshake completed")
        self._parts.append(body)
        self._parts_bytes += len(body)
        if len(self._parts) > MAX_MESSAGE_PARTS or self._parts_bytes > self._max_frame_bytes:
            raise ZMTPError("multipart message too large")
        if more:
            return
        parts, self._parts, self._parts_bytes = self._parts, [], 0
        self._on_message(parts)

    def _handshake_timed_out(self) -> None:
        self._handshake_timer = None
        self._protocol_error(f"no ZMTP handshake within {self._handshake_timeout_s:g} s")

    def _cancel_handshake_timer(self) -> None:
        if self._handshake_timer is not None and self._handshake_timer.active():
            self._handshake_timer.cancel()
        self._handshake_timer = None

    def _protocol_error(self, reason: str) -> None:
        if self._state == "closed":
            return
        peer = self.transport.getPeer() if self.transport is not None else None
        self._log.warn("ZMTP protocol error from {peer}: {reason}", peer=str(peer), reason=reason)
        self._state = "closed"
        self._buffer.clear()
        self._cancel_handshake_timer()
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]


def endpoint_from_url(
    reactor: Any, endpoint_url: str, connect_timeout_s: float = 10.0
) -> IStreamClientEndpoint:
    """A client endpoint for a libzmq address: ``tcp://host:port`` or ``ipc:///path``."""
    scheme, sep, rest = endpoint_url.partition("://")
    if sep and scheme == "ipc" and rest:
        return endpoints.UNIXClientEndpoint(reactor, rest, timeout=connect_timeout_s)
    if not sep or scheme != "tcp":
        raise ConfigError("zmqblock", f"{endpoint_url!r} is not tcp://host:port or ipc:///path")
    host, sep, port_text = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    valid_port = port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536
    if not sep or not host or not valid_port:
        raise ConfigError("zmqblock", f"{endpoint_url!r} needs a host and a port")
    port = int(port_text)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return endpoints.HostnameEndpoint(reactor, host, port, timeout=connect_timeout_s)
    if address.version == 6:
        return endpoints.TCP6ClientEndpoint(reactor, host, port, timeout=connect_timeout_s)
    return endpoints.TCP4ClientEndpoint(reactor, host, port, timeout=connect_timeout_s)


class _SubscriberFactory(Factory):
    """Builds configured protocols; quiet, as it starts again on every reconnect."""

    noisy = False

    def __init__(self, build: Callable[[], ZMTPSubscriberProtocol]) -> None:
        self._build = build

    def buildProtocol(self, addr: Any) -> ZMTPSubscriberProtocol:
        return self._build()


class HashblockSubscriber(service.Service):
    """Keeps a ZMTP subscription to Core's hashblock feed and calls ``on_block(hash_hex)``."""

    _log = Logger()

    def __init__(
        self,
        reactor: Any,
        endpoint_url: str,
        on_block: Callable[[str], None],
        *,
        zmtp_minor_version: int = 1,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        handshake_timeout_s: float = 10.0,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        if zmtp_minor_version not in (0, 1):
            raise ConfigError("zmqblock", "ZMTP minor version must be 0 or 1")
        self._reactor: IReactorTime = reactor
        self._endpoint_url = endpoint_url
        self._endpoint = endpoint_from_url(reactor, endpoint_url, connect_timeout_s)
        self._on_block = on_block
        self._minor_version = zmtp_minor_version
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._retry_delay_s = retry_initial_s
        self._handshake_timeout_s = handshake_timeout_s
        self._max_frame_bytes = max_frame_bytes
        self._connecting: defer.Deferred[Any] | None = None
        self._retry_call: IDelayedCall | None = None
        self._protocol: ZMTPSubscriberProtocol | None = None
        self._stop_waiters: list[defer.Deferred[None]] = []
        #: Sequence number of the last hashblock message (Core counts from 0 at start-up).
        self.last_sequence: int | None = None
        #: Notifications we know we missed, from gaps in the sequence.
        self.missed_notifications = 0
        #: A subscription is established right now.
        self.connected = False

    def startService(self) -> None:
        """Connect (and keep reconnecting) to the publisher."""
        super().startService()
        self._retry_delay_s = self._retry_initial_s
        self._connect()

    def stopService(self) -> defer.Deferred[None]:
        """Stop reconnecting and close the connection; fires once it is closed."""
        super().stopService()
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        self._retry_call = None
        if self._connecting is not None:
            self._connecting.cancel()
        if self._protocol is None or self._protocol.transport is None:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._stop_waiters.append(waiter)
        self._protocol.transport.loseConnection()
        return waiter

    def _build_protocol(self) -> ZMTPSubscriberProtocol:
        return ZMTPSubscriberProtocol(
            self._reactor,
            [HASHBLOCK_TOPIC],
            self._message_received,
            minor_version=self._minor_version,
            max_frame_bytes=self._max_frame_bytes,
            handshake_timeout_s=self._handshake_timeout_s,
            on_ready=self._subscribed,
            on_closed=self._closed,
        )

    def _connect(self) -> None:
        self._retry_call = None
        if not self.running:
            return
        d = self._endpoint.connect(_SubscriberFactory(self._build_protocol))
        self._connecting = d
        d.addCallbacks(self._connection_made, self._connect_failed)

    def _connection_made(self, protocol: ZMTPSubscriberProtocol) -> None:
        self._connecting = None
        self._protocol = protocol

    def _connect_failed(self, failure: Failure) -> None:
        self._connecting = None
        if not self.running:
            return
        self._log.warn(
            "cannot connect to ZMQ publisher {endpoint}: {reason}",
            endpoint=self._endpoint_url,
            reason=failure.getErrorMessage(),
        )
        self._schedule_retry()

    def _subscribed(self, protocol: ZMTPSubscriberProtocol) -> None:
        self.connected = True
        self._retry_delay_s = self._retry_initial_s
        self._log.info(
            "subscribed to hashblock at {endpoint} (ZMTP 3.{minor})",
            endpoint=self._endpoint_url,
            minor=protocol.negotiated_minor,
        )

    def _closed(self, protocol: ZMTPSubscriberProtocol) -> None:
        if protocol is self._protocol:
            self._protocol = None
        self.connected = False
        waiters, self._stop_waiters = self._stop_waiters, []
        for waiter in waiters:
            waiter.callback(None)
        if self.running:
            self._log.warn("ZMQ connection to {endpoint} lost", endpoint=self._endpoint_url)
            self._schedule_retry()

    def _schedule_retry(self) -> None:
        if self._retry_call is not None and self._retry_call.active():
            return
        delay_s = self._retry_delay_s
        self._retry_delay_s = min(delay_s * 2, self._retry_max_s)
        self._log.info(
            "reconnecting to {endpoint} in {delay_s:g} s",
            endpoint=self._endpoint_url,
            delay_s=delay_s,
        )
        self._retry_call = self._reactor.callLater(delay_s, self._connect)

    def _message_received(self, parts: list[bytes]) -> None:
        if parts[0] != HASHBLOCK_TOPIC:
            return
        if (
            len(parts) not in (2, 3)
            or len(parts[1]) != 32
            or (len(parts) == 3 and len(parts[2]) != 4)
        ):
            self._log.warn(
                "ignoring malformed hashblock message from {endpoint}: {sizes}",
                endpoint=self._endpoint_url,
                sizes=[len(part) for part in parts],
            )
            return
        if len(parts) == 3:
            self._track_sequence(int.from_bytes(parts[2], "little"))
        block_hash = parts[1].hex()
        self._log.debug("hashblock {block_hash}", block_hash=block_hash)
        try:
            self._on_block(block_hash)
        except Exception:
            self._log.failure("hashblock handler failed for {block_hash}", block_hash=block_hash)

    def _track_sequence(self, sequence: int) -> None:
        previous, self.last_sequence = self.last_sequence, sequence
        if previous is None:
            return
        gap = (sequence - previous - 1) & 0xFFFFFFFF
        if gap == 0:
            return
        if gap < 0x80000000:
            self.missed_notifications += gap
            self._log.warn(
                "missed {count} hashblock notification(s) from {endpoint} (sequence {previous} -> {sequence})",
                count=gap,
                endpoint=self._endpoint_url,
                previous=previous,
                sequence=sequence,
            )
        else:
            self._log.info(
                "hashblock sequence went back from {previous} to {sequence} (bitcoind restarted?)",
                previous=previous,
                sequence=sequence,
            )
