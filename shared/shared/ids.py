"""Our own ids: a type prefix and 128 random bits. Never the model provider's ids."""

import uuid
from typing import Literal

IdPrefix = Literal["thr", "msg", "tc", "tsk", "wf", "atc", "shcx", "run", "task", "req"]


def new_id(prefix: IdPrefix) -> str:
    """A fresh id such as ``msg_5f0c...`` (32 hex digits after the prefix)."""
    return f"{prefix}_{uuid.uuid4().hex}"
