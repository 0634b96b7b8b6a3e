"""The reference app's HTTP face: ``POST /chatkit`` exactly as the SDK documents it.

No error mapping on purpose: what the SDK raises becomes a bare 500 (JSON ops)
or a dropped connection (streaming ops, which fail after the 200 headers), so
the suite sees the SDK's real behaviour. Authentication is the same bearer JWT
our gateway takes (the SDK leaves it to the integrator).
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import jwt
from agents import OpenAIResponsesModel
from chatkit.server import StreamingResult
from chatkit.store import NotFoundError
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from openai import AsyncOpenAI
from starlette.datastructures import UploadFile

from agent_worker.turn_context import TurnContext
from shared.history_client import HistoryClient
from testkit.reference_app.agent_app import load_agent_app
from testkit.reference_app.attachment_store import MemoryAttachmentStore
from testkit.reference_app.memory_store import MemoryStore
from testkit.reference_app.server import ReferenceServer, new_request_context
from testkit.reference_app.settings import ReferenceSettings

BEARER = "Bearer "

log = logging.getLogger("testkit.reference_app")


def create_app(settings: ReferenceSettings) -> FastAPI:
    """The reference app for these settings."""
    openai = AsyncOpenAI(base_url=settings.model_base_url, api_key="test")
    history = HistoryClient(settings.history_url)
    store: MemoryStore[TurnContext] = MemoryStore()
    attachments: MemoryAttachmentStore[TurnContext] = MemoryAttachmentStore(
        store, settings.public_url
    )
    agent_app = load_agent_app(OpenAIResponsesModel(settings.model, openai))
    server = ReferenceServer(
        store, attachments, agent_app, openai, settings.transcribe_model
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await history.aclose()
        await openai.close()

    app = FastAPI(title="ChatKit reference server", lifespan=lifespan)

    def context(request: Request) -> TurnContext:
        header = request.headers.get("authorization", "")
        if not header.startswith(BEARER):
            raise HTTPException(401, "bearer token required")
        try:
            claims = jwt.decode(
                header.removeprefix(BEARER), settings.jwt_secret, algorithms=["HS256"]
            )
        except jwt.InvalidTokenError:
            raise HTTPException(401, "invalid bearer token") from None
        return new_request_context(str(claims["sub"]), history)

    @app.post("/chatkit")
    async def chatkit(
        request: Request, ctx: Annotated[TurnContext, Depends(context)]
    ) -> Response:
        try:
            result = await server.process(await request.body(), ctx)
        except Exception:
            # The bare 500 the framework would send for the SDK's exception, minus
            # the connection teardown that follows an unhandled one (a kept-alive
            # client would see the next request fail instead).
            log.exception("chatkit request failed")
            return PlainTextResponse("Internal Server Error", status_code=500)
        if isinstance(result, StreamingResult):
            return StreamingResponse(result, media_type="text/event-stream")
        return Response(content=result.json, media_type="application/json")

    _add_attachment_routes(app, attachments)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _add_attachment_routes(
    app: FastAPI, attachments: MemoryAttachmentStore[TurnContext]
) -> None:
    @app.api_route("/attachments/{attachment_id}/upload", methods=["POST", "PUT"])
    async def upload(
        attachment_id: str, request: Request, token: Annotated[str, Query()]
    ) -> Response:
        data = await _upload_bytes(request)
        try:
            attachment = await attachments.upload(attachment_id, token, data)
        except NotFoundError:
            raise HTTPException(404, "attachment not found") from None
        except PermissionError:
            raise HTTPException(403, "bad upload token") from None
        return Response(
            content=attachment.model_dump_json(exclude_none=True),
            media_type="application/json",
        )

    @app.get("/attachments/{attachment_id}/preview")
    async def preview(attachment_id: str, token: Annotated[str, Query()]) -> Response:
        try:
            data, mime_type = await attachments.preview(attachment_id, token)
        except NotFoundError:
            raise HTTPException(404, "attachment not found") from None
        except PermissionError:
            raise HTTPException(403, "bad token") from None
        return Response(content=data, media_type=mime_type)


async def _upload_bytes(request: Request) -> bytes:
    """The uploaded file: multipart field ``file`` or the raw body."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(400, "multipart field 'file' is required")
        return await upload.read()
    return await request.body()
