"""The garbage collector's settings for a long-running service process.

A service builds most of its objects at start (imported libraries, pydantic
schemas, its app) and then churns through short-lived ones per request and per
token. CPython's collector walks every tracked object on each full collection:
in a worker streaming many runs that was about 30% of its CPU (py-spy --native:
``gc_collect_main``). Freezing the start-up heap keeps those objects out of every
collection, and a larger first-generation threshold makes collections rarer.
Reference counting still frees almost everything at once; the collector only
looks for cycles.
"""

import gc

GEN0_THRESHOLD = 50_000
"""Allocations (minus frees) between two young-generation collections (default 700)."""


def freeze_startup_heap() -> None:
    """Collect once, freeze what survives, and collect the young generation less often.

    Call once, after the service has built its app and before it serves.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
