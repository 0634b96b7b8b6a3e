"""Every Redis key and channel name in one place.

Keys of one run share the hash tag ``{run_id}`` so that they land on one slot in
Redis Cluster.
"""


def run_events_channel(run_id: str) -> str:
    """Pub/sub channel carrying a run's live events."""
    return f"run:{{{run_id}}}:events"


def run_log(run_id: str) -> str:
    """Bounded Redis stream holding a run's events for replay."""
    return f"run:{{{run_id}}}:log"


def run_cancel(run_id: str) -> str:
    """Key whose presence asks the worker to stop the run."""
    return f"run:{{{run_id}}}:cancel"


def run_control_channel(run_id: str) -> str:
    """Channel on which a cancel request reaches the worker running the run."""
    return f"run:{{{run_id}}}:control"


def queue_wakeup_channel(queue_name: str) -> str:
    """Channel the gateway publishes to after enqueueing, so workers skip arq's poll."""
    return f"{queue_name}:wakeup"
