"""What a request must pass before it reaches the model: the token, the body size, the media type, the
image's pixel count and its decoding. Each refusal is a `RequestError` with the HTTP status, a short
kind (the label of the error counter) and a message that names the problem.

Order matters for safety: the body is counted while it streams in (a client that lies about, or omits,
Content-Length is cut off at the limit), and an image's size is read from its header before any pixel
is decoded, so neither a huge upload nor a small file that decodes to gigapixels takes the memory.
"""

from __future__ import annotations

import hmac
import io
from collections.abc import AsyncIterable

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ImageReadError
from ..io import decode_image_bytes

RAW_TYPES = ("application/octet-stream",)
MULTIPART = "multipart/form-data"
# the multipart fields an image may come in (otherwise the first part that carries a file name)
IMAGE_FIELDS = ("image", "file")


class RequestError(Exception):
    """A request refused with `status`; `kind` names the reason in metrics and in the JSON answer."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, str | int]:
        """The JSON answer: what went wrong, in a word and in a sentence."""
        return {"error": self.kind, "message": self.message, "status": self.status}


def token_matches(authorization: str | None, token: str) -> bool:
    """Whether an Authorization header carries `Bearer <token>`; the comparison takes the same time
    wherever the first difference is (`hmac.compare_digest`), so timing tells nothing about the token."""
    if not authorization:
        return False
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8"), token.encode("utf-8"))


async def read_body(chunks: AsyncIterable[bytes], content_length: str | None, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to pass `max_bytes` (from Content-Length
    before reading, else while it streams in)."""
    too_large = f"the body is larger than this server accepts ({max_bytes / 2**20:g} MiB; max_body_bytes)"
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise RequestError(400, "bad_request", f"Content-Length is not a number: {content_length!r}") from None
        if declared > max_bytes:
            raise RequestError(413, "body_too_large", f"{too_large}: Content-Length says {declared} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise RequestError(413, "body_too_large", too_large)
        parts.append(chunk)
    return b"".join(parts)


def image_bytes(body: bytes, content_type: str | None) -> bytes:
    """The encoded image a request carries: the raw body (image/*, application/octet-stream or no type),
    or the `image`/`file` part (or first file) of a multipart form; 415 for any other media type."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == MULTIPART:
        return _multipart_image(body, content_type or "")
    if media and not (media.startswith("image/") or media in RAW_TYPES):
        raise RequestError(415, "unsupported_media_type",
                           f"Content-Type {media!r} is not an image; send the image as the body (image/*, "
                           f"application/octet-stream) or as the '{IMAGE_FIELDS[0]}' field of multipart/form-data")
    return body


def _multipart_image(body: bytes, content_type: str) -> bytes:
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise RequestError(422, "bad_multipart", "multipart/form-data without a boundary in Content-Type")
    parts: list[tuple[dict[bytes, bytes], bytearray]] = []
    header: dict[str, bytes] = {"field": b"", "value": b""}

    def begin() -> None:
        parts.append(({}, bytearray()))

    def header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def header_end() -> None:
        parts[-1][0][header["field"].strip().lower()] = header["value"].strip()
        header["field"], header["value"] = b"", b""

    def data(chunk: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(chunk[start:end])

    parser = MultipartParser(boundary, {"on_part_begin": begin, "on_header_field": header_field,
                                        "on_header_value": header_value, "on_header_end": header_end,
                                        "on_part_data": data})
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise RequestError(422, "bad_multipart", f"the multipart/form-data body cannot be read ({exc})") from None
    files: list[tuple[str, bytes]] = []
    for headers, content in parts:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if name in IMAGE_FIELDS or b"filename" in disposition:
            files.append((name, bytes(content)))
    for wanted in IMAGE_FIELDS:
        for name, content in files:
            if name == wanted:
                return content
    if files:
        return files[0][1]
    names = [parse_options_header(h.get(b"content-disposition", b""))[1].get(b"name", b"").decode("utf-8", "replace")
             for h, _ in parts]
    raise RequestError(422, "no_image_field", f"the multipart form has no file part (fields: {names or 'none'}); "
                                              f"send the image as the '{IMAGE_FIELDS[0]}' field")


def decode_upload(data: bytes, max_pixels: int, name: str = "upload") -> np.ndarray:
    """RGB pixels of an upload, as `predict` decodes a file (`io.decode_image_bytes`, EXIF orientation
    applied). 415: not an image format; 413: more than `max_pixels` (read from the header first);
    422: empty, truncated or corrupt."""
    if not data:
        raise RequestError(422, "empty_image", "the request carries no image (empty body)")
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
            kind = header.format or "image"
    except Image.DecompressionBombError as exc:
        raise RequestError(413, "too_many_pixels", f"{name}: too many pixels to decode safely ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise RequestError(415, "not_an_image", f"{name}: the body is not an image this server reads (PNG, JPEG, "
                                                f"WebP, TIFF, BMP, ...); {len(data)} bytes starting {data[:8]!r}") from None
    if width * height > max_pixels:
        raise RequestError(413, "too_many_pixels", f"{name}: {kind} of {width}×{height} = {width * height / 1e6:.1f} "
                                                   f"megapixels; this server takes up to {max_pixels / 1e6:g} "
                                                   "megapixels (max_pixels)")
    try:
        return decode_image_bytes(data, name)
    except ImageReadError as exc:
        raise RequestError(422, "unreadable_image", f"{exc} (truncated or corrupt {kind})") from None


__all__ = ["IMAGE_FIELDS", "RequestError", "decode_upload", "image_bytes", "read_body", "token_matches"]
