"""Streaming multipart/form-data reception: the file part goes to the blob store chunk by
chunk, so an oversized upload is refused (413) after `max_bytes`, not after the whole body.

Starlette's `request.form()` spools the whole body first; this reader does not.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from learningtool import spans
from learningtool.errors import InvalidInput, PayloadTooLarge
from learningtool.storage import BlobStore, StagedBlob

MAX_FIELD_BYTES = 10_000
MAX_FIELDS = 20
FILE_FIELD = "file"


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Upload:
    file: StagedBlob
    filename: str | None
    fields: dict[str, str]


def safe_filename(raw: str | None) -> str | None:
    """A display name only (never a path): last path component, no control characters."""
    if not raw:
        return None
    name = re.split(r"[\\/]", raw)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    return name[:255] or None


def _content_disposition(value: str) -> tuple[str, str | None]:
    _kind, params = parse_options_header(value)
    name = params.get(b"name", b"").decode("utf-8", "replace")
    filename = params.get(b"filename")
    return name, filename.decode("utf-8", "replace") if filename is not None else None


@spans.timed("source.receive_upload")
async def receive_upload(
    request: Request,
    *,
    store: BlobStore,
    notebook_id: str,
    max_bytes: int,
    before_file: Callable[[dict[str, str]], None] | None = None,
) -> Upload:
    """Read a multipart body with one `file` part and small text fields. Raises 413 when
    Content-Length or the streamed file passes `max_bytes`, 422 when the body is malformed.
    `before_file` is given the fields sent before the file part, and may refuse the upload
    by raising before a byte of the file is stored (a browser sends a form's fields in
    document order: the web page's no-script upload checks its CSRF field this way)."""
    _kind, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidInput("multipart body without a boundary")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + MAX_FIELDS * MAX_FIELD_BYTES:
        raise PayloadTooLarge(
            f"the upload is larger than the limit of {max_bytes} bytes",
            details={"max_bytes": max_bytes},
        )
    reader = _MultipartReader(boundary)
    fields: dict[str, str] = {}
    staged: StagedBlob | None = None
    filename: str | None = None
    try:
        async for event, part in reader.parts(request.stream()):
            if event == "file":
                if staged is not None:
                    raise InvalidInput("send one file per request")
                filename = safe_filename(part.filename)
                if before_file is not None:
                    before_file(fields)
                staged = await store.stage(notebook_id, reader.file_data(), max_bytes=max_bytes)
            elif len(fields) < MAX_FIELDS:
                fields[part.name] = part.data.decode("utf-8", "replace")
            else:  # bounds the body besides the file: MAX_FIELDS x MAX_FIELD_BYTES
                raise InvalidInput(f"the form has more than {MAX_FIELDS} fields")
    except BaseException:
        if staged is not None:
            await store.discard(staged)
        raise
    if staged is None:
        raise InvalidInput(f"the multipart body has no {FILE_FIELD!r} part")
    return Upload(file=staged, filename=filename, fields=fields)


class _MultipartReader:
    """Adapts python-multipart's push parser to async iteration: `parts()` yields
    ("field", part) for small fields and ("file", part) when a file part starts, after which
    `file_data()` must be consumed to the end of that part."""

    def __init__(self, boundary: bytes) -> None:
        self._events: list[tuple[str, bytes]] = []
        header_field = bytearray()
        header_value = bytearray()
        self._header_field, self._header_value = header_field, header_value
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": lambda: self._events.append(("begin", b"")),
                "on_header_field": lambda d, s, e: header_field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: header_value.extend(d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": lambda: self._events.append(("headers", b"")),
                "on_part_data": lambda d, s, e: self._events.append(("data", bytes(d[s:e]))),
                "on_part_end": lambda: self._events.append(("end", b"")),
            },
        )
        self._stream: AsyncIterator[bytes] | None = None
        self._part = _Part()
        self._ended = False

    def _header_end(self) -> None:
        self._events.append(
            ("header", bytes(self._header_field) + b"\x00" + bytes(self._header_value))
        )
        self._header_field.clear()
        self._header_value.clear()

    async def _next_events(self) -> bool:
        assert self._stream is not None
        try:
            chunk = await anext(self._stream)
        except StopAsyncIteration:
            self._parser.finalize()
            return False
        try:
            self._parser.write(chunk)
        except Exception as error:
            raise InvalidInput("the multipart body is malformed") from error
        return True

    async def parts(self, stream: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, _Part]]:
        self._stream = stream
        more = True
        while more or self._events:
            if not self._events:
                more = await self._next_events()
                continue
            event, data = self._events.pop(0)
            if event == "begin":
                self._part = _Part()
            elif event == "header":
                key, _, value = data.partition(b"\x00")
                self._part.headers[key.decode("latin-1").lower()] = value.decode("latin-1")
            elif event == "headers":
                disposition = self._part.headers.get("content-disposition", "")
                self._part.name, self._part.filename = _content_disposition(disposition)
                if self._part.filename is not None and self._part.name != FILE_FIELD:
                    raise InvalidInput(
                        f"send the file in the form field {FILE_FIELD!r} "
                        f"(this one is named {self._part.name!r}), e.g. -F file=@notes.pdf"
                    )
                if self._part.name == FILE_FIELD:
                    yield "file", self._part
            elif event == "data":
                self._part.data += data
                if len(self._part.data) > MAX_FIELD_BYTES:
                    raise InvalidInput(f"form field {self._part.name!r} is too long")
            elif event == "end" and self._part.filename is None and self._part.name != FILE_FIELD:
                yield "field", self._part

    async def file_data(self) -> AsyncIterator[bytes]:
        """The current file part's bytes, as they arrive."""
        while True:
            while self._events:
                event, data = self._events[0]
                if event == "data":
                    self._events.pop(0)
                    yield data
                elif event == "end":
                    self._events.pop(0)
                    return
                else:
                    raise InvalidInput("the multipart body is malformed")
            if not await self._next_events():
                raise InvalidInput("the upload ended before the file was complete")
