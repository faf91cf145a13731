"""The CPU-heavy half of ingest, run in worker processes: read, chunk, find defined terms, sign.

A worker returns plain, picklable records; only the parent process writes to the store, one
transaction per file, so the database never sees a half-ingested file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lextune.core.errors import IngestError
from lextune.core.records import ChunkSpan, DefinedTerm, LoadedDocument
from lextune.vault.chunker import chunk_text
from lextune.vault.dedup import signature_bytes
from lextune.vault.definitions import extract_defined_terms
from lextune.vault.loaders import load_bytes, load_path
from lextune.vault.metadata import metadata_for


class PreparedDocument(BaseModel):
    """One loaded document with everything the store needs, computed off the main process."""

    doc: LoadedDocument
    text_sha256: str
    chunks: list[ChunkSpan]
    defined_terms: list[DefinedTerm]
    signature: bytes
    chunk_signatures: list[bytes]


class PreparedFile(BaseModel):
    path: str
    file_sha256: str | None = None
    documents: list[PreparedDocument] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None  # "path: reason" when the whole file was skipped
    reason: str | None = None


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def prepare_file(path: str, base_meta: dict[str, Any], max_chunk_chars: int) -> PreparedFile:
    """Load one file and prepare its documents; any IngestError becomes `error` (the batch goes on)."""
    p = Path(path)
    try:
        meta = metadata_for(p, base_meta)
        if not p.is_file():
            result = load_path(p)  # raises the precise error (no such file, a directory, ...)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise IngestError(p, f"cannot read file: {exc.strerror or exc}") from exc
        result = load_bytes(p, raw)
        file_sha = hashlib.sha256(raw).hexdigest()
    except IngestError as exc:
        return PreparedFile(path=path, error=str(exc), reason=exc.reason)
    except Exception as exc:  # noqa: BLE001 - a loader bug on one file must not stop the batch
        reason = f"unexpected error while reading ({type(exc).__name__}: {exc})"
        return PreparedFile(path=path, error=f"{path}: {reason}", reason=reason)
    prepared = PreparedFile(path=path, file_sha256=file_sha, warnings=list(result.warnings))
    for doc in result.documents:
        # Loader metadata (e.g. e-mail headers) < the user's metadata: what the user says wins.
        doc = doc.model_copy(update={"metadata": {**doc.metadata, **meta}})
        spans = chunk_text(doc.text, max_chars=max_chunk_chars)
        prepared.documents.append(PreparedDocument(
            doc=doc, text_sha256=text_sha256(doc.text), chunks=spans,
            defined_terms=extract_defined_terms(doc.text),
            signature=signature_bytes(doc.text),
            chunk_signatures=[signature_bytes(doc.text[s.start:s.end]) for s in spans],
        ))
    return prepared
