"""MIME type helpers and the byte signatures of the image formats we accept."""

from collections.abc import Mapping

IMAGE_SIGNATURES: Mapping[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
WEBP_TYPE = "image/webp"
CHECKED_IMAGE_TYPES = frozenset({*IMAGE_SIGNATURES, WEBP_TYPE})
"""Image types whose uploaded bytes are checked against the format's signature."""


def media_type(mime_type: str) -> str:
    """``Image/PNG; q=1`` -> ``image/png``: the type without its parameters."""
    return mime_type.split(";", 1)[0].strip().lower()


def is_image(mime_type: str) -> bool:
    """Whether a (normalised) MIME type is an image type."""
    return mime_type.startswith("image/")


def has_image_signature(mime_type: str, data: bytes) -> bool:
    """Whether ``data`` starts the way an image of ``mime_type`` must start."""
    if mime_type == WEBP_TYPE:
        # RIFF container: "RIFF", 4 bytes of length, then "WEBP".
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data.startswith(IMAGE_SIGNATURES.get(mime_type, ()))
