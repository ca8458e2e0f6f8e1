"""bench/ingest.py's CPU accounting: what each process of the gateway's tree used, read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench.ingest import cpu_seconds

# a parent that burns CPU for a while with a sleeping child (the writer process stands for the child)
_TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
print(child.pid, flush=True)
end = time.process_time() + 0.4
while time.process_time() < end:
    pass
print("busy done", flush=True)
time.sleep(30)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux only)")
def test_the_cpu_of_a_process_and_its_children() -> None:
    with subprocess.Popen([sys.executable, "-c", _TREE], stdout=subprocess.PIPE, text=True) as tree:
        child = 0
        try:
            assert tree.stdout is not None
            child = int(tree.stdout.readline())
            assert tree.stdout.readline().strip() == "busy done"
            found = cpu_seconds(tree.pid)
            mine = {int(key.split()[0]): seconds for key, seconds in found.items()}
            assert set(mine) == {tree.pid, child}
            assert mine[tree.pid] >= 0.4  # it burnt 0.4 s of CPU on purpose (plus its start-up)
            assert mine[child] < mine[tree.pid]
            assert all(key.split(" ", 1)[1].startswith("python") for key in found)
        finally:
            if child:
                os.kill(child, signal.SIGKILL)
            tree.kill()
    time.sleep(0.05)
    assert cpu_seconds(tree.pid) == {}  # a process that is gone is not listed
