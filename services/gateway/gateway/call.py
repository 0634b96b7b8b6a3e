"""Call: what the handlers of one authenticated ChatKit request share."""

from dataclasses import dataclass

from starlette.requests import Request

from gateway.auth import User
from gateway.request_context import request_id
from gateway.state import State
from gateway.upload_links import AttachmentLinks, public_base_url


@dataclass(frozen=True)
class Call:
    """The caller, the process State, the request id and the caller's links."""

    state: State
    user: User
    request_id: str
    links: AttachmentLinks
    idempotency_key: str | None = None
    """``Idempotency-Key`` of a streaming request: a retry re-attaches to its run."""

    @classmethod
    def of(cls, request: Request, state: State, user: User) -> "Call":
        """The Call of an HTTP request."""
        links = AttachmentLinks(
            signer=state["links"],
            base_url=public_base_url(state["settings"], request),
            user_id=user.id,
        )
        return cls(state, user, request_id(request), links)
