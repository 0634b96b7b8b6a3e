"""providers.py and agent.py: MODEL and keys pick the model; AGENT picks the agent."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents import Agent
from agents.extensions.models.litellm_model import LitellmModel
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.models.openai_responses import OpenAIResponsesModel
from chatkit.actions import Action
from chatkit.types import ThreadMetadata, ThreadStreamEvent, WidgetItem

from agent_worker.agent import build_agent, build_app, load_agent
from agent_worker.agent_app import AgentApp, load_app
from agent_worker.demo_model import DemoModel
from agent_worker.providers import ModelChoice, choose_model
from agent_worker.settings import AgentWorkerSettings
from agent_worker.tools import TASK_TOOLS
from agent_worker.turn_context import TurnContext

CUSTOM_AGENT: Agent[Any] = Agent(name="custom")


def _choice(**values: Any) -> ModelChoice:
    return choose_model(AgentWorkerSettings(_env_file=None, **values))


def test_no_key_at_all_gives_the_labelled_offline_demo_model() -> None:
    choice = _choice()

    assert isinstance(choice.model, DemoModel)
    assert choice.offline


def test_gemini_key_without_model_uses_gemini_through_litellm() -> None:
    choice = _choice(gemini_api_key="g-key")

    assert isinstance(choice.model, LitellmModel)
    assert (choice.model.model, choice.model.api_key) == (
        "gemini/gemini-2.5-flash",
        "g-key",
    )


def test_gemini_key_alone_with_a_model_name_uses_that_gemini_model() -> None:
    choice = _choice(gemini_api_key="g-key", model="gemini-2.5-pro")

    assert isinstance(choice.model, LitellmModel)
    assert choice.model.model == "gemini/gemini-2.5-pro"


def test_litellm_prefixed_model_uses_the_openai_key_and_base_url_for_openai() -> None:
    choice = _choice(
        model="litellm/openai/local",
        openai_api_key="o-key",
        openai_base_url="http://127.0.0.1:9/v1",
        gemini_api_key="g-key",
    )

    assert isinstance(choice.model, LitellmModel)
    assert choice.model.model == "openai/local"
    assert choice.model.api_key == "o-key"
    assert choice.model.base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("model_api", "expected"),
    [
        ("responses", OpenAIResponsesModel),
        ("chat_completions", OpenAIChatCompletionsModel),
    ],
)
async def test_openai_base_url_picks_the_configured_api_with_one_client(
    model_api: str, expected: type
) -> None:
    choice = _choice(openai_base_url="http://127.0.0.1:9/v1", model_api=model_api)

    assert isinstance(choice.model, expected)
    assert choice.label == f"openai-{model_api}:gpt-4.1-mini"
    assert choice.client is not None
    await choice.aclose()


def test_secrets_are_hidden_in_the_settings_repr() -> None:
    settings = AgentWorkerSettings(
        _env_file=None, openai_api_key="sk-hidden", gemini_api_key="g-hidden"
    )

    assert "sk-hidden" not in repr(settings)
    assert "g-hidden" not in repr(settings)


def test_empty_agent_setting_builds_the_task_assistant_on_the_model() -> None:
    model = DemoModel()
    agent = build_agent("", model)

    assert agent.model is model
    assert [tool.name for tool in agent.tools] == [tool.name for tool in TASK_TOOLS]


def test_agent_setting_may_name_an_agent_which_then_runs_on_the_worker_model() -> None:
    model = DemoModel()
    agent = load_agent(f"{__name__}:CUSTOM_AGENT", model)

    assert agent.name == "custom"
    assert agent.model is model
    assert CUSTOM_AGENT.model is None


@pytest.mark.parametrize("spec", ["no_colon", f"{__name__}:TASK_TOOLS"])
def test_agent_setting_that_is_not_an_agent_is_refused(spec: str) -> None:
    with pytest.raises((ValueError, TypeError)):
        load_agent(spec, DemoModel())


async def _no_events(
    thread: ThreadMetadata,
    action: Action[str, Any],
    sender: WidgetItem | None,
    context: TurnContext,
) -> AsyncIterator[ThreadStreamEvent]:
    return
    yield


CUSTOM_APP = AgentApp(agent=Agent(name="app"), action=_no_events)


def custom_app_factory() -> AgentApp:
    return CUSTOM_APP


@pytest.mark.parametrize("attr", ["CUSTOM_APP", "custom_app_factory"])
def test_agent_setting_may_name_an_app_or_its_factory_and_keeps_its_handlers(
    attr: str,
) -> None:
    model = DemoModel()

    app = load_app(f"{__name__}:{attr}", model)

    assert app.agent.name == "app"
    assert app.agent.model is model
    assert (app.action, app.sync_action) == (_no_events, None)


def test_default_app_handles_widget_actions_and_stops_at_user_answered_tools() -> None:
    app = build_app("", DemoModel())

    assert app.action is not None
    assert app.sync_action is not None
    assert app.agent.tool_use_behavior == {
        "stop_at_tool_names": ["get_user_timezone", "ask_priority"]
    }


async def test_litellm_openai_route_has_a_client_for_speech_to_text() -> None:
    openai_route = _choice(
        model="litellm/openai/local", openai_base_url="http://127.0.0.1:9/v1"
    )
    gemini = _choice(gemini_api_key="g-key")

    assert openai_route.client is not None
    assert gemini.client is None
    await openai_route.aclose()
