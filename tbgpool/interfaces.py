"""The seams of tbgpool, as zope Interfaces.

Fakes implementing them live in :mod:`tbgpool.testing`.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class IBitcoinRPC(Interface):
    """Something that answers Bitcoin Core JSON-RPC calls.

    Implemented by the HTTP client for a real ``bitcoind``
    (:class:`tbgpool.bitcoind.rpc.BitcoindRPC`) and by the embedded chain
    (:class:`tbgpool.chain.embedded.EmbeddedChain`).
    """

    name = Attribute("A short label for logs, e.g. '127.0.0.1:8332' or 'embedded'.")

    def call(method: str, params: list[object] | None = None):  # type: ignore[no-untyped-def]
        """Call ``method`` with positional ``params``.

        Returns a Deferred firing with the JSON-decoded ``result``. It fails with
        :class:`tbgpool.errors.RPCError` when the node answers with a JSON-RPC error
        (carrying Core's ``code`` and ``message``) and with
        :class:`tbgpool.errors.RPCUnavailable` when the node cannot be reached, times
        out, or answers something that is not JSON-RPC.
        """


class ITemplateConsumer(Interface):
    """The Stratum side: takes block templates in, sends jobs out."""

    def templateReceived(template):  # type: ignore[no-untyped-def]
        """A new :class:`tbgpool.template.BlockTemplate` is available."""

    def backendStatusChanged(connected):  # type: ignore[no-untyped-def]
        """The template source lost (False) or regained (True) its node."""


class ITemplateSource(Interface):
    """The node side: produces block templates and takes found blocks back.

    Only message-shaped values cross this seam (templates, block hex, result
    strings), so a later issue can put the two sides in separate processes.
    """

    def addConsumer(consumer):  # type: ignore[no-untyped-def]
        """Deliver every future template to ``consumer`` (an ITemplateConsumer)."""

    def submitBlock(block_hex: str):  # type: ignore[no-untyped-def]
        """Submit a serialized block; Deferred firing with Core's submitblock result.

        ``None`` means accepted; a string is Core's reason ("duplicate",
        "inconclusive", "high-hash", ...). Fails with RPCUnavailable/RPCError when
        no node could take it.
        """

    def refresh():  # type: ignore[no-untyped-def]
        """Fetch a new template now (for example after a block was found)."""

    tip_seen_at = Attribute(
        "When the tip of the newest template was first seen (ZMQ notice, poll or template), "
        "in clock seconds; None before the first template."
    )


class IMinerConnection(Interface):
    """What a Stratum session needs of its transport: send lines, hang up."""

    peer = Attribute("The miner's address as text, for logs.")

    def sendMessage(line: bytes):  # type: ignore[no-untyped-def]
        """Queue one newline-terminated line to the miner."""

    def disconnect(reason: str):  # type: ignore[no-untyped-def]
        """Close the connection after flushing what is queued."""

    def abort(reason: str):  # type: ignore[no-untyped-def]
        """Close the connection now, dropping what is queued (a reader that never reads)."""


class IEventSink(Interface):
    """Where the pool's mining events go (the Unix-socket emitter, or nowhere)."""

    def wants(event_type: str):  # type: ignore[no-untyped-def]
        """Whether events of ``event_type`` are wanted; producers skip building the rest."""

    def emit(event_type: str, data: dict, validated_at: float | None = None):  # type: ignore[no-untyped-def]
        """Send one event (never raises, never blocks); ``validated_at`` starts its latency."""
