"""``threads.add_structured_input``: answers to a pending question item."""

import uuid

from chatkit.types import (
    StructuredInputAnswer,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputSubmission,
    ThreadsAddStructuredInputReq,
)

from testkit.chatkit_client import ChatKitClient

from .frames import TEXT_MESSAGE, assert_refused, done_items, replaced_items, signature
from .targets import Target

PRIORITY_REQUEST = "set priority for Buy milk"


def submission(
    status: str = "answered", **answers: list[str]
) -> StructuredInputSubmission:
    return StructuredInputSubmission.model_validate(
        {
            "status": status,
            "answers": {key: {"values": values} for key, values in answers.items()},
        }
    )


def answer_req(
    thread_id: str, item_id: str, answer: StructuredInputSubmission
) -> ThreadsAddStructuredInputReq:
    return ThreadsAddStructuredInputReq.model_validate(
        {
            "params": {
                "thread_id": thread_id,
                "item_id": item_id,
                "input": answer.model_dump(),
            }
        }
    )


async def pending_question(client: ChatKitClient) -> tuple[str, StructuredInputItem]:
    """A thread whose turn ended with the pending priority question."""
    stream = await client.create_thread(PRIORITY_REQUEST)
    assert stream.thread_id is not None
    question = done_items(stream)[-1]
    assert isinstance(question, StructuredInputItem), signature(stream.events)
    return stream.thread_id, question


async def test_a_question_turn_ends_with_a_pending_single_choice_item(
    client: ChatKitClient,
) -> None:
    stream = await client.create_thread(PRIORITY_REQUEST)

    assert signature(stream.events) == [
        "thread.created",
        "thread.item.done:user_message",
        "stream_options",
        "thread.item.done:structured_input",
    ]
    question = done_items(stream)[-1]
    assert isinstance(question, StructuredInputItem)
    assert question.status == "pending"
    [choice] = question.inputs
    assert isinstance(choice, StructuredInputMultipleChoice)
    assert choice.id == "priority"
    assert [option.value for option in choice.options] == ["low", "medium", "high"]
    assert choice.multiple is False
    assert "Buy milk" in choice.question
    assert choice.answer is None


async def test_an_answer_replaces_the_item_with_one_choice_then_the_agent_goes_on(
    target: Target, client: ChatKitClient
) -> None:
    thread_id, question = await pending_question(client)

    answered = await client.add_structured_input(
        thread_id, question.id, submission(priority=["high", "low"])
    )

    assert signature(answered.events) == [
        "stream_options",
        "thread.item.replaced:structured_input",
        *TEXT_MESSAGE,
    ]
    [updated] = replaced_items(answered)
    assert isinstance(updated, StructuredInputItem)
    assert updated.id == question.id
    assert updated.status == "answered"
    assert [q.answer for q in updated.inputs] == [
        StructuredInputAnswer(values=["high"])
    ]
    # Both targets feed the answered item to the model as the SDK's converter
    # words it; the scripted model echoes that last user text.
    assert answered.assistant_text() == (
        "Echo: A structured input request was displayed to the user with the "
        "following status: answered\n<StructuredInput>\n"
        '- Which priority should "Buy milk" have?: high\n'
        "</StructuredInput> (user turns: 2)"
    )
    stored = (await client.list_items(thread_id, order="asc")).data
    assert [item.type for item in stored] == [
        "user_message",
        "structured_input",
        "assistant_message",
    ]
    assert stored[1] == updated
    assert stored[2] == done_items(answered)[-1]


async def test_a_skipped_or_omitted_answer_is_stored_as_skipped(
    client: ChatKitClient,
) -> None:
    thread_id, question = await pending_question(client)
    omitted = await client.add_structured_input(thread_id, question.id, submission())
    [updated] = replaced_items(omitted)
    assert isinstance(updated, StructuredInputItem)
    assert updated.status == "answered"
    assert [q.answer for q in updated.inputs] == [StructuredInputAnswer(skipped=True)]

    thread_id, question = await pending_question(client)
    skipped = await client.add_structured_input(
        thread_id, question.id, submission("skipped", priority=["low"])
    )
    [updated] = replaced_items(skipped)
    assert isinstance(updated, StructuredInputItem)
    assert updated.status == "skipped"
    assert [q.answer for q in updated.inputs] == [StructuredInputAnswer(skipped=True)]


async def test_answering_twice_or_answering_a_non_question_is_refused(
    target: Target, client: ChatKitClient
) -> None:
    thread_id, question = await pending_question(client)
    await client.add_structured_input(
        thread_id, question.id, submission(priority=["low"])
    )
    user = (await client.list_items(thread_id, order="asc")).data[0]
    # The SDK raises ValueError after the 200 headers: the connection drops.
    for item_id in (question.id, user.id):
        req = answer_req(thread_id, item_id, submission(priority=["high"]))
        await assert_refused(target, client, req, ours=(409, None), sdk="dropped")
    stored = (await client.list_items(thread_id, order="asc")).data
    assert isinstance(stored[1], StructuredInputItem)
    assert stored[1].inputs[0].answer == StructuredInputAnswer(values=["low"])


async def test_an_unknown_item_or_a_foreign_thread_is_refused(
    target: Target, client: ChatKitClient, intruder: ChatKitClient
) -> None:
    thread_id, question = await pending_question(client)
    answer = submission(priority=["high"])
    missing = answer_req(thread_id, f"msg_{uuid.uuid4().hex}", answer)
    await assert_refused(
        target, client, missing, ours=(404, "not_found"), sdk="dropped"
    )
    foreign = answer_req(thread_id, question.id, answer)
    await assert_refused(
        target, intruder, foreign, ours=(404, "not_found"), sdk="dropped"
    )
    stored = (await client.list_items(thread_id, limit=1, order="desc")).data
    assert stored == [question]
