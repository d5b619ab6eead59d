"""HTTP routes of sources: add (file, text or URL), list, read, chunks, text, reprocess, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import TypeAdapter, ValidationError

from learningtool.deps import AppDep, SessionDep, rate_limited
from learningtool.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from learningtool.jobs.schemas import JobRead
from learningtool.notebook.deps import NotebookDep
from learningtool.source import service
from learningtool.source.schemas import (
    ChunkPage,
    ChunkRead,
    SourceAccepted,
    SourceRead,
    TextSourceCreate,
    UrlSourceCreate,
)
from learningtool.source.upload import receive_upload

router = APIRouter(prefix="/notebooks/{notebook_id}/sources", tags=["sources"])

MAX_ORDINAL = 2**31 - 1  # the column is a 32-bit integer; larger overflowed SQLite (a 500)
MAX_JSON_BYTES = 8 * 1024 * 1024  # pasted text up to the text limit, as JSON
_JSON_BODY: TypeAdapter[TextSourceCreate | UrlSourceCreate] = TypeAdapter(
    TextSourceCreate | UrlSourceCreate
)

_ADD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string"},
                        "tags": {"type": "string", "description": "comma-separated"},
                    },
                }
            },
            "application/json": {
                # Inline: no route takes these models as its body, so FastAPI does not put
                # them in the components, and a $ref to them left the schema broken.
                "schema": {
                    "oneOf": [
                        TextSourceCreate.model_json_schema(),
                        UrlSourceCreate.model_json_schema(),
                    ]
                }
            },
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=_ADD_BODY,
    responses={200: {"description": "The same content is already in the notebook."}},
    dependencies=[rate_limited("sources")],
)
async def add_source(
    request: Request, notebook: NotebookDep, session: SessionDep, app: AppDep
) -> JSONResponse:
    """Add a file (multipart, field `file`), pasted text (JSON `{"text"}`) or a URL (JSON
    `{"url"}`). Answers 202 with the source and its ingestion job, or 200 with the existing
    source when the notebook already holds the same content."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        upload = await receive_upload(
            request,
            store=app.blobs,
            notebook_id=notebook.id,
            max_bytes=app.settings.max_upload_bytes,
        )
        added = await service.add_upload(session, app, notebook, upload)
    elif content_type == "application/json":
        added = await _add_json(request, session, app, notebook)
    else:
        raise UnsupportedMediaType(
            "send a file as multipart/form-data, or text or a URL as JSON",
            details={"supported": ["multipart/form-data", "application/json"]},
        )
    body = SourceAccepted(
        source=SourceRead.model_validate(added.source),
        job=JobRead.of(added.job) if added.job else None,
        duplicate=added.duplicate,
    )
    code = status.HTTP_200_OK if added.duplicate else status.HTTP_202_ACCEPTED
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


async def _add_json(
    request: Request, session: SessionDep, app: AppDep, notebook: NotebookDep
) -> service.Added:
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON_BYTES:
            raise PayloadTooLarge(f"a JSON body is limited to {MAX_JSON_BYTES} bytes")
    try:
        body = _JSON_BODY.validate_json(bytes(raw))
    except ValidationError as error:
        problems = [
            {"loc": [str(p) for p in e["loc"]], "message": e["msg"]} for e in error.errors()
        ]
        raise InvalidInput(
            'expected {"text": ...} or {"url": ...}', details={"errors": problems}
        ) from None
    if isinstance(body, UrlSourceCreate):
        return await service.add_url(
            session, app, notebook, url=body.url, title=body.title, tags=body.tags
        )
    return await service.add_text(
        session, app, notebook, text=body.text, title=body.title, tags=body.tags
    )


@router.get("")
async def list_sources(notebook: NotebookDep, session: SessionDep) -> list[SourceRead]:
    return [SourceRead.model_validate(s) for s in await service.list_sources(session, notebook)]


@router.get("/{source_id}")
async def get_source(source_id: str, notebook: NotebookDep, session: SessionDep) -> SourceRead:
    return SourceRead.model_validate(await service.get_source(session, notebook, source_id))


@router.get("/{source_id}/chunks")
async def list_chunks(
    source_id: str,
    notebook: NotebookDep,
    session: SessionDep,
    after: Annotated[int, Query(ge=-1, le=MAX_ORDINAL, description="Ordinal to start after.")] = -1,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ChunkPage:
    source = await service.get_source(session, notebook, source_id)
    chunks = await service.list_chunks(session, source, after=after, limit=limit)
    items = [ChunkRead.model_validate(c) for c in chunks]
    return ChunkPage(items=items, next_after=items[-1].ordinal if len(items) == limit else None)


@router.get("/{source_id}/text", response_class=PlainTextResponse)
async def get_text(source_id: str, notebook: NotebookDep, session: SessionDep) -> Response:
    """The extracted text, which every chunk's `start_char`/`end_char` index into."""
    source = await service.get_source(session, notebook, source_id)
    return PlainTextResponse(service.extracted_text(source))


@router.post("/{source_id}/reprocess", status_code=status.HTTP_202_ACCEPTED)
async def reprocess(source_id: str, notebook: NotebookDep, session: SessionDep) -> JobRead:
    source = await service.get_source(session, notebook, source_id)
    return JobRead.of(await service.reprocess(session, notebook, source))


@router.delete("/{source_id}", status_code=status.HTTP_202_ACCEPTED)
async def delete_source(source_id: str, notebook: NotebookDep, session: SessionDep) -> JobRead:
    """The source and everything derived from it are gone at once; its files and index
    entries are removed by the returned job."""
    source = await service.get_source(session, notebook, source_id)
    return JobRead.of(await service.delete_source(session, notebook, source))
