"""TLS for the Stratum listeners: the server's TLS policy, and a deadline on the handshake.

Policy (see docs/tls.md for the reasoning): TLS 1.2 at least, TLS 1.3 offered
(OpenSSL picks it whenever the miner offers it); for TLS 1.2 only forward-secret
ECDHE key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305), the server's
order preferred; the whole chain sent; no compression, no renegotiation; session
tickets allowed, so a reconnecting miner resumes without a full handshake.

A connection whose handshake has not finished ``handshake_timeout_s`` after it
was accepted is aborted: a half-open handshake otherwise holds a socket and an
OpenSSL object for as long as the client likes.
"""

from __future__ import annotations

from collections.abc import Callable

from OpenSSL import SSL
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHandshakeListener,
    IProtocolFactory,
    IReactorTime,
    ITransport,
)
from twisted.internet.protocol import connectionDone
from twisted.internet.ssl import AcceptableCiphers, CertificateOptions, TLSVersion
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from tbgpool.config.tls import load_tls_credentials

#: TLS 1.2 cipher suites, in the server's order of preference: ECDHE (forward secrecy)
#: with an AEAD cipher only. TLS 1.3 suites are all AEAD and are OpenSSL's defaults.
TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
#: The limit name reported when a handshake misses its deadline.
HANDSHAKE_TIMEOUT_LIMIT = "tls_handshake_timeout"

#: Called as (limit, host, action) when a limit cuts a connection (``LimitLog.hit``'s shape).
LimitHit = Callable[[str, str, str], None]


def _peer_host(transport: ITransport | None) -> str:
    """The peer's host for logs and limits, or "?"."""
    if transport is None:
        return "?"
    return str(getattr(transport.getPeer(), "host", "?"))


class StratumTLSOptions(CertificateOptions):
    """CertificateOptions whose context also refuses renegotiation."""

    _renegotiation_refused = False

    def getContext(self) -> SSL.Context:
        """The (cached) server context, with renegotiation switched off."""
        context = super().getContext()
        if not self._renegotiation_refused:
            # Client-initiated renegotiation only costs the server CPU; TLS 1.3 has none.
            # Set once, before the first connection: pyOpenSSL then freezes the context.
            context.set_options(SSL.OP_NO_RENEGOTIATION)
            self._renegotiation_refused = True
        return context


def tls_options(certificate_path: str, key_path: str) -> CertificateOptions:
    """The pool's server TLS options for a PEM chain (leaf first) and its PEM key."""
    credentials = load_tls_credentials(certificate_path, key_path)
    return StratumTLSOptions(
        privateKey=credentials.private_key,
        certificate=credentials.certificate,
        extraCertChain=list(credentials.chain),
        raiseMinimumTo=TLSVersion.TLSv1_2,
        acceptableCiphers=AcceptableCiphers.fromOpenSSLCipherString(TLS12_CIPHERS),
        enableSessionTickets=True,
    )


@implementer(IHandshakeListener)
class HandshakeDeadlineProtocol(ProtocolWrapper):
    """Sits between the TLS layer and Stratum; aborts if the handshake is not done in time."""

    _log = Logger()
    factory: HandshakeDeadlineFactory
    _deadline: IDelayedCall | None = None

    def makeConnection(self, transport: ITransport) -> None:
        """Start the handshake clock, then connect the Stratum protocol."""
        self._deadline = self.factory.clock.callLater(
            self.factory.handshake_timeout_s, self._handshake_expired
        )
        super().makeConnection(transport)

    def handshakeCompleted(self) -> None:
        """The TLS handshake finished: stop the clock, and pass the news on."""
        self._cancel_deadline()
        if IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Stop the clock and tell the Stratum protocol."""
        self._cancel_deadline()
        super().connectionLost(reason)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def _handshake_expired(self) -> None:
        self._deadline = None
        host = _peer_host(self.transport)
        self.factory.limit_hit(HANDSHAKE_TIMEOUT_LIMIT, host, "TLS handshake not done: aborted")
        assert self.transport is not None
        self.transport.abortConnection()  # type: ignore[attr-defined]


def _log_limit_hit(limit: str, host: str, action: str) -> None:
    """The default limit hook: log the hit."""
    HandshakeDeadlineProtocol._log.info(
        "limit {limit} hit by {host}: {action}", limit=limit, host=host, action=action
    )


class HandshakeDeadlineFactory(WrappingFactory[HandshakeDeadlineProtocol]):
    """Wraps each Stratum protocol in a :class:`HandshakeDeadlineProtocol`."""

    protocol = HandshakeDeadlineProtocol  # type: ignore[assignment]

    def __init__(
        self,
        wrapped_factory: IProtocolFactory,
        clock: IReactorTime,
        handshake_timeout_s: float,
        limit_hit: LimitHit | None = None,
    ) -> None:
        super().__init__(wrapped_factory)
        self.clock = clock
        self.handshake_timeout_s = handshake_timeout_s
        self.limit_hit: LimitHit = limit_hit or _log_limit_hit

    def buildProtocol(self, addr: IAddress | None) -> ProtocolWrapper | None:  # type: ignore[override]
        """A wrapped protocol, or None when the wrapped factory refuses the connection."""
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        return self.protocol(self, wrapped)


class StratumTLSFactory(TLSMemoryBIOFactory):
    """TLSMemoryBIOFactory that passes on a refusal (None) of the factory it wraps."""

    def buildProtocol(self, addr: IAddress | None) -> TLSMemoryBIOProtocol | None:  # type: ignore[override]
        """A TLS protocol over the wrapped one, or None when the wrapped factory refuses."""
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        return self.protocol(self, wrapped)


def tls_server_factory(
    options: CertificateOptions,
    factory: IProtocolFactory,
    clock: IReactorTime,
    handshake_timeout_s: float,
    limit_hit: LimitHit | None = None,
) -> TLSMemoryBIOFactory:
    """``factory`` behind TLS with ``options``, its handshakes aborted after the deadline."""
    deadline = HandshakeDeadlineFactory(factory, clock, handshake_timeout_s, limit_hit)
    return StratumTLSFactory(options, False, deadline, clock=clock)
