"""Services that tie plain objects to start and stop."""

from __future__ import annotations

import gc

from twisted.trial.unittest import SynchronousTestCase

from tbgpool.lifecycle import CloseOnStop, FreezeStartupObjects


class CloseOnStopTests(SynchronousTestCase):
    """The object is closed when the application stops, not before."""

    def test_closed_at_stop(self) -> None:
        """close runs once, at stopService"""
        closed: list[bool] = []
        closer = CloseOnStop(lambda: closed.append(True))
        closer.startService()
        self.assertEqual(closed, [])
        closer.stopService()
        self.assertEqual(closed, [True])


class FreezeTests(SynchronousTestCase):
    """Start-up objects leave the collector's sight."""

    def test_freezes(self) -> None:
        """after start, the (tens of thousands of) objects alive then are frozen"""
        self.addCleanup(gc.unfreeze)
        gc.unfreeze()
        self.assertEqual(gc.get_freeze_count(), 0)
        FreezeStartupObjects().startService()
        self.assertGreater(gc.get_freeze_count(), 10_000)
