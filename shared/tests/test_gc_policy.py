"""A service's start-up heap is frozen and young collections become rarer."""

import subprocess
import sys

from shared.gc_policy import GEN0_THRESHOLD

PROBE = """
import gc
from shared.gc_policy import freeze_startup_heap
before = gc.get_freeze_count()
freeze_startup_heap()
print(before, gc.get_freeze_count(), *gc.get_threshold())
"""


def test_freezing_keeps_start_up_objects_out_of_collections() -> None:
    # A fresh interpreter: freezing is process-wide and would change this one.
    output = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.split()

    before, frozen, gen0, *_ = map(int, output)
    assert before == 0
    assert frozen > 1000
    assert gen0 == GEN0_THRESHOLD
