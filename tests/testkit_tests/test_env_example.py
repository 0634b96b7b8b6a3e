""".env.example documents exactly the settings the services read."""

import re
from pathlib import Path

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from agent_worker.settings import AgentWorkerSettings
from gateway.settings import GatewaySettings
from history.settings import HistorySettings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
# Read by make, the images, libraries or docker compose, not by a settings class.
NOT_SERVICE_SETTINGS = {
    "LITELLM_LOCAL_MODEL_COST_MAP",
    "OPENAI_AGENTS_DISABLE_TRACING",
    "POSTGRES_PASSWORD",
    "WORKER_REPLICAS",
    "GATEWAY_PUBLISHED_PORT",
}


def env_names(settings: type[BaseSettings]) -> set[str]:
    names: set[str] = set()
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        else:
            names.add(str(alias or name).upper())
    return names


def documented_names() -> set[str]:
    pattern = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
    return set(pattern.findall(ENV_EXAMPLE.read_text()))


def test_every_service_setting_is_documented_in_env_example() -> None:
    read = set().union(
        *(env_names(s) for s in (GatewaySettings, HistorySettings, AgentWorkerSettings))
    )
    assert read - documented_names() == set()


def test_env_example_documents_no_setting_that_nothing_reads() -> None:
    read = set().union(
        *(env_names(s) for s in (GatewaySettings, HistorySettings, AgentWorkerSettings))
    )
    assert documented_names() - read - NOT_SERVICE_SETTINGS == set()


def test_env_example_sets_nothing_so_make_run_stays_embedded() -> None:
    active = [
        line
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert active == []
