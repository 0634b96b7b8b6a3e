"""MODEL and the keys -> one Agents SDK Model, built once per worker process.

Order: `MODEL=litellm/<provider>/<name>` goes through LiteLLM; a Gemini key with
no MODEL uses GEMINI_MODEL through LiteLLM; an OpenAI key or base URL uses one
shared AsyncOpenAI client (`openai_client.py`: stream events decoded cheaply;
aiohttp transport) with the Responses or Chat Completions API (MODEL_API);
a Gemini key alone with MODEL set uses that Gemini model; nothing at all gives
the offline demo model.

`ModelChoice.client` is set when the provider speaks the OpenAI API (directly,
or LiteLLM's `openai/` route); speech-to-text goes through it.
"""

from dataclasses import dataclass
from typing import assert_never

from agents.models.interface import Model
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from openai import AsyncOpenAI, DefaultAioHttpClient

from .demo_model import MODEL_NAME as DEMO_MODEL_NAME
from .demo_model import DemoModel
from .openai_client import StreamEventDecodingClient, build_stream_event_validators
from .settings import AgentWorkerSettings

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"
LITELLM_PREFIX = "litellm/"
# OpenAI-compatible servers such as vLLM or Ollama accept any key.
_NO_KEY = "unused"


@dataclass
class ModelChoice:
    """The model the worker runs, a printable label, and what to close at exit."""

    model: Model
    label: str
    offline: bool = False
    client: AsyncOpenAI | None = None
    """The provider's OpenAI-compatible client, if it has one."""

    async def aclose(self) -> None:
        """Close the shared HTTP client, if any."""
        if self.client is not None:
            await self.client.close()


def choose_model(settings: AgentWorkerSettings) -> ModelChoice:
    """The model configured by MODEL, MODEL_API and the provider keys."""
    openai_key = settings.openai_api_key.get_secret_value()
    gemini_key = settings.gemini_api_key.get_secret_value()
    if settings.model.startswith(LITELLM_PREFIX):
        return _litellm(settings, settings.model.removeprefix(LITELLM_PREFIX))
    if gemini_key and not settings.model:
        return _litellm(settings, f"gemini/{settings.gemini_model}")
    if openai_key or settings.openai_base_url:
        return _openai(settings)
    if gemini_key:
        return _litellm(settings, f"gemini/{settings.model.removeprefix('gemini/')}")
    return ModelChoice(model=DemoModel(), label=DEMO_MODEL_NAME, offline=True)


def _litellm(settings: AgentWorkerSettings, name: str) -> ModelChoice:
    # Imported here: loading LiteLLM costs seconds, and most setups never need it.
    from agents.extensions.models.litellm_model import LitellmModel

    if name.startswith("gemini/"):
        key = settings.gemini_api_key.get_secret_value()
    else:
        key = settings.openai_api_key.get_secret_value()
    base_url = settings.openai_base_url or None
    if base_url and not key:
        key = _NO_KEY
    model = LitellmModel(name, base_url=base_url, api_key=key or None)
    client = None
    if name.startswith("openai/") and key:
        client = AsyncOpenAI(api_key=key, base_url=base_url)
    return ModelChoice(model=model, label=f"litellm:{name}", client=client)


def _openai(settings: AgentWorkerSettings) -> ModelChoice:
    build_stream_event_validators()
    client = StreamEventDecodingClient(
        api_key=settings.openai_api_key.get_secret_value() or _NO_KEY,
        base_url=settings.openai_base_url or None,
        # aiohttp reads a stream for about half the CPU of the default transport.
        http_client=DefaultAioHttpClient(),
    )
    name = settings.model or DEFAULT_OPENAI_MODEL
    model: Model
    match settings.model_api:
        case "responses":
            model = OpenAIResponsesModel(name, client)
        case "chat_completions":
            model = OpenAIChatCompletionsModel(name, client)
        case unknown:
            assert_never(unknown)
    return ModelChoice(
        model=model, label=f"openai-{settings.model_api}:{name}", client=client
    )
