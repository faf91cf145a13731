"""`/v1/files`: upload, list, read, download and delete files, as OpenAI's API does (what fine-tuning reads)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from lextune.core.errors import NotFoundError
from lextune.serve import files_store
from lextune.serve.auth import need, tenant_store
from lextune.serve.openai_errors import APIError, OpenAIRoute

router = APIRouter(prefix="/v1/files", tags=["files"], route_class=OpenAIRoute)


def _home(request: Request):
    return tenant_store(request).settings.home


def _keyring(request: Request):
    return tenant_store(request).keyring  # files are sealed at rest with the tenant store's data keys


def _found(request: Request, file_id: str) -> files_store.FileObject:
    try:
        return files_store.get_file(_home(request), file_id, keyring=_keyring(request))
    except NotFoundError:
        raise APIError(404, f"No such File object: {file_id}", param="file_id", code="file_not_found") from None


@router.post("", dependencies=[Depends(need("data"))])
def upload_file(request: Request, file: Annotated[UploadFile, File()],
                purpose: Annotated[str, Form()]) -> files_store.FileObject:
    """Store a file; one for fine-tuning must be chat JSONL, checked line by line now rather than at training."""
    if purpose not in files_store.PURPOSES:
        raise APIError(422, f"purpose: '{purpose}' is not one of {', '.join(files_store.PURPOSES)}",
                       param="purpose", code="invalid_value")
    try:
        return files_store.save_upload(_home(request), file.file, file.filename or "upload", purpose,
                                       keyring=_keyring(request))
    except files_store.FileFormatError as e:
        raise APIError(422, str(e), param="file", code="invalid_file_format") from None


@router.get("", dependencies=[Depends(need("read"))])
def list_files(request: Request, purpose: str | None = None, after: str | None = None,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
               order: Literal["asc", "desc"] = "desc") -> dict:
    """Files, newest first by default; `after` is the id of the last file of the previous page."""
    found = files_store.list_files(_home(request), purpose, keyring=_keyring(request))
    if order == "desc":
        found.reverse()
    if after is not None:
        ids = [f.id for f in found]
        if after not in ids:
            raise APIError(422, f"after: no file '{after}' in this listing", param="after", code="invalid_value")
        found = found[ids.index(after) + 1:]
    return {"object": "list", "data": [f.model_dump() for f in found[:limit]], "has_more": len(found) > limit,
            "first_id": found[0].id if found else None, "last_id": found[:limit][-1].id if found else None}


@router.get("/{file_id}", dependencies=[Depends(need("read"))])
def retrieve_file(request: Request, file_id: str) -> files_store.FileObject:
    return _found(request, file_id)


@router.get("/{file_id}/content", dependencies=[Depends(need("data"))])
def file_content(request: Request, file_id: str) -> Response:
    """The bytes exactly as uploaded (sealed at rest, opened in memory)."""
    record = _found(request, file_id)
    try:
        data = files_store.content_bytes(_home(request), file_id, keyring=_keyring(request))
    except NotFoundError:
        raise APIError(404, f"No such File object: {file_id}", param="file_id", code="file_not_found") from None
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": _attachment(record.filename)})


@router.delete("/{file_id}", dependencies=[Depends(need("data"))])
def delete_file(request: Request, file_id: str) -> dict:
    _found(request, file_id)
    try:
        files_store.delete_file(_home(request), file_id, keyring=_keyring(request))
    except NotFoundError:
        raise APIError(404, f"No such File object: {file_id}", param="file_id", code="file_not_found") from None
    return {"id": file_id, "object": "file", "deleted": True}


def _attachment(filename: str) -> str:
    # As FileResponse writes it: RFC 5987 for names beyond latin-1's safe characters.
    from urllib.parse import quote

    quoted = quote(filename)
    if quoted != filename:
        return f"attachment; filename*=utf-8''{quoted}"
    return f'attachment; filename="{filename}"'
