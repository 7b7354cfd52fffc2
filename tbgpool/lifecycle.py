"""Small services that tie plain objects to the application's start and stop."""

from __future__ import annotations

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
