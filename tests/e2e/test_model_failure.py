"""A failing model provider: a retryable error, the input kept, no secret leaked."""

from collections.abc import Callable

from chatkit.types import ErrorEvent

from testkit.chatkit_client import ChatKitClient
from testkit.model_script import FAKE_SECRET

ClientFactory = Callable[[str], ChatKitClient]


async def test_provider_failure_ends_the_stream_with_a_retryable_error(
    client_for: ClientFactory, user_id: str
) -> None:
    client = client_for(user_id)
    stream = await client.create_thread("this will [fail]")

    assert stream.types[:3] == ["thread.created", "thread.item.done", "stream_options"]
    assert isinstance(stream.events[-1], ErrorEvent)
    assert stream.events[-1].allow_retry is True
    assert FAKE_SECRET not in stream.response.text
    assert "sk-" not in stream.response.text


async def test_user_message_survives_a_provider_failure_and_the_thread_goes_on(
    client_for: ClientFactory, user_id: str
) -> None:
    client = client_for(user_id)
    stream = await client.create_thread("this will [fail]")
    assert stream.thread_id is not None
    thread = await client.get_thread(stream.thread_id)
    assert [item.type for item in thread.items.data] == ["user_message"]

    retry = await client.add_user_message(stream.thread_id, "and now?")
    assert retry.assistant_text() == "Echo: and now? (user turns: 2)"
