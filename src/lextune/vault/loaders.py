"""Read one file into LoadedDocuments: text, Markdown, HTML, e-mail, PDF, DOCX, JSONL and CUAD JSON.

Every failure becomes an IngestError naming the file and what is wrong with it, so a batch ingest can
report it and go on with the other files. The per-format loaders live in `lextune.vault.formats`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lextune.core.errors import IngestError
from lextune.core.records import LoadResult
from lextune.vault.contract_nli import is_contract_nli, parse_contract_nli
from lextune.vault.cuad import parse_squad_json
from lextune.vault.formats.common import decode_utf8, file_kind, gunzip_if_needed
from lextune.vault.formats.html import load_html
from lextune.vault.formats.jsonl import load_jsonl
from lextune.vault.formats.mail import load_eml
from lextune.vault.formats.pdf import load_pdf
from lextune.vault.formats.plaintext import load_text
from lextune.vault.formats.word import load_docx

__all__ = ["JSON_FORMATS", "SUPPORTED_SUFFIXES", "file_kind", "load_bytes", "load_path"]

Loader = Callable[[Path, bytes], LoadResult]


def load_path(path: Path) -> LoadResult:
    """Load the document(s) in `path`, dispatching on its suffix; raise IngestError if unreadable."""
    path = Path(path)
    if not path.exists():
        raise IngestError(path, "no such file")
    if path.is_dir():
        raise IngestError(path, "is a directory, not a file")
    _loader(path)  # an unsupported suffix is reported before the file is read
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(path, f"cannot read file: {exc.strerror or exc}") from exc
    return load_bytes(path, raw)


def load_bytes(path: Path, raw: bytes) -> LoadResult:
    """Load `raw` as the content of a file named `path` (e.g. an e-mail attachment); IngestError if bad."""
    loader = _loader(path)
    if not raw:
        raise IngestError(path, "empty file (0 bytes)")
    return loader(path, raw)


def _loader(path: Path) -> Loader:
    suffix = file_kind(path)
    loader = _LOADERS.get(suffix)
    if loader is None:
        shown = f"'{suffix}'" if suffix else "(no extension)"
        raise IngestError(path, f"unsupported file type {shown} (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    return loader


# .json formats, tried in order on the parsed top level: (name, what it looks like, detector, parser).
# A parser gets the file path, the decoded text and the parsed payload. To add a format (e.g. ContractNLI,
# whose top level has "documents" and "labels"), append an entry; nothing else changes.
JsonParser = Callable[[Path, str, Any], LoadResult]
JSON_FORMATS: list[tuple[str, str, Callable[[Any], bool], JsonParser]] = [
    (
        "CUAD/SQuAD JSON file",
        "an object with a 'data' list",
        lambda payload: isinstance(payload, dict) and isinstance(payload.get("data"), list),
        lambda path, text, payload: parse_squad_json(path, text, payload),
    ),
    (
        "ContractNLI JSON file",
        "an object with 'documents' and 'labels'",
        is_contract_nli,
        lambda path, text, payload: parse_contract_nli(path, payload),
    ),
]


def _load_json(path: Path, raw: bytes) -> LoadResult:
    """Parse once, then hand the file to the first JSON format whose detector accepts its top level."""
    text = decode_utf8(path, gunzip_if_needed(path, raw))
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(path, f"malformed JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from exc
    for _name, _shape, detects, parse in JSON_FORMATS:
        if detects(payload):
            return parse(path, text, payload)
    if isinstance(payload, dict):
        found = "an object with keys " + ", ".join(repr(k) for k in list(payload)[:8]) if payload else "an empty object"
    else:
        found = f"a JSON {type(payload).__name__}"
    expected = "; or ".join(f"not a {name}: expected {shape}" for name, shape, _, _ in JSON_FORMATS)
    raise IngestError(path, f"{expected} (found {found})")


_LOADERS: dict[str, Loader] = {
    ".txt": load_text,
    ".text": load_text,
    ".md": load_text,
    ".markdown": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".eml": load_eml,
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".json": _load_json,
    ".json.gz": _load_json,
    ".jsonl": load_jsonl,
    ".jsonl.gz": load_jsonl,
}
# Suffixes load_path accepts (compared lower-case; gzip files by their last two suffixes).
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(_LOADERS)
