"""Small helpers every format loader shares: file kinds, titles, gzip and strict UTF-8."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from lextune.core.errors import IngestError

_UTF8_BOM = b"\xef\xbb\xbf"


def file_kind(path: Path) -> str:
    """The lower-cased suffix, keeping the inner one for gzip files ('.jsonl.gz')."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if len(suffixes) >= 2 and suffixes[-1] == ".gz":
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def stem(path: Path) -> str:
    """The file name without its (possibly double, e.g. '.json.gz') suffix."""
    name = path.name
    return name[: len(name) - len(file_kind(path))] or name


def gunzip_if_needed(path: Path, raw: bytes) -> bytes:
    """The decompressed bytes of a '*.gz' file, else `raw` unchanged."""
    if not file_kind(path).endswith(".gz"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(path, f"not a valid gzip file: {exc}") from exc


def decode_utf8(path: Path, raw: bytes) -> str:
    """Decode UTF-8 (an optional BOM is dropped); the error names the offending byte offset in the file.

    JSON and JSONL must be UTF-8 (RFC 8259), so these formats get no encoding detection.
    """
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


def require_text(path: Path, text: str) -> str:
    """Reject documents with nothing to index."""
    if not text.strip():
        raise IngestError(path, "empty document")
    return text
