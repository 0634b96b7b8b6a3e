"""The bytes of an attachment upload: a multipart ``file`` field or the raw body.

Parsed as it arrives and refused (413) as soon as it is over the limit, never
spooled to disk: attachments are small (GATEWAY_ATTACHMENT_MAX_BYTES) and go to
the blob store in one piece.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from gateway.errors import ApiError
from gateway.media_types import media_type

FILE_FIELD = b"file"
MULTIPART_OVERHEAD_BYTES = 16 * 1024
"""Boundaries, part headers and small extra fields around the file."""


@dataclass(frozen=True)
class Upload:
    """The uploaded bytes and the type the client declared for them (may be '')."""

    data: bytes
    declared_type: str


def too_large(limit: int) -> ApiError:
    """The 413 for an upload over the attachment limit."""
    return ApiError(
        413, "attachment_too_large", f"attachments may be at most {limit} bytes"
    )


def _bad_multipart(detail: str) -> ApiError:
    return ApiError(400, "invalid_upload", detail)


@dataclass
class _FilePart:
    """Collects the ``file`` part of a multipart body while it is parsed."""

    limit: int
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    headers: dict[bytes, bytes] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)
    content_type: bytes = b""
    found: bool = False
    in_file: bool = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition"))
        # The first part named "file" is the upload; other fields are ignored.
        self.in_file = params.get(b"name") == FILE_FIELD and not self.found
        if self.in_file:
            self.found = True
            self.content_type = self.headers.get(b"content-type", b"")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file:
            return
        self.data += data[start:end]
        if len(self.data) > self.limit:
            raise too_large(self.limit)

    def on_part_end(self) -> None:
        self.in_file = False
        self.headers.clear()


async def _chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives; a 413 as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        raise too_large(limit)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        yield chunk


async def _multipart(request: Request, boundary: bytes, limit: int) -> Upload:
    part = _FilePart(limit)
    try:
        parser = MultipartParser(
            boundary,
            {
                "on_header_field": part.on_header_field,
                "on_header_value": part.on_header_value,
                "on_header_end": part.on_header_end,
                "on_headers_finished": part.on_headers_finished,
                "on_part_data": part.on_part_data,
                "on_part_end": part.on_part_end,
            },
        )
        async for chunk in _chunks(request, limit + MULTIPART_OVERHEAD_BYTES):
            parser.write(chunk)
        parser.finalize()
    except ValueError as exc:  # python_multipart.FormParserError included
        raise _bad_multipart(f"the multipart body is malformed: {exc}") from None
    if not part.found:
        raise _bad_multipart("the multipart body has no 'file' field")
    return Upload(bytes(part.data), media_type(part.content_type.decode("latin-1")))


async def read_upload(request: Request, limit: int) -> Upload:
    """The uploaded file: multipart ``file`` field, else the whole raw body."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise _bad_multipart("multipart/form-data without a boundary")
        return await _multipart(request, boundary, limit)
    data = b"".join([chunk async for chunk in _chunks(request, limit)])
    return Upload(data, media_type(content_type.decode("latin-1")))
