import re

from shared import redis_keys


def _hash_tag(key: str) -> str:
    match = re.search(r"\{([^}]*)\}", key)
    assert match is not None, key
    return match.group(1)


def test_keys_of_one_run_share_a_hash_tag_for_redis_cluster() -> None:
    keys = [
        redis_keys.run_events_channel("run_1"),
        redis_keys.run_log("run_1"),
        redis_keys.run_cancel("run_1"),
    ]
    assert {_hash_tag(key) for key in keys} == {"run_1"}
    assert len(set(keys)) == 3


def test_keys_of_different_runs_never_collide() -> None:
    assert redis_keys.run_log("run_1") != redis_keys.run_log("run_2")
    assert redis_keys.run_events_channel("run_1") != redis_keys.run_events_channel(
        "run_2"
    )


def test_wakeup_channel_is_derived_from_the_queue_name() -> None:
    assert redis_keys.queue_wakeup_channel("q1") != redis_keys.queue_wakeup_channel(
        "q2"
    )
    assert redis_keys.queue_wakeup_channel("q1").startswith("q1")
