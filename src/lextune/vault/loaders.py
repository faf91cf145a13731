"""Read one file into LoadedDocuments: plain text, Markdown, PDF, DOCX and CUAD (JSON / JSONL).

Every failure becomes an IngestError naming the file and what is wrong with it, so a batch
ingest can report it and go on with the other files.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable
from pathlib import Path

from lextune.core.errors import IngestError
from lextune.core.records import LoadedDocument, LoadResult
from lextune.vault.cuad import parse_contracts_jsonl, parse_squad_json

_UTF8_BOM = b"\xef\xbb\xbf"


def load_path(path: Path) -> LoadResult:
    """Load the document(s) in `path`, dispatching on its suffix; raise IngestError if unreadable."""
    path = Path(path)
    if not path.exists():
        raise IngestError(path, "no such file")
    if path.is_dir():
        raise IngestError(path, "is a directory, not a file")
    suffix = file_kind(path)
    loader = _LOADERS.get(suffix)
    if loader is None:
        shown = f"'{suffix}'" if suffix else "(no extension)"
        raise IngestError(path, f"unsupported file type {shown} (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(path, f"cannot read file: {exc.strerror or exc}") from exc
    return loader(path, raw)


def file_kind(path: Path) -> str:
    """The lower-cased suffix, keeping the inner one for gzip files ('.jsonl.gz')."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] == ".gz":
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def _stem(path: Path) -> str:
    """The file name without its (possibly double, e.g. '.json.gz') suffix."""
    name = path.name
    return name[: len(name) - len(file_kind(path))] or name


def _decode_utf8(path: Path, raw: bytes) -> str:
    """Decode UTF-8 (an optional BOM is dropped); the error names the offending byte offset in the file."""
    skip = len(_UTF8_BOM) if raw.startswith(_UTF8_BOM) else 0
    try:
        return raw[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        pos = skip + exc.start
        line = raw.count(b"\n", 0, pos) + 1
        raise IngestError(
            path,
            f"not valid UTF-8 text (byte {pos}): {exc.reason} 0x{raw[pos]:02x} on line {line}; "
            "re-save the file as UTF-8",
        ) from exc


def _gunzip(path: Path, raw: bytes) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(path, f"not a valid gzip file: {exc}") from exc


def _require_text(path: Path, text: str) -> str:
    """Reject documents with nothing to index, and binary files that happen to decode."""
    if not text.strip():
        raise IngestError(path, "empty document")
    if "\x00" in text:
        raise IngestError(path, "contains NUL bytes; looks like a binary file, not text")
    return text


def _load_text(path: Path, raw: bytes) -> LoadResult:
    fmt = "txt" if file_kind(path) == ".txt" else "md"
    text = _require_text(path, _decode_utf8(path, raw))
    doc = LoadedDocument(title=_stem(path), text=text, format=fmt, source_path=str(path))
    return LoadResult(documents=[doc])


def _load_pdf(path: Path, raw: bytes) -> LoadResult:
    from pypdf import PdfReader  # imported on use: only PDF ingests should pay for it

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            # An empty user password opens PDFs that only restrict editing or printing.
            try:
                opened = bool(reader.decrypt(""))
            except Exception as exc:  # e.g. AES without the optional `cryptography` package
                raise IngestError(path, f"encrypted PDF that cannot be decrypted: {exc}") from exc
            if not opened:
                raise IngestError(path, "encrypted PDF: a password is required; save an unprotected copy")
        pages = list(reader.pages)
    except IngestError:
        raise
    except Exception as exc:  # pypdf raises many exception types on damaged files, not only PyPdfError
        raise IngestError(path, f"corrupt or unreadable PDF: {exc or type(exc).__name__}") from exc

    warnings: list[str] = []
    texts: list[str] = []
    for number, page in enumerate(pages, start=1):
        try:
            texts.append(page.extract_text() or "")
        except Exception as exc:  # noqa: BLE001 - one damaged page should not lose the whole document
            warnings.append(f"{path}: page {number}: text extraction failed ({exc}); page skipped")
    text = "\n\n".join(t for t in texts if t.strip())
    if not text.strip():
        reason = "PDF has no pages" if not pages else "no extractable text (scanned image? run OCR first)"
        raise IngestError(path, reason)
    doc = LoadedDocument(
        title=_stem(path),
        text=text,
        format="pdf",
        source_path=str(path),
        metadata={"pages": len(pages)},
    )
    return LoadResult(documents=[doc], warnings=warnings)


def _load_docx(path: Path, raw: bytes) -> LoadResult:
    import docx  # imported on use: python-docx (lxml) is slow to import

    # python-docx surfaces zip, XML and package errors under many types; any of them means corrupt.
    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:
        raise IngestError(path, f"corrupt or unreadable DOCX: {exc or type(exc).__name__}") from exc
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            cells: list[str] = []
            seen: set[int] = set()
            for cell in row.cells:
                # Merged cells are returned once per grid column; keep each underlying cell once.
                if id(cell._tc) not in seen:
                    seen.add(id(cell._tc))
                    cells.append(cell.text.strip())
            lines.append(" | ".join(cells))
    text = _require_text(path, "\n".join(lines))
    doc = LoadedDocument(title=_stem(path), text=text, format="docx", source_path=str(path))
    return LoadResult(documents=[doc])


def _load_cuad_json(path: Path, raw: bytes) -> LoadResult:
    if file_kind(path).endswith(".gz"):
        raw = _gunzip(path, raw)
    return parse_squad_json(path, _decode_utf8(path, raw))


def _load_cuad_jsonl(path: Path, raw: bytes) -> LoadResult:
    if file_kind(path).endswith(".gz"):
        raw = _gunzip(path, raw)
    return parse_contracts_jsonl(path, _decode_utf8(path, raw))


_LOADERS: dict[str, Callable[[Path, bytes], LoadResult]] = {
    ".txt": _load_text,
    ".md": _load_text,
    ".markdown": _load_text,
    ".pdf": _load_pdf,
    ".docx": _load_docx,
    ".json": _load_cuad_json,
    ".json.gz": _load_cuad_json,
    ".jsonl": _load_cuad_jsonl,
    ".jsonl.gz": _load_cuad_jsonl,
}
# Suffixes load_path accepts (compared lower-case; gzip files by their last two suffixes).
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(_LOADERS)
