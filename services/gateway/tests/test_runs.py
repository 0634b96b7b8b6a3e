import pytest
from chatkit.types import (
    InferenceOptions,
    UserMessageInput,
    UserMessageTagContent,
    UserMessageTextContent,
)

from gateway.runs import message_text, title_from


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Hello there", "Hello there"),
        ("  Hello\n\n  there\t ", "Hello there"),
        ("", None),
        ("   \n", None),
        ("x" * 60, "x" * 60),
    ],
)
def test_short_first_message_is_the_title_on_one_line(
    text: str, title: str | None
) -> None:
    assert title_from(text) == title


def test_long_first_message_is_cut_at_a_word_boundary() -> None:
    text = "Please help me plan a birthday party for my daughter who turns seven soon"
    title = title_from(text)
    assert title == "Please help me plan a birthday party for my daughter who…"
    assert len(title) <= 61


def test_one_huge_word_is_cut_inside_it() -> None:
    assert title_from("a" * 200) == "a" * 60 + "…"


def test_message_text_joins_text_and_tag_labels_in_order() -> None:
    user_input = UserMessageInput(
        content=[
            UserMessageTextContent(text="Ask "),
            UserMessageTagContent(id="ent_1", text="Alice", data={}),
            UserMessageTextContent(text=" about lunch"),
        ],
        attachments=[],
        inference_options=InferenceOptions(),
    )
    assert message_text(user_input) == "Ask Alice about lunch"
