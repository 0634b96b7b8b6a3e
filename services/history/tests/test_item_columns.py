from datetime import UTC, datetime

import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    CustomTask,
    EndOfTurnItem,
    HiddenContextItem,
    InferenceOptions,
    SDKHiddenContextItem,
    TaskItem,
    ThreadItem,
    UserMessageItem,
    UserMessageTextContent,
    Workflow,
    WorkflowItem,
)

from history.item_columns import content_of, role_of

BASE = {"id": "i", "thread_id": "t", "created_at": datetime(2026, 1, 1, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("item", "role", "content"),
    [
        (
            UserMessageItem(
                **BASE,
                content=[
                    UserMessageTextContent(text="a "),
                    UserMessageTextContent(text="b"),
                ],
                inference_options=InferenceOptions(),
            ),
            "user",
            "a b",
        ),
        (
            AssistantMessageItem(
                **BASE,
                content=[
                    AssistantMessageContent(text="one"),
                    AssistantMessageContent(text="two"),
                ],
            ),
            "assistant",
            "one\n\ntwo",
        ),
        (
            WorkflowItem(**BASE, workflow=Workflow(type="custom", tasks=[])),
            "tool",
            "",
        ),
        (TaskItem(**BASE, task=CustomTask(title="t")), "tool", ""),
        (
            ClientToolCallItem(**BASE, call_id="c", name="n", arguments={}),
            "tool",
            "",
        ),
        (HiddenContextItem(**BASE, content="note"), "system", "note"),
        (HiddenContextItem(**BASE, content={"a": 1}), "system", '{"a":1}'),
        (SDKHiddenContextItem(**BASE, content="cancelled"), "system", "cancelled"),
        (EndOfTurnItem(**BASE), "end_of_turn", ""),
    ],
)
def test_message_columns_follow_the_item_type(
    item: ThreadItem, role: str, content: str
) -> None:
    assert (role_of(item), content_of(item)) == (role, content)
