"""The baseline: the official ``ChatKitServer``, in-memory store, one uvicorn process.

``respond`` is the SDK's documented recipe: the thread's items through
``simple_to_agent_input``, ``Runner.run_streamed`` with an Agents SDK agent on
``OpenAIResponsesModel`` (one shared ``AsyncOpenAI`` client), then
``stream_agent_response``. Requests carry the same bearer JWT our gateway
takes, decoded per request as an integrator's FastAPI dependency would.

``python -m bench.baseline_app --port N --model-url URL``.
"""

import argparse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
import uvicorn
from agents import Agent, OpenAIResponsesModel, Runner
from chatkit.agents import AgentContext, simple_to_agent_input, stream_agent_response
from chatkit.server import ChatKitServer, StreamingResult
from chatkit.types import ThreadMetadata, ThreadStreamEvent, UserMessageItem
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from openai import AsyncOpenAI

from bench.plain_agent import agent as plain_agent
from testkit.reference_app.memory_store import MemoryStore
from testkit.tokens import TEST_JWT_SECRET

BEARER = "Bearer "
ITEMS_LIMIT = 100


@dataclass(frozen=True)
class UserCtx:
    """The request context: who is asking."""

    user_id: str


class BaselineServer(ChatKitServer[UserCtx]):
    """ChatKitServer answering with one Agents SDK agent."""

    def __init__(self, store: MemoryStore[UserCtx], agent: Agent[Any]) -> None:
        super().__init__(store)
        self._agent = agent

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,  # noqa: ARG002 (SDK signature)
        context: UserCtx,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Run the agent on the thread's items and stream its ChatKit events."""
        page = await self.store.load_thread_items(
            thread.id, None, ITEMS_LIMIT, "asc", context
        )
        agent_context: AgentContext[UserCtx] = AgentContext(
            thread=thread, store=self.store, request_context=context
        )
        result = Runner.run_streamed(
            self._agent,
            await simple_to_agent_input(page.data),
            context=agent_context,
        )
        async for event in stream_agent_response(agent_context, result):
            yield event


def create_app(model_url: str) -> FastAPI:
    """The baseline app answering from the scripted model at ``model_url``."""
    openai = AsyncOpenAI(base_url=model_url, api_key="bench")
    model = OpenAIResponsesModel(model="bench-model", openai_client=openai)
    server = BaselineServer(MemoryStore(), plain_agent.clone(model=model))
    app = FastAPI(title="ChatKitServer baseline")

    def context(request: Request) -> UserCtx:
        header = request.headers.get("authorization", "")
        if not header.startswith(BEARER):
            raise HTTPException(401, "bearer token required")
        try:
            claims = jwt.decode(
                header.removeprefix(BEARER), TEST_JWT_SECRET, algorithms=["HS256"]
            )
        except jwt.InvalidTokenError:
            raise HTTPException(401, "invalid bearer token") from None
        return UserCtx(str(claims["sub"]))

    @app.post("/chatkit")
    async def chatkit(
        request: Request, ctx: Annotated[UserCtx, Depends(context)]
    ) -> Response:
        result = await server.process(await request.body(), ctx)
        if isinstance(result, StreamingResult):
            return StreamingResponse(result, media_type="text/event-stream")
        return Response(content=result.json, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    """Entry point: serve the baseline with uvicorn (uvloop, httptools)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model-url", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.model_url),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
