"""What the orchestrator asks of a load generator process, and what it answers.

One JSON document per line each way: a ``Command`` on the generator's stdin, a
``LatencyResult`` or ``LoadResult`` on its stdout.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, Field


class Target(BaseModel):
    """A streaming endpoint: a ChatKit server, or the bare scripted model."""

    name: str
    host: str = "127.0.0.1"
    port: int
    kind: Literal["chatkit", "model"] = "chatkit"


class AnswerShape(BaseModel):
    """How the scripted model answers: deltas, pause between them, stamps."""

    deltas: int = 200
    pace_ms: float = 0.0
    stamps: bool = False

    def directive(self) -> str:
        """The text that asks the scripted model for this shape."""
        return f"bench{{{self.deltas},{self.pace_ms:g},{int(self.stamps)}}}"


class LatencyCommand(BaseModel):
    """``count`` sequential runs per target, the targets taking turns."""

    kind: Literal["latency"] = "latency"
    targets: list[Target]
    shape: AnswerShape
    count: int
    warmup: int = 5


class LoadCommand(BaseModel):
    """``streams`` concurrent streams on one target.

    ``repeat``: each stream runs request after request until ``duration_s``;
    otherwise each stream sends one request, the starts spread over ``ramp_s``.
    """

    kind: Literal["load"] = "load"
    target: Target
    shape: AnswerShape
    streams: int
    duration_s: float = 0.0
    ramp_s: float = 0.0
    repeat: bool = True
    timeout_s: float = 120.0


Command = Annotated[LatencyCommand | LoadCommand, Field(discriminator="kind")]


class RunSample(BaseModel):
    """One streamed request, times in ms from sending it."""

    ok: bool
    first_event_ms: float | None = None
    first_delta_ms: float | None = None
    last_event_ms: float | None = None
    events: int = 0
    deltas: int = 0
    error: str | None = None


class LatencyResult(BaseModel):
    """Samples per target name, in run order."""

    kind: Literal["latency"] = "latency"
    samples: dict[str, list[RunSample]]


class LoadResult(BaseModel):
    """What a load command produced, with wall-clock bounds for CPU windows."""

    kind: Literal["load"] = "load"
    started_wall: float
    ended_wall: float
    all_started_wall: float
    """When the last stream sent its first request (end of the ramp)."""
    peak_open: int
    """Most requests in flight at once."""
    runs: int
    errors: int
    events: int
    deltas: int
    samples: list[RunSample]
    lags: list[tuple[float, float]]
    """(wall time received, ms since the model sent the token), stamped deltas."""
    first_errors: list[str] = Field(default_factory=list)


Result = Annotated[LatencyResult | LoadResult, Field(discriminator="kind")]
