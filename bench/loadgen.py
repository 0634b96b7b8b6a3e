"""The load generator process: reads commands on stdin, answers on stdout.

Kept apart from the servers so its CPU never hides in theirs; runs on uvloop
with the raw-socket client of ``sse_client``. Each connection is one user
with a long-lived bearer token, reused for every request on it.
"""

import asyncio
import sys
import time
from datetime import timedelta
from typing import assert_never

import uvloop
from chatkit.types import (
    InferenceOptions,
    ThreadCreateParams,
    ThreadsCreateReq,
    UserMessageInput,
    UserMessageTextContent,
)
from pydantic import TypeAdapter

from bench.loadgen_api import (
    AnswerShape,
    Command,
    LatencyCommand,
    LatencyResult,
    LoadCommand,
    LoadResult,
    RunSample,
    Target,
)
from bench.sse_client import CHATKIT_DELTA, MODEL_DELTA, SseConnection, StreamTiming
from testkit.tokens import jwt_for

COMMAND_ADAPTER: TypeAdapter[LatencyCommand | LoadCommand] = TypeAdapter(Command)
MAX_ERRORS_KEPT = 5
ERROR_PAUSE_S = 0.05
"""A failed stream waits this long before its next request."""
TOKEN_LIFETIME = timedelta(hours=24)


def request_body(target: Target, shape: AnswerShape, salt: str) -> bytes:
    """The request that asks ``target`` for an answer of this shape."""
    text = f"{shape.directive()} hello {salt}"
    if target.kind == "model":
        return (f'{{"model":"bench-model","input":"{text}","stream":true}}').encode()
    content = [UserMessageTextContent(text=text)]
    user_input = UserMessageInput(
        content=content, attachments=[], inference_options=InferenceOptions()
    )
    request = ThreadsCreateReq(params=ThreadCreateParams(input=user_input))
    return request.model_dump_json(exclude_none=True).encode()


class Client:
    """One connection to a target, as one user."""

    def __init__(self, target: Target, shape: AnswerShape, user: str) -> None:
        self.target = target
        self.shape = shape
        self.connection = SseConnection(target.host, target.port)
        self.token = jwt_for(user, expires_in=TOKEN_LIFETIME)
        self.body = request_body(target, shape, user)
        self.path = "/v1/responses" if target.kind == "model" else "/chatkit"
        self.marker = MODEL_DELTA if target.kind == "model" else CHATKIT_DELTA

    async def run(self) -> StreamTiming:
        """One streamed request, read to its end."""
        return await self.connection.post_stream(
            self.path,
            self.body,
            self.token,
            marker=self.marker,
            stamps=self.shape.stamps,
        )


def sample_of(timing: StreamTiming) -> RunSample:
    """The run's figures in ms from sending the request."""

    def since(moment: float | None) -> float | None:
        return None if moment is None else (moment - timing.sent) * 1000

    return RunSample(
        ok=True,
        first_event_ms=since(timing.first_event),
        first_delta_ms=since(timing.first_delta),
        last_event_ms=since(timing.last_event),
        events=timing.events,
        deltas=timing.deltas,
    )


async def run_latency(command: LatencyCommand) -> LatencyResult:
    """Sequential runs, targets taking turns so that both see the same machine."""
    clients = [
        Client(target, command.shape, f"lat-{target.name}")
        for target in command.targets
    ]
    samples: dict[str, list[RunSample]] = {t.name: [] for t in command.targets}
    for index in range(command.warmup + command.count):
        for client in clients:
            try:
                sample = sample_of(await client.run())
            except Exception as error:
                sample = RunSample(ok=False, error=repr(error))
            if index >= command.warmup:
                samples[client.target.name].append(sample)
    for client in clients:
        await client.connection.close()
    return LatencyResult(samples=samples)


class LoadRun:
    """Shared tallies of one load command."""

    def __init__(self, command: LoadCommand) -> None:
        self.command = command
        self.samples: list[RunSample] = []
        self.lags: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self.started = 0
        self.all_started_wall = 0.0
        self.open = 0
        self.peak_open = 0

    async def stream(self, index: int, deadline: float) -> None:
        """One stream: wait for its turn in the ramp, then request (again)."""
        command = self.command
        if command.ramp_s:
            await asyncio.sleep(command.ramp_s * index / command.streams)
        client = Client(command.target, command.shape, f"load-{index}")
        try:
            while True:
                self._count_start()
                await self._one(client)
                if not command.repeat or time.monotonic() >= deadline:
                    return
        finally:
            await client.connection.close()

    def _count_start(self) -> None:
        self.started += 1
        if self.started == self.command.streams:
            self.all_started_wall = time.time()

    async def _one(self, client: Client) -> None:
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        timing: StreamTiming | None = None
        try:
            async with asyncio.timeout(self.command.timeout_s):
                timing = await client.run()
        except Exception as error:
            self.samples.append(RunSample(ok=False, error=repr(error)))
            self.errors.append(repr(error))
        finally:
            self.open -= 1
        if timing is None:
            await asyncio.sleep(ERROR_PAUSE_S)
            return
        self.samples.append(sample_of(timing))
        self.lags.extend((wall, lag * 1000) for wall, lag in timing.lags)


async def run_load(command: LoadCommand) -> LoadResult:
    """Concurrent streams; see ``LoadCommand``."""
    load = LoadRun(command)
    started_wall = time.time()
    deadline = time.monotonic() + command.duration_s
    await asyncio.gather(
        *(load.stream(index, deadline) for index in range(command.streams))
    )
    ok = [s for s in load.samples if s.ok]
    return LoadResult(
        started_wall=started_wall,
        ended_wall=time.time(),
        all_started_wall=load.all_started_wall or started_wall,
        peak_open=load.peak_open,
        runs=len(ok),
        errors=len(load.errors),
        events=sum(s.events for s in ok),
        deltas=sum(s.deltas for s in ok),
        samples=load.samples,
        lags=load.lags,
        first_errors=load.errors[:MAX_ERRORS_KEPT],
    )


async def serve_commands() -> None:
    """Answer each command line on stdin with one result line on stdout."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        command = COMMAND_ADAPTER.validate_json(line)
        result: LatencyResult | LoadResult
        match command:
            case LatencyCommand():
                result = await run_latency(command)
            case LoadCommand():
                result = await run_load(command)
            case _:
                assert_never(command)
        sys.stdout.write(result.model_dump_json() + "\n")
        sys.stdout.flush()


def main() -> None:
    """Entry point: ``python -m bench.loadgen`` (driven by the orchestrator)."""
    uvloop.run(serve_commands())


if __name__ == "__main__":
    main()
