"""`agent-worker`: build settings once, configure logging, run the arq worker."""

import asyncio
import contextlib

import structlog
import uvloop
from agents import set_tracing_disabled

from shared.gc_policy import freeze_startup_heap
from shared.logging import configure_logging

from .settings import AgentWorkerSettings
from .worker import build_worker

# Libraries that log every request or job at INFO; our own lines cover those.
_CHATTY_LOGGERS = ("arq", "httpx", "httpx2", "httpcore", "openai", "LiteLLM")


def main() -> None:
    """Run one worker process until SIGTERM/SIGINT."""
    settings = AgentWorkerSettings()
    configure_logging("agent-worker", settings.log_level, quiet=_CHATTY_LOGGERS)
    # Traces go to OpenAI's platform: only when talking to OpenAI itself.
    openai_direct = settings.openai_api_key.get_secret_value() and not (
        settings.openai_base_url
    )
    if not openai_direct:
        set_tracing_disabled(True)
    structlog.contextvars.bind_contextvars(worker=settings.worker_name)
    # uvloop: the default asyncio loop took about a third of the worker's CPU.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_run_worker(settings))


async def _run_worker(settings: AgentWorkerSettings) -> None:
    """arq's `Worker.run`, on the running loop (arq binds the loop it is built on)."""
    worker = build_worker(settings)
    freeze_startup_heap()
    worker.main_task = asyncio.create_task(worker.main())
    try:
        # SIGTERM/SIGINT cancel the main task: that is how arq stops.
        with contextlib.suppress(asyncio.CancelledError):
            await worker.main_task
    finally:
        await worker.close()


if __name__ == "__main__":
    main()
