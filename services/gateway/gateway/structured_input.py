"""Answers to a pending structured input, applied exactly as ``ChatKitServer`` does."""

import structlog
from chatkit.types import (
    StructuredInputAnswer,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputSubmission,
)

log = structlog.get_logger(__name__)


def apply_submission(
    item: StructuredInputItem, submission: StructuredInputSubmission
) -> StructuredInputItem:
    """The answered (or skipped) copy of a pending item.

    As the SDK: a skipped submission, an omitted, empty or skipped answer all
    become ``{skipped: true}``; a single choice keeps only its first value;
    answers to unknown input ids are ignored.
    """
    updated = item.model_copy(deep=True)
    unknown = set(submission.answers).difference(q.id for q in updated.inputs)
    if unknown:
        log.warning(
            "structured_input_unknown_ids", item_id=item.id, ids=sorted(unknown)
        )
    for question in updated.inputs:
        answer = submission.answers.get(question.id)
        if (
            submission.status == "skipped"
            or answer is None
            or answer.skipped
            or not answer.values
        ):
            question.answer = StructuredInputAnswer(skipped=True)
            continue
        values = answer.values
        if (
            isinstance(question, StructuredInputMultipleChoice)
            and not question.multiple
        ):
            values = values[:1]
        question.answer = StructuredInputAnswer(values=values)
    updated.status = submission.status
    return updated
