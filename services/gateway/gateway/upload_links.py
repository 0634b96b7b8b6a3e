"""Signed upload and preview links of attachments: no bearer token needed.

A link names the attachment, its owner and an expiry, and carries an
HMAC-SHA256 of the three under a key derived from the JWT secret for the link's
purpose. It is no JWT: the bearer auth can never accept one, and an upload link
cannot serve as a preview link (or the reverse).
"""

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlencode

from chatkit.types import ImageAttachment, ThreadItem, UserMessageItem
from pydantic import AnyUrl
from starlette.requests import Request

from gateway.settings import GatewaySettings

LinkPurpose = Literal["attachment-upload", "attachment-preview"]
RefusalReason = Literal["invalid_signature", "link_expired"]
KEY_LABEL = b"chatkit-gateway signed link key v1:"
PATHS: dict[LinkPurpose, str] = {
    "attachment-upload": "upload",
    "attachment-preview": "preview",
}


class LinkRefused(Exception):
    """The link's signature does not verify, or the link has expired."""

    def __init__(self, reason: RefusalReason) -> None:
        super().__init__(reason)
        self.reason: RefusalReason = reason


@dataclass(frozen=True)
class SignedLink:
    """The query parameters of a signed link."""

    user: str
    exp: int
    """Expiry as Unix seconds."""
    sig: str

    def query(self) -> str:
        """``user=...&exp=...&sig=...``."""
        return urlencode({"user": self.user, "exp": self.exp, "sig": self.sig})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LinkSigner:
    """Signs and verifies links; one key per purpose, derived from the JWT secret."""

    def __init__(self, secret: str, ttl_s: int) -> None:
        self._keys = {
            purpose: hmac.digest(
                secret.encode(), KEY_LABEL + purpose.encode(), hashlib.sha256
            )
            for purpose in PATHS
        }
        self.ttl_s = ttl_s

    def _signature(
        self, purpose: LinkPurpose, attachment_id: str, user_id: str, exp: int
    ) -> str:
        # Length-prefixed fields: no two (id, user) pairs share a message.
        message = "\n".join(
            [str(len(attachment_id)), attachment_id, str(len(user_id)), user_id]
        )
        payload = f"{message}\n{exp}".encode()
        return _b64(hmac.digest(self._keys[purpose], payload, hashlib.sha256))

    def sign(
        self,
        purpose: LinkPurpose,
        attachment_id: str,
        user_id: str,
        *,
        now: float | None = None,
    ) -> SignedLink:
        """A link valid for ``ttl_s`` seconds from ``now``."""
        exp = int(time.time() if now is None else now) + self.ttl_s
        sig = self._signature(purpose, attachment_id, user_id, exp)
        return SignedLink(user=user_id, exp=exp, sig=sig)

    def verify(
        self,
        purpose: LinkPurpose,
        attachment_id: str,
        link: SignedLink,
        *,
        now: float | None = None,
    ) -> None:
        """Raise ``LinkRefused`` unless the link is genuine and not expired."""
        expected = self._signature(purpose, attachment_id, link.user, link.exp)
        if not hmac.compare_digest(expected.encode(), link.sig.encode()):
            raise LinkRefused("invalid_signature")
        if link.exp <= (time.time() if now is None else now):
            raise LinkRefused("link_expired")


def public_base_url(settings: GatewaySettings, request: Request) -> str:
    """GATEWAY_PUBLIC_URL, else the URL this request reached us at."""
    if settings.gateway_public_url:
        return settings.gateway_public_url
    return str(request.base_url).rstrip("/")


@dataclass(frozen=True)
class AttachmentLinks:
    """Builds one user's attachment links under one base URL."""

    signer: LinkSigner
    base_url: str
    user_id: str

    def url(self, purpose: LinkPurpose, attachment_id: str) -> AnyUrl:
        """A freshly signed link of ``purpose`` for the attachment."""
        link = self.signer.sign(purpose, attachment_id, self.user_id)
        path = f"/attachments/{quote(attachment_id, safe='')}/{PATHS[purpose]}"
        return AnyUrl(f"{self.base_url}{path}?{link.query()}")

    def fresh_item(self, item: ThreadItem) -> ThreadItem:
        """The item with newly signed preview links (stored ones may have expired)."""
        if not isinstance(item, UserMessageItem) or not item.attachments:
            return item
        attachments = [
            attachment.model_copy(
                update={"preview_url": self.url("attachment-preview", attachment.id)}
            )
            if isinstance(attachment, ImageAttachment)
            else attachment
            for attachment in item.attachments
        ]
        return item.model_copy(update={"attachments": attachments})
