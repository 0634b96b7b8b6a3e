"""The worker's OpenAI client: streamed events validated as their one model.

The openai client turns a streamed Responses event into a model by first
validating it against the whole ``ResponseStreamEvent`` union: about sixty
variants that pydantic tries one after another, because the union carries its
discriminator only as openai metadata. A Chat Completions chunk goes through
the client's recursive, pure-Python construction instead. Either costs 90-200
µs per event, most of a worker's CPU per token. Each Responses variant has a
distinct ``type`` literal, so the event's ``type`` names the one model that can
validate, and pydantic validates that one (or a chunk) in a few µs, giving the
same object. Anything else (an unknown ``type``, data that does not validate,
every other response type) takes the client's own path.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

import pydantic
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent

if TYPE_CHECKING:
    import httpx2


def variants_by_type(union: object) -> Mapping[str, type[pydantic.BaseModel]]:
    """Each ``type`` literal of an (annotated) union of models -> its one variant.

    A literal that two variants share is left out: it does not name one variant.
    """
    if get_origin(union) is Annotated:
        union = get_args(union)[0]
    owners: dict[str, list[type[pydantic.BaseModel]]] = {}
    for variant in get_args(union):
        field = variant.model_fields.get("type")
        for literal in get_args(field.annotation) if field else ():
            owners.setdefault(literal, []).append(variant)
    return {literal: found[0] for literal, found in owners.items() if len(found) == 1}


_STREAM_EVENT_VARIANTS = variants_by_type(ResponseStreamEvent)
_built = False


def build_stream_event_validators() -> None:
    """Build every stream event model's validator now, once per process.

    openai's models build theirs on first use: 20-40 ms each for the response
    events, about 150 ms on a worker's first answer; all of them take ~0.4 s.
    """
    global _built
    if _built:
        return
    models: set[type[pydantic.BaseModel]] = {*_STREAM_EVENT_VARIANTS.values()}
    for model in models | {ChatCompletionChunk}:
        model.model_rebuild(force=True)
    _built = True


def _model_for(cast_to: object, data: object) -> type[pydantic.BaseModel] | None:
    """The one model to validate ``data`` as, or None for the client's own path."""
    # Compared by identity: hashing a union of sixty types costs more than this.
    if not isinstance(data, dict):
        return None
    if cast_to is ChatCompletionChunk:
        return ChatCompletionChunk
    kind = data.get("type")
    if cast_to is ResponseStreamEvent and isinstance(kind, str):
        return _STREAM_EVENT_VARIANTS.get(kind)
    return None


class StreamEventDecodingClient(AsyncOpenAI):
    """``AsyncOpenAI`` that validates stream events as their one model."""

    def _process_response_data(
        self, *, data: object, cast_to: Any, response: "httpx2.Response"
    ) -> Any:
        model = _model_for(cast_to, data)
        if model is not None:
            try:
                return model.model_validate(data)
            except pydantic.ValidationError:
                pass
        return super()._process_response_data(
            data=data, cast_to=cast_to, response=response
        )
