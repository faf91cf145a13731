"""Plain text and Markdown in any common encoding."""

from __future__ import annotations

from pathlib import Path

from lextune.core.records import LoadedDocument, LoadResult
from lextune.vault.formats.common import file_kind, require_text, stem
from lextune.vault.formats.encoding import decode_text

_MARKDOWN = {".md", ".markdown"}


def load_text(path: Path, raw: bytes) -> LoadResult:
    """One document; metadata["encoding"] names the encoding the bytes were decoded from."""
    decoded = decode_text(path, raw)
    text = require_text(path, decoded.text)
    fmt = "md" if file_kind(path) in _MARKDOWN else "txt"
    doc = LoadedDocument(
        title=stem(path), text=text, format=fmt, source_path=str(path), metadata=decoded.metadata()
    )
    return LoadResult(documents=[doc], warnings=decoded.warnings)
