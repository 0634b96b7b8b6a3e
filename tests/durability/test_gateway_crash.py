"""A gateway killed mid-stream: the run finishes; another gateway resumes it whole."""

import asyncio

from testkit.chatkit_sse import DONE, SseRead, after_text_frames
from testkit.cluster import Cluster
from testkit.model_script import SLOW_MARKER

from .conftest import ActorFactory
from .talk import echo, run_id_of, simple_text, text_frame_ids


async def test_gateway_killed_mid_stream_resumes_on_another_gateway_with_every_event(
    durable: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    doomed = durable.add_gateway(f"gateway-doomed-{marker}")
    actor = actor_at(doomed.url)
    text = f"survive the gateway {marker} {SLOW_MARKER}"
    read = SseRead()
    streaming = asyncio.create_task(actor.chatkit.open({"message": text}, into=read))
    await read.wait_for(after_text_frames(3), within_s=15, what="three text frames")

    doomed.process.kill()

    await asyncio.wait_for(streaming, 10)
    assert not read.ended or read.broken is not None
    assert all(frame.data != DONE for frame in read.frames)
    assert read.last_id is not None
    other = actor_at(durable.gateway_url("gateway-b"))
    rest = await other.runs.events(
        run_id_of(read), fmt="simple", last_event_id=read.last_id
    )
    assert rest.ended, rest.broken
    assert rest.frames[-1].data == DONE
    assert simple_text(read) + simple_text(rest) == echo(text, 1)
    full = await other.runs.events(run_id_of(read), fmt="simple", after=0)
    assert simple_text(full) == echo(text, 1)
    assert text_frame_ids(read) + text_frame_ids(rest) == text_frame_ids(full)
