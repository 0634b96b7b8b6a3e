"""GET /chatkit/helper.js: the browser helper (``gateway/static/helper.js``)."""

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Response

router = APIRouter(tags=["browser"])

JS_MEDIA_TYPE = "text/javascript"


@cache
def helper_source() -> bytes:
    """The helper's bytes, read from the package once."""
    return files("gateway").joinpath("static", "helper.js").read_bytes()


@router.get(
    "/chatkit/helper.js",
    summary="Browser helper: ChatKit fetch (bearer, Stop), resume after reload",
    response_class=Response,
    responses={
        200: {
            "description": "An ES module exporting createChatKitFetch({getToken, "
            "baseUrl}) and resumeAfterReload(chatkitElement, threadId, {getToken, "
            "baseUrl})",
            "content": {JS_MEDIA_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
async def helper_js() -> Response:
    """The helper as a static, dependency-free ES module (no auth needed)."""
    return Response(
        helper_source(),
        media_type=JS_MEDIA_TYPE,
        headers={"Cache-Control": "public, max-age=300"},
    )
