"""Errors as log fields with configured secrets blanked out."""

import traceback
from collections.abc import Iterable

from .settings import AgentWorkerSettings

MAX_ERROR_CHARS = 2000
MASK = "[redacted]"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced by a mask."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def redacted_error(error: BaseException, secrets: Iterable[str]) -> dict[str, str]:
    """Log fields for an exception: its type, message and traceback, redacted."""
    secrets = list(secrets)
    trace = "".join(traceback.format_exception(error))
    return {
        "error_type": type(error).__name__,
        "error": redact(str(error), secrets)[:MAX_ERROR_CHARS],
        "traceback": redact(trace, secrets)[-MAX_ERROR_CHARS:],
    }


def worker_secrets(settings: AgentWorkerSettings) -> list[str]:
    """The configured secrets no log line may show."""
    return [
        settings.openai_api_key.get_secret_value(),
        settings.gemini_api_key.get_secret_value(),
        settings.internal_token,
    ]
