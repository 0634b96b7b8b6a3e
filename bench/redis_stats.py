"""Redis commands run between two points: ``INFO commandstats`` before and after."""

from collections.abc import Mapping
from typing import cast

import redis

SKIPPED = frozenset({"info"})
"""Our own probe is not the system's work."""


def command_counts(url: str) -> dict[str, int]:
    """Calls per command so far on the server at ``url``."""
    client = redis.Redis.from_url(url)
    try:
        stats = cast(Mapping[str, Mapping[str, int]], client.info("commandstats"))
    finally:
        client.close()
    return {
        name.removeprefix("cmdstat_"): int(fields["calls"])
        for name, fields in stats.items()
        if name.removeprefix("cmdstat_") not in SKIPPED
    }


def difference(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """Calls per command between the two counts (commands with calls only)."""
    diff = {name: after[name] - before.get(name, 0) for name in after}
    return {name: calls for name, calls in diff.items() if calls > 0}
