"""Keeping Python's garbage collector out of the acknowledgement path.

A full (generation 2) collection walks every tracked object; in the gateway that is ~135,000 objects
from imported libraries alone, and it took 65-88 ms each time, several times a minute under load: the
largest part of the ingest benchmark's p99 ack latency. Objects alive once a service has started
(modules, settings, the registry) live for the whole process, so they are moved out of the collector's
sight with ``gc.freeze()``; collection of everything made afterwards goes on as usual.
"""

from __future__ import annotations

import gc


def settle_heap() -> int:
    """Call once a long-running process has started; returns how many objects are now left alone."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
