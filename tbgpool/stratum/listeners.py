"""The Stratum listeners, opened only once the pool has work to hand out."""

from __future__ import annotations

from twisted.application import service
from twisted.logger import Logger

from tbgpool.pool import Pool


class StratumListeners(service.MultiService):
    """Starts its listener services when the pool first has work.

    Until the node has given a first template the pool cannot authorize anyone
    (it does not know the network) nor send work, so it refuses connections and
    miners fail over to their backup pool at once. Once listening, the pool keeps
    serving its current work through node outages.
    """

    _log = Logger()

    def __init__(self, pool: Pool) -> None:
        super().__init__()
        self._pool = pool
        self._stopped = False

    def startService(self) -> None:
        """Open the listeners when the pool is ready (now, if it already is)."""
        self._stopped = False
        self._pool.whenReady().addCallback(self._open)

    def _open(self, _: object) -> None:
        if self._stopped or self.running:
            return
        self._log.info("work available: opening {count} Stratum listener(s)", count=len(self.services))
        service.MultiService.startService(self)

    def stopService(self):  # type: ignore[no-untyped-def]
        """Close the listeners (or never open them)."""
        self._stopped = True
        if self.running:
            return service.MultiService.stopService(self)
        return None
