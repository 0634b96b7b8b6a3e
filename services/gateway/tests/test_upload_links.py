import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from chatkit.types import (
    FileAttachment,
    ImageAttachment,
    InferenceOptions,
    UserMessageItem,
    UserMessageTextContent,
)
from pydantic import AnyUrl

from gateway.auth import verify_token
from gateway.errors import ApiError
from gateway.settings import GatewaySettings
from gateway.upload_links import (
    AttachmentLinks,
    LinkRefused,
    LinkSigner,
    SignedLink,
)
from testkit.tokens import TEST_JWT_SECRET

NOW = 1_900_000_000.0


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(TEST_JWT_SECRET, ttl_s=3600)


def test_a_signed_link_verifies_until_it_expires(signer: LinkSigner) -> None:
    link = signer.sign("attachment-upload", "atc_1", "u1", now=NOW)
    assert link.exp == NOW + 3600
    signer.verify("attachment-upload", "atc_1", link, now=NOW + 3599)
    with pytest.raises(LinkRefused) as refused:
        signer.verify("attachment-upload", "atc_1", link, now=NOW + 3600)
    assert refused.value.reason == "link_expired"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda link: SignedLink(link.user + "x", link.exp, link.sig),
        lambda link: SignedLink(link.user, link.exp + 3600, link.sig),
        lambda link: SignedLink(link.user, link.exp, link.sig[:-2] + "AA"),
        lambda link: SignedLink(link.user, link.exp, ""),
    ],
    ids=["other-user", "later-expiry", "altered-signature", "no-signature"],
)
def test_any_change_to_a_link_breaks_its_signature(
    signer: LinkSigner, tamper: Callable[[SignedLink], SignedLink]
) -> None:
    link = signer.sign("attachment-preview", "atc_1", "u1", now=NOW)
    with pytest.raises(LinkRefused) as refused:
        signer.verify("attachment-preview", "atc_1", tamper(link), now=NOW)
    assert refused.value.reason == "invalid_signature"


def test_a_link_is_bound_to_its_attachment_and_its_purpose(
    signer: LinkSigner,
) -> None:
    link = signer.sign("attachment-upload", "atc_1", "u1", now=NOW)
    for purpose, attachment_id in [
        ("attachment-upload", "atc_2"),
        ("attachment-preview", "atc_1"),
    ]:
        with pytest.raises(LinkRefused):
            signer.verify(purpose, attachment_id, link, now=NOW)  # type: ignore[arg-type]


def test_links_signed_with_another_secret_do_not_verify(signer: LinkSigner) -> None:
    other = LinkSigner(TEST_JWT_SECRET + "-other", ttl_s=3600)
    link = other.sign("attachment-upload", "atc_1", "u1", now=NOW)
    with pytest.raises(LinkRefused):
        signer.verify("attachment-upload", "atc_1", link, now=NOW)


def test_ids_cannot_slide_between_fields_of_the_signed_message(
    signer: LinkSigner,
) -> None:
    link = signer.sign("attachment-upload", "atc_1\nu", "1", now=NOW)
    with pytest.raises(LinkRefused):
        signer.verify(
            "attachment-upload", "atc_1", SignedLink("u\n1", link.exp, link.sig)
        )


def test_a_link_signature_is_never_a_bearer_token(signer: LinkSigner) -> None:
    settings = GatewaySettings(_env_file=None, env="test", jwt_secret=TEST_JWT_SECRET)
    link = signer.sign("attachment-upload", "atc_1", "u1")
    for candidate in (link.sig, link.query(), f"{link.user}.{link.exp}.{link.sig}"):
        with pytest.raises(ApiError) as refused:
            verify_token(candidate, settings)
        assert refused.value.status == 401


def test_links_point_at_the_gateway_with_the_signed_query(signer: LinkSigner) -> None:
    links = AttachmentLinks(signer, "https://chat.example/api", "user@example")
    url = urlsplit(str(links.url("attachment-preview", "atc_9")))
    assert (url.scheme, url.netloc) == ("https", "chat.example")
    assert url.path == "/api/attachments/atc_9/preview"
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert query["user"] == "user@example"
    link = SignedLink(query["user"], int(query["exp"]), query["sig"])
    signer.verify("attachment-preview", "atc_9", link, now=time.time())


def test_fresh_item_re_signs_image_previews_and_leaves_files_alone(
    signer: LinkSigner,
) -> None:
    stale = AnyUrl("http://old.example/attachments/atc_i/preview?sig=x")
    image = ImageAttachment(
        id="atc_i", name="a.png", mime_type="image/png", preview_url=stale
    )
    file = FileAttachment(id="atc_f", name="a.txt", mime_type="text/plain")
    item = UserMessageItem(
        id="msg_1", thread_id="thr_1", created_at="2026-01-01T00:00:00Z",
        content=[UserMessageTextContent(text="see")], attachments=[image, file],
        inference_options=InferenceOptions(),
    )  # fmt: skip
    links = AttachmentLinks(signer, "http://gw.example", "u1")
    fresh = links.fresh_item(item)
    assert isinstance(fresh, UserMessageItem)
    new_image, new_file = fresh.attachments
    assert isinstance(new_image, ImageAttachment)
    assert str(new_image.preview_url).startswith("http://gw.example/attachments/atc_i/")
    assert new_file == file
    assert item.attachments[0] == image  # the stored item is not changed
