"""JSONL of `{"text": ..., <metadata>}` records, one document per line; CUAD contract files go to cuad.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lextune.core.errors import IngestError
from lextune.core.records import LoadedDocument, LoadResult
from lextune.vault.cuad import parse_contracts_jsonl
from lextune.vault.formats.common import decode_utf8, gunzip_if_needed

# Metadata a user sets per document; other spellings ("Practice Area", "doc_type") are mapped onto these.
STANDARD_KEYS = ("client", "matter", "jurisdiction", "practice_area", "document_type")
_ALIASES = {"doc_type": "document_type", "documenttype": "document_type", "practicearea": "practice_area"}
_KEY_SEPARATORS = re.compile(r"[\s\-]+")
_SCALARS = (str, int, float, bool)


def load_jsonl(path: Path, raw: bytes) -> LoadResult:
    """One document per line with a non-empty "text"; bad lines are warnings, the file fails if none loads."""
    text = decode_utf8(path, gunzip_if_needed(path, raw))
    # Split on "\n" only: str.splitlines() would also split on U+2028 etc. inside JSON strings.
    lines = text.split("\n")
    first = _first_record(lines)
    if isinstance(first, dict) and isinstance(first.get("clauses"), dict):
        return parse_contracts_jsonl(path, text)
    result = LoadResult()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        doc = _record(path, lineno, line, result.warnings)
        if doc is not None:
            result.documents.append(doc)
    if not result.documents:
        if not result.warnings:
            raise IngestError(path, "no records (the file has only blank lines)")
        raise IngestError(
            path, f"no loadable records ({len(result.warnings)} problem(s); first: {result.warnings[0]})"
        )
    return result


def _first_record(lines: list[str]) -> Any:
    """The first line that parses as a JSON object (None if none does): it decides the file's format."""
    for line in lines:
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                return record
    return None


def _record(path: Path, lineno: int, line: str, warnings: list[str]) -> LoadedDocument | None:
    where = f"{path}: line {lineno}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        warnings.append(f"{where}: malformed JSON ({exc.msg}, column {exc.colno}); skipped")
        return None
    if not isinstance(record, dict):
        warnings.append(f"{where}: not a JSON object; skipped")
        return None
    text = record.get("text")
    if not isinstance(text, str):
        warnings.append(f"{where}: no 'text' string; skipped")
        return None
    if not text.strip():
        warnings.append(f"{where}: empty text; skipped")
        return None
    record_id = record.get("id")
    has_id = isinstance(record_id, _SCALARS) and str(record_id) != ""
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        title = str(record_id) if has_id else f"{path.name}:line {lineno}"
    return LoadedDocument(
        title=title,
        text=text,
        format="jsonl",
        source_path=str(path),
        part=str(record_id) if has_id else f"line {lineno}",
        metadata=_metadata(record),
    )


def _metadata(record: dict[str, Any]) -> dict[str, Any]:
    """Scalar fields (and lists of scalars) besides text and title; a nested "metadata" object fills gaps."""
    merged: dict[str, Any] = {}
    nested = record.get("metadata")
    for source in (nested if isinstance(nested, dict) else {}, record):
        for key, value in source.items():
            if key in ("text", "title", "metadata") or not _keepable(value):
                continue
            merged[_standard_key(key)] = value
    return merged


def _keepable(value: Any) -> bool:
    if isinstance(value, _SCALARS):
        return True
    return isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value)


def _standard_key(key: str) -> str:
    """'Practice Area' / 'practice-area' / 'doc_type' -> the standard key; other keys unchanged."""
    folded = _KEY_SEPARATORS.sub("_", key.strip().lower())
    if folded in STANDARD_KEYS:
        return folded
    return _ALIASES.get(folded.replace("_", ""), _ALIASES.get(folded, key))
