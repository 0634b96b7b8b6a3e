from datetime import UTC, datetime

from chatkit.types import (
    StructuredInputAnswer,
    StructuredInputAnswerSubmission,
    StructuredInputFreeform,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    StructuredInputSubmission,
)

from gateway.structured_input import apply_submission


def _item() -> StructuredInputItem:
    options = [StructuredInputMultipleChoiceOption(value=v) for v in ("a", "b", "c")]
    return StructuredInputItem(
        id="si_1",
        thread_id="thr_1",
        created_at=datetime.now(UTC),
        status="pending",
        inputs=[
            StructuredInputMultipleChoice(
                id="one", question="One?", options=options, multiple=False
            ),
            StructuredInputMultipleChoice(
                id="many", question="Many?", options=options, multiple=True
            ),
            StructuredInputFreeform(id="free", question="Why?"),
        ],
    )


def _answers(item: StructuredInputItem) -> dict[str, StructuredInputAnswer | None]:
    return {question.id: question.answer for question in item.inputs}


def test_single_choice_keeps_its_first_value_and_multi_choice_keeps_all() -> None:
    submission = StructuredInputSubmission(
        answers={
            "one": StructuredInputAnswerSubmission(values=["b", "c"]),
            "many": StructuredInputAnswerSubmission(values=["a", "c"]),
            "free": StructuredInputAnswerSubmission(values=["because"]),
        }
    )
    updated = apply_submission(_item(), submission)
    assert updated.status == "answered"
    assert _answers(updated) == {
        "one": StructuredInputAnswer(values=["b"]),
        "many": StructuredInputAnswer(values=["a", "c"]),
        "free": StructuredInputAnswer(values=["because"]),
    }


def test_omitted_empty_and_skipped_answers_become_skipped() -> None:
    submission = StructuredInputSubmission(
        answers={
            "one": StructuredInputAnswerSubmission(values=[]),
            "many": StructuredInputAnswerSubmission(values=["a"], skipped=True),
            "ghost": StructuredInputAnswerSubmission(values=["x"]),
        }
    )
    item = _item()
    updated = apply_submission(item, submission)
    skipped = StructuredInputAnswer(skipped=True)
    assert _answers(updated) == {"one": skipped, "many": skipped, "free": skipped}
    assert item.status == "pending"  # the original is left as it was
    assert all(question.answer is None for question in item.inputs)


def test_a_skipped_submission_skips_every_input_even_when_answered() -> None:
    submission = StructuredInputSubmission(
        status="skipped",
        answers={"one": StructuredInputAnswerSubmission(values=["a"])},
    )
    updated = apply_submission(_item(), submission)
    assert updated.status == "skipped"
    assert {a.skipped for a in _answers(updated).values() if a} == {True}
