"""The embedded chain's timer as a twistd service."""

from __future__ import annotations

from twisted.application import service

from tbgpool.chain.embedded import EmbeddedChain


class EmbeddedChainService(service.Service):
    """Starts and stops the embedded chain's "network block" timer with the pool."""

    def __init__(self, chain: EmbeddedChain) -> None:
        self.chain = chain

    def startService(self) -> None:
        """Start producing network blocks (when the chain has an interval set)."""
        super().startService()
        self.chain.start()

    def stopService(self) -> None:
        """Stop producing network blocks."""
        super().stopService()
        self.chain.stop()
