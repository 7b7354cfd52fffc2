"""The PROXY protocol (HAProxy's v1 text and v2 binary headers) in front of Stratum.

A load balancer in ``trusted_proxies`` opens each connection with a header naming
the miner's real address. :class:`ProxyProtocolFactory` reads that header from
connections whose peer is a trusted proxy, strictly (a malformed header, or none
within :data:`HEADER_TIMEOUT_S`, aborts the connection), and only then builds the
next protocol, so everything behind it, per-IP limits included, sees the miner's
address as ``transport.getPeer()``. Connections from any other address go straight
to the next factory, unparsed: a "PROXY" line from an untrusted client is just
junk for the Stratum layer.

The header format is HAProxy's specification, "The PROXY protocol, versions 1 & 2".
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from twisted.internet import address as twisted_address
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IProtocol,
    IProtocolFactory,
    IReactorTime,
    ITransport,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import directlyProvides, providedBy

from tbgpool.limits import address_in

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: A header must be complete this long after the connection was accepted.
HEADER_TIMEOUT_S: Final = 10.0
#: v1: "PROXY " then the rest of one CRLF-terminated line, at most 107 bytes in all.
V1_PREFIX: Final = b"PROXY "
V1_MAX_BYTES: Final = 107
#: v2: the 12-byte signature, version/command, family/protocol and a 2-byte length.
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED_BYTES: Final = 16
#: v2 addresses and TLVs: 216 bytes of Unix addresses plus room for a cloud's TLVs.
V2_MAX_PAYLOAD_BYTES: Final = 2048
#: Limit names reported to the limit hook.
INVALID_HEADER_LIMIT: Final = "proxy_header_invalid"
HEADER_TIMEOUT_LIMIT: Final = "proxy_header_timeout"

_V2_VERSION = 2
_V2_LOCAL, _V2_PROXY = 0, 1
_AF_UNSPEC, _AF_INET, _AF_INET6, _AF_UNIX = 0, 1, 2, 3
_STREAM = 1
_V2_ADDRESS_BYTES = {_AF_INET: 12, _AF_INET6: 36}
_V1_PORT = re.compile(rb"0|[1-9][0-9]{0,4}")
_V1_ADDRESS_TYPES: dict[bytes, type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]] = {
    b"TCP4": ipaddress.IPv4Address,
    b"TCP6": ipaddress.IPv6Address,
}

#: Called as (limit, host, action) when a header is refused (``LimitLog.hit``'s shape).
LimitHit = Callable[[str, str, str], None]


class ProxyHeaderError(ValueError):
    """The bytes are not a valid PROXY protocol header; the message says why."""


@dataclass(frozen=True)
class ProxyHeader:
    """A parsed header: its length in bytes and the client's address and port.

    ``source`` is None for v1 ``UNKNOWN``, v2 ``LOCAL`` (a health check) and v2
    ``UNSPEC``: the connection is then the proxy's own.
    """

    length: int
    source: tuple[IPAddress, int] | None = None
    destination: tuple[IPAddress, int] | None = None


def _port(text: bytes) -> int:
    """A v1 port: decimal, no leading zero, 0..65535."""
    if not _V1_PORT.fullmatch(text) or int(text) > 65535:
        raise ProxyHeaderError(f"bad port {text[:8]!r}")
    return int(text)


def _v1_address(kind: bytes, text: bytes) -> IPAddress:
    """A v1 address of the family the protocol word names, in its canonical text form."""
    if b"%" in text:
        raise ProxyHeaderError("an address must not carry a scope (%)")
    try:
        return _V1_ADDRESS_TYPES[kind](text.decode("ascii"))
    except ValueError:
        raise ProxyHeaderError(f"bad {kind.decode()} address {text[:45]!r}") from None


def _unmapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it stands for."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _parse_v1(data: bytes) -> ProxyHeader | None:
    """A v1 text header at the start of ``data``, or None while its line is incomplete."""
    end = data.find(b"\n", 0, V1_MAX_BYTES)
    if end < 0:
        if len(data) >= V1_MAX_BYTES:
            raise ProxyHeaderError(f"v1 header longer than {V1_MAX_BYTES} bytes")
        return None
    if data[end - 1 : end] != b"\r":
        raise ProxyHeaderError("v1 header line does not end with CRLF")
    line = data[len(V1_PREFIX) : end - 1]
    if any(byte < 0x20 or byte > 0x7E for byte in line):
        raise ProxyHeaderError("v1 header holds a byte that is not printable ASCII")
    fields = line.split(b" ")
    if fields[0] == b"UNKNOWN":
        # The specification: whatever follows UNKNOWN is ignored; use the real connection.
        return ProxyHeader(length=end + 1)
    if fields[0] not in _V1_ADDRESS_TYPES:
        raise ProxyHeaderError(f"v1 protocol must be TCP4, TCP6 or UNKNOWN, got {fields[0][:8]!r}")
    if len(fields) != 5:
        raise ProxyHeaderError("v1 header needs exactly: protocol, source, destination, ports")
    kind, source, destination, source_port, destination_port = fields
    return ProxyHeader(
        length=end + 1,
        source=(_unmapped(_v1_address(kind, source)), _port(source_port)),
        destination=(_unmapped(_v1_address(kind, destination)), _port(destination_port)),
    )


def _v2_addresses(family: int, block: bytes) -> tuple[tuple[IPAddress, int], tuple[IPAddress, int]]:
    """Source and destination from a v2 INET or INET6 address block."""
    size = 4 if family == _AF_INET else 16
    make = ipaddress.IPv4Address if family == _AF_INET else ipaddress.IPv6Address
    source = _unmapped(make(block[:size]))
    destination = _unmapped(make(block[size : 2 * size]))
    ports = block[2 * size : 2 * size + 4]
    return (
        (source, int.from_bytes(ports[:2], "big")),
        (destination, int.from_bytes(ports[2:], "big")),
    )


def _parse_v2(data: bytes) -> ProxyHeader | None:
    """A v2 binary header at the start of ``data``, or None while it is incomplete."""
    if len(data) <= len(V2_SIGNATURE):
        return None
    version, command = data[12] >> 4, data[12] & 0x0F
    if version != _V2_VERSION:
        raise ProxyHeaderError(f"v2 version must be 2, got {version}")
    if command not in (_V2_LOCAL, _V2_PROXY):
        raise ProxyHeaderError(f"v2 command must be LOCAL or PROXY, got {command}")
    if len(data) < V2_FIXED_BYTES:
        return None
    family, transport = data[13] >> 4, data[13] & 0x0F
    length = int.from_bytes(data[14:16], "big")
    if length > V2_MAX_PAYLOAD_BYTES:
        raise ProxyHeaderError(f"v2 header announces {length} bytes, more than allowed")
    if command == _V2_PROXY:
        if family not in (_AF_UNSPEC, _AF_INET, _AF_INET6):
            name = "AF_UNIX" if family == _AF_UNIX else f"unknown family {family}"
            raise ProxyHeaderError(f"v2 address family {name} is not supported")
        if family != _AF_UNSPEC and transport != _STREAM:
            raise ProxyHeaderError(f"v2 transport must be STREAM (TCP), got {transport}")
        needed = _V2_ADDRESS_BYTES.get(family, 0)
        if length < needed:
            raise ProxyHeaderError(f"v2 length {length} is shorter than its addresses ({needed})")
    if len(data) < V2_FIXED_BYTES + length:
        return None
    total = V2_FIXED_BYTES + length
    if command == _V2_LOCAL or family == _AF_UNSPEC:
        # LOCAL: the proxy's own connection (a health check); UNSPEC: nothing to say.
        return ProxyHeader(length=total)
    source, destination = _v2_addresses(family, data[V2_FIXED_BYTES:total])
    return ProxyHeader(length=total, source=source, destination=destination)


def parse_proxy_header(data: bytes) -> ProxyHeader | None:
    """The PROXY header at the start of ``data``; None while incomplete; ProxyHeaderError if bad.

    Bytes past the header are left alone (``header.length`` says where it ends). A
    prefix that can no longer become a valid header is refused at once, so a client
    sending junk is turned away without waiting for the timeout.
    """
    if not data:
        return None
    if data[:1] == V1_PREFIX[:1]:
        if data[: len(V1_PREFIX)] != V1_PREFIX[: min(len(data), len(V1_PREFIX))]:
            raise ProxyHeaderError("not a PROXY header: bad v1 signature")
        return _parse_v1(data) if len(data) > len(V1_PREFIX) else None
    if data[:1] == V2_SIGNATURE[:1]:
        if data[: len(V2_SIGNATURE)] != V2_SIGNATURE[: min(len(data), len(V2_SIGNATURE))]:
            raise ProxyHeaderError("not a PROXY header: bad v2 signature")
        return _parse_v2(data)
    raise ProxyHeaderError("not a PROXY header: it must start with 'PROXY ' or the v2 signature")


def _twisted_address(address: IPAddress, port: int) -> IAddress:
    """A Twisted TCP address object for ``address``:``port``."""
    if isinstance(address, ipaddress.IPv4Address):
        return twisted_address.IPv4Address("TCP", str(address), port)
    return twisted_address.IPv6Address("TCP", str(address), port)


def _host_of(addr: IAddress | None) -> str:
    """The host of a Twisted address, for logs and limits, or "?"."""
    return str(getattr(addr, "host", "?"))


class ProxyHeaderProtocol(ProtocolWrapper):
    """Reads a trusted proxy's header, then connects the next protocol as the real client."""

    _log = Logger()
    factory: ProxyProtocolFactory

    def __init__(self, factory: ProxyProtocolFactory) -> None:
        # No wrapped protocol until the header says who the client is.
        self.wrappedProtocol: IProtocol | None = None  # type: ignore[assignment]
        self.factory = factory
        self._buffer = b""
        self._client: IAddress | None = None
        self._deadline: IDelayedCall | None = None
        self._refused = False

    def logPrefix(self) -> str:
        """The next protocol's log prefix once there is one."""
        if self.wrappedProtocol is None:
            return type(self).__name__
        return super().logPrefix()  # type: ignore[no-any-return]

    def makeConnection(self, transport: ITransport) -> None:
        """Take the transport and start the header clock; the next protocol waits."""
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self._deadline = self.factory.clock.callLater(HEADER_TIMEOUT_S, self._header_timed_out)

    def getPeer(self) -> IAddress:
        """The client's address from the header (the proxy's until then, or for LOCAL)."""
        if self._client is not None:
            return self._client
        assert self.transport is not None
        return self.transport.getPeer()

    def dataReceived(self, data: bytes) -> None:
        """Collect the header; once it is whole, connect the next protocol and pass the rest on."""
        if self.wrappedProtocol is not None:
            self.wrappedProtocol.dataReceived(data)
            return
        if self._refused:
            return
        self._buffer += data
        try:
            header = parse_proxy_header(self._buffer)
        except ProxyHeaderError as e:
            self._refuse(INVALID_HEADER_LIMIT, f"invalid PROXY header ({e}): aborted")
            return
        if header is None:
            return
        self._cancel_deadline()
        rest, self._buffer = self._buffer[header.length :], b""
        assert self.transport is not None
        proxy = self.transport.getPeer()
        if header.source is not None:
            self._client = _twisted_address(*header.source)
        self._connect_next(proxy, rest)

    def _connect_next(self, proxy: IAddress, rest: bytes) -> None:
        """Build and connect the next protocol for the client the header named."""
        assert self.transport is not None
        wrapped = self.factory.wrappedFactory.buildProtocol(self.getPeer())
        if wrapped is None:
            # Refused by the next factory (the pool is full): close as a listener would.
            self._refused = True
            self.transport.loseConnection()
            return
        self._log.debug(
            "{proxy} forwards {client}", proxy=_host_of(proxy), client=_host_of(self.getPeer())
        )
        self.wrappedProtocol = wrapped
        wrapped.makeConnection(self)
        if rest and not self.disconnecting:
            wrapped.dataReceived(rest)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Stop the clock; tell the next protocol, if it was ever connected."""
        self._cancel_deadline()
        self.factory.unregisterProtocol(self)
        wrapped, self.wrappedProtocol = self.wrappedProtocol, None
        if wrapped is not None:
            wrapped.connectionLost(reason)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def _header_timed_out(self) -> None:
        self._deadline = None
        self._refuse(
            HEADER_TIMEOUT_LIMIT, f"no PROXY header within {HEADER_TIMEOUT_S:g} s: aborted"
        )

    def _refuse(self, limit: str, action: str) -> None:
        """Count the refusal and drop the connection without a word."""
        self._refused = True
        self._buffer = b""
        self._cancel_deadline()
        assert self.transport is not None
        self.factory.count_refusal(limit, _host_of(self.transport.getPeer()), action)
        self.transport.abortConnection()  # type: ignore[attr-defined]


def _log_limit_hit(limit: str, host: str, action: str) -> None:
    """The default limit hook: log the hit."""
    ProxyHeaderProtocol._log.warn(
        "limit {limit} hit by {host}: {action}", limit=limit, host=host, action=action
    )


class ProxyProtocolFactory(WrappingFactory[ProxyHeaderProtocol]):
    """In front of ``wrapped_factory``: PROXY headers from trusted proxies, others untouched."""

    protocol = ProxyHeaderProtocol  # type: ignore[assignment]

    def __init__(
        self,
        wrapped_factory: IProtocolFactory,
        trusted_networks: Iterable[IPNetwork],
        clock: IReactorTime,
        limit_hit: LimitHit | None = None,
    ) -> None:
        super().__init__(wrapped_factory)
        self._trusted = tuple(trusted_networks)
        self.clock = clock
        self._limit_hit: LimitHit = limit_hit or _log_limit_hit
        #: Refused headers so far, by limit name.
        self.refusals: Counter[str] = Counter()

    def is_trusted(self, addr: IAddress | None) -> bool:
        """Whether ``addr`` is a TCP peer inside a trusted network (IPv4-mapped counts as IPv4)."""
        host = getattr(addr, "host", None)
        return isinstance(host, str) and address_in(host, self._trusted)

    def buildProtocol(self, addr: IAddress | None) -> IProtocol | None:  # type: ignore[override]
        """A header reader for a trusted proxy; for anyone else, the next factory's protocol."""
        if self.is_trusted(addr):
            return ProxyHeaderProtocol(self)
        return self.wrappedFactory.buildProtocol(addr)  # type: ignore[no-any-return]

    def count_refusal(self, limit: str, host: str, action: str) -> None:
        """Count a refused header and report it to the limit hook."""
        self.refusals[limit] += 1
        self._limit_hit(limit, host, action)
