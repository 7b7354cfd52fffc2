"""Small services that tie plain objects to the application's start and stop."""

from __future__ import annotations

import gc
from collections.abc import Callable

from twisted.application import service


class CloseOnStop(service.Service):
    """Calls ``close`` when the application stops (after the services started later)."""

    def __init__(self, close: Callable[[], None]) -> None:
        self._close = close

    def stopService(self) -> None:
        """Close the object."""
        super().stopService()
        self._close()


class FreezeStartupObjects(service.Service):
    """Moves everything allocated at start-up out of the garbage collector's sight.

    Twisted, the pool's modules and its configuration are some hundred thousand
    long-lived objects; every full collection walks them all (about 20 ms here).
    Frozen, a full collection only walks what the running pool allocated since.
    Added last, so it runs once the other services have started.
    """

    def startService(self) -> None:
        """Collect once, then freeze what survived."""
        super().startService()
        gc.collect()
        gc.freeze()
