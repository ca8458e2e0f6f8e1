"""settle_heap moves what exists at start-up out of the collector's sight."""

from __future__ import annotations

import gc

from envwatch.core.heap import settle_heap


def test_settle_heap_freezes_the_objects_alive_now() -> None:
    try:
        frozen = settle_heap()
        assert frozen > 1000  # at least the imported modules' objects
        # not equal to frozen: frozen objects may die meanwhile (another test's server threads run on)
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()  # the test process goes on making and dropping objects
    assert gc.get_freeze_count() == 0
