"""settle_heap moves what exists at start-up out of the collector's sight.

Run in a fresh interpreter, as in a service that has just started: in the test process, after thousands of
tests, the heap holds millions of objects and one full collection of it took 24 s."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
import envwatch.core.db  # what a service imports before it settles (SQLAlchemy, pydantic)
from envwatch.core.heap import settle_heap
frozen = settle_heap()
assert frozen > 1000, frozen  # at least the imported modules' objects
assert gc.get_freeze_count() >= frozen - 100, (gc.get_freeze_count(), frozen)  # nothing thawed them
garbage = [[i] for i in range(1000)]  # made afterwards: still the collector's
assert gc.get_freeze_count() < frozen + 1000
gc.unfreeze()
assert gc.get_freeze_count() == 0
print(frozen)
"""


def test_settle_heap_freezes_the_objects_alive_now() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 1000
