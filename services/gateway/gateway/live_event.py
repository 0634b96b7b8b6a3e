"""A published run event read cheaply: the envelope split, the event kept as bytes.

The worker publishes batches of ``dump_run_message`` outputs (``shared.run_log``),
each of whose ``event`` is already serialized exactly as ``ChatKitServer``
frames it. The ChatKit face forwards those bytes as they are; only a consumer
that needs the typed event (the simple format, thread-level events) pays for
pydantic validation, once per event.
"""

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson
import structlog
from pydantic import TypeAdapter, ValidationError

from gateway.views import chatkit_json
from shared import run_log
from shared.events import RunEnded, RunEvent

log = structlog.get_logger(__name__)

RUN_EVENT_ADAPTER: TypeAdapter[RunEvent] = TypeAdapter(RunEvent)
RUN_ENDED_ADAPTER: TypeAdapter[RunEnded] = TypeAdapter(RunEnded)

ITEM_EVENTS = frozenset(
    {"thread.item.added", "thread.item.done", "thread.item.replaced"}
)
HIDDEN_ITEM_TYPES = frozenset({"hidden_context_item", "sdk_hidden_context"})
ENVELOPE_KEYS = frozenset({"v", "kind", "run_id", "seq", "event", "tool"})
# dump_run_message writes the envelope's fields in declaration order, compact.
EVENT_PREFIX = b'{"v":1,"kind":"event","run_id":'
EVENT_KEY = b',"event":'
TOOL_KEY = b',"tool":'


@dataclass(frozen=True, eq=False)
class LiveEvent:
    """A published RunEvent: its ChatKit JSON bytes and the fields the relay reads."""

    run_id: str
    seq: int
    type: str
    """The ChatKit event's ``type``."""
    item_type: str | None
    """The ``type`` of the event's item (item added/done/replaced), else None."""
    event_json: bytes
    """The event serialized as ``ChatKitServer._serialize`` does."""
    data: bytes
    """The whole published message."""

    @property
    def hidden(self) -> bool:
        """Whether ChatKit would keep this event from clients (a hidden item)."""
        return self.type in ITEM_EVENTS and self.item_type in HIDDEN_ITEM_TYPES

    @cached_property
    def message(self) -> RunEvent | None:
        """The typed RunEvent, validated on first use; None if it does not validate."""
        try:
            return RUN_EVENT_ADAPTER.validate_json(self.data)
        except ValidationError as exc:
            log.warning(
                "relay_unreadable_event", run_id=self.run_id, errors=exc.error_count()
            )
            return None


def parse_batch(data: bytes) -> list[LiveEvent | RunEnded | None]:
    """Read each message of a published batch; None for one that is not ours."""
    return [parse_live(line) for line in run_log.split_batch(data)]


def parse_live(data: bytes) -> LiveEvent | RunEnded | None:
    """Read one published message; None if it is not one of ours."""
    try:
        envelope = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(envelope, dict) or envelope.get("v") != 1:
        return None
    match envelope.get("kind"):
        case "event":
            return _live_event(data, envelope)
        case "end":
            try:
                return RUN_ENDED_ADAPTER.validate_python(envelope)
            except ValidationError:
                return None
        case _:
            return None


def _live_event(data: bytes, envelope: dict[str, Any]) -> LiveEvent | None:
    run_id, seq, event = (
        envelope.get("run_id"),
        envelope.get("seq"),
        envelope.get("event"),
    )
    if not (
        isinstance(run_id, str)
        and type(seq) is int
        and isinstance(event, dict)
        and isinstance(event.get("type"), str)
    ):
        return None
    item = event.get("item")
    item_type = item.get("type") if isinstance(item, dict) else None
    event_json = _event_slice(data, envelope)
    if event_json is None:
        # Not laid out as dump_run_message writes it: serialize like the SDK.
        try:
            event_json = chatkit_json(RUN_EVENT_ADAPTER.validate_python(envelope).event)
        except ValidationError:
            return None
    return LiveEvent(
        run_id=run_id,
        seq=seq,
        type=event["type"],
        item_type=item_type if isinstance(item_type, str) else None,
        event_json=event_json,
        data=data,
    )


def _event_slice(data: bytes, envelope: dict[str, Any]) -> bytes | None:
    """The event's own bytes inside the envelope, if laid out as the worker writes it.

    Inside JSON strings quotes are escaped, so ``,"event":`` after the run id
    is the envelope's key, and the last ``,"tool":`` is the envelope's tool
    (the ToolActivity after the event holds only strings).
    """
    if not envelope.keys() <= ENVELOPE_KEYS or not data.startswith(EVENT_PREFIX):
        return None
    start = data.find(EVENT_KEY, len(EVENT_PREFIX))
    end = data.rfind(TOOL_KEY) if "tool" in envelope else len(data) - 1
    if start < 0 or end <= start or not data.endswith(b"}"):
        return None
    return data[start + len(EVENT_KEY) : end]
