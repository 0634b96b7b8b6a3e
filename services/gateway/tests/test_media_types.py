import pytest

from gateway.media_types import has_image_signature, media_type

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"
GIF = b"GIF89a\x01\x00\x01\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 "


@pytest.mark.parametrize(
    ("mime_type", "data"),
    [("image/png", PNG), ("image/jpeg", JPEG), ("image/gif", GIF),
     ("image/gif", b"GIF87a..."), ("image/webp", WEBP)],
)  # fmt: skip
def test_each_image_type_accepts_its_own_signature(mime_type: str, data: bytes) -> None:
    assert has_image_signature(mime_type, data)


@pytest.mark.parametrize(
    ("mime_type", "data"),
    [("image/png", JPEG), ("image/jpeg", PNG), ("image/gif", b"GIF90a"),
     ("image/webp", b"RIFF\x24\x00\x00\x00WAVEfmt "), ("image/png", b""),
     ("image/png", b"<svg onload=alert(1)>"), ("image/svg+xml", b"<svg/>")],
)  # fmt: skip
def test_bytes_of_another_format_or_an_unchecked_type_are_refused(
    mime_type: str, data: bytes
) -> None:
    assert not has_image_signature(mime_type, data)


def test_media_type_drops_parameters_and_case() -> None:
    assert media_type(" Audio/WebM; codecs=opus") == "audio/webm"
    assert media_type("") == ""
