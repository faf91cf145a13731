"""Parse CUAD contracts with their labelled clauses, from SQuAD-2.0 JSON or one-contract-per-line JSONL.

An annotation whose offsets do not reproduce its text is skipped with a warning rather than
stored: a wrong span would teach the model a wrong clause boundary.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lextune.core.errors import IngestError
from lextune.core.records import ClauseAnnotation, LoadedDocument, LoadResult

# CUAD's question template: 'Highlight the parts (if any) of this contract related to "<Category>" that ...'
_QUESTION_CATEGORY = re.compile(r'related to "([^"]+)" that')
# Scalar fields of a contracts-JSONL record worth keeping with the document.
_JSONL_METADATA = {"id": "cuad_id", "contract_type": "contract_type", "split": "split",
                   "part": "part", "source_pdf_name": "source_pdf_name"}


def parse_squad_json(path: Path, text: str, payload: Any = None) -> LoadResult:
    """One document per `data[i]` of a CUAD file in SQuAD-2.0 format, with its answers as annotations.

    `payload` is the already parsed JSON when the caller has it (the loader parses once to detect formats)."""
    if payload is None:
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestError(path, f"malformed JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from exc
    entries = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        raise IngestError(path, "not a CUAD/SQuAD JSON file: expected an object with a 'data' list")

    result = LoadResult()
    for index, entry in enumerate(entries):
        doc = _squad_entry(path, index, entry, result.warnings)
        if doc is not None:
            result.documents.append(doc)
    if not result.documents:
        raise IngestError(path, _nothing_loaded("data entries", result.warnings))
    return result


def parse_contracts_jsonl(path: Path, text: str) -> LoadResult:
    """One document per line of a CUAD contracts JSONL file; bad lines are skipped with a warning."""
    result = LoadResult()
    # Split on "\n" only: str.splitlines() would also split on U+2028 etc. inside JSON strings.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            result.warnings.append(
                f"{path}: line {lineno}: malformed JSON ({exc.msg}, column {exc.colno}); skipped"
            )
            continue
        doc = _jsonl_record(path, lineno, record, result.warnings)
        if doc is not None:
            result.documents.append(doc)
    if not result.documents:
        raise IngestError(path, _nothing_loaded("lines", result.warnings))
    return result


def clause_type_of(qa_id: str, question: str) -> str | None:
    """CUAD category of a question: the part of its id after the last '__', else parsed from the question."""
    if "__" in qa_id:
        category = qa_id.rsplit("__", 1)[1].strip()
        if category:
            return category
    match = _QUESTION_CATEGORY.search(question)
    return match.group(1).strip() if match else None


def _nothing_loaded(what: str, warnings: list[str]) -> str:
    if not warnings:
        return f"no CUAD contracts found (no {what})"
    return f"no loadable CUAD contracts ({len(warnings)} problem(s); first: {warnings[0]})"


def _squad_entry(path: Path, index: int, entry: Any, warnings: list[str]) -> LoadedDocument | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("paragraphs"), list):
        warnings.append(f"{path}: data[{index}]: no 'paragraphs' list; skipped")
        return None
    title = str(entry.get("title") or f"{path.name}[{index}]")
    # CUAD has one paragraph (the whole contract) per entry; several are joined, shifting their offsets.
    contexts: list[str] = []
    annotations: list[ClauseAnnotation] = []
    offset = 0
    for paragraph in entry["paragraphs"]:
        context = paragraph.get("context") if isinstance(paragraph, dict) else None
        if not isinstance(context, str):
            warnings.append(f"{path}: {title}: paragraph without a 'context' string; skipped")
            continue
        if contexts:
            offset += 2
        for qa in paragraph.get("qas") or []:
            annotations.extend(_squad_answers(path, title, context, offset, qa, warnings))
        contexts.append(context)
        offset += len(context)
    text = "\n\n".join(contexts)
    if not text.strip():
        warnings.append(f"{path}: data[{index}] ({title}): empty contract text; skipped")
        return None
    metadata = {"contract_type": entry["contract_type"]} if entry.get("contract_type") else {}
    return LoadedDocument(title=title, text=text, format="cuad", source_path=str(path),
                          metadata=metadata, annotations=annotations)


def _squad_answers(
    path: Path, title: str, context: str, offset: int, qa: Any, warnings: list[str]
) -> list[ClauseAnnotation]:
    if not isinstance(qa, dict):
        warnings.append(f"{path}: {title}: question is not an object; skipped")
        return []
    clause_type = clause_type_of(str(qa.get("id", "")), str(qa.get("question", "")))
    if clause_type is None:
        warnings.append(f"{path}: {title}: cannot tell the clause type of question {qa.get('id')!r}; skipped")
        return []
    found = []
    for answer in qa.get("answers") or []:
        start = answer.get("answer_start") if isinstance(answer, dict) else None
        span_text = answer.get("text") if isinstance(answer, dict) else None
        annotation = _checked(path, title, context, clause_type, start, span_text, warnings)
        if annotation is not None:
            found.append(annotation.model_copy(update={"start": annotation.start + offset,
                                                       "end": annotation.end + offset}))
    return found


def _jsonl_record(path: Path, lineno: int, record: Any, warnings: list[str]) -> LoadedDocument | None:
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        warnings.append(f"{path}: line {lineno}: not a CUAD contract (no 'text' string); skipped")
        return None
    text = record["text"]
    title = str(record.get("title") or record.get("id") or f"{path.name}:{lineno}")
    if not text.strip():
        warnings.append(f"{path}: line {lineno} ({title}): empty contract text; skipped")
        return None
    annotations: list[ClauseAnnotation] = []
    clauses = record.get("clauses") or {}
    if not isinstance(clauses, dict):
        warnings.append(f"{path}: line {lineno} ({title}): 'clauses' is not an object; annotations skipped")
        clauses = {}
    for clause_type, spans in clauses.items():
        for span in spans if isinstance(spans, list) else []:
            start = span.get("start") if isinstance(span, dict) else None
            span_text = span.get("text") if isinstance(span, dict) else None
            end = span.get("end") if isinstance(span, dict) else None
            annotation = _checked(path, title, text, clause_type, start, span_text, warnings, end=end)
            if annotation is not None:
                annotations.append(annotation)
    metadata: dict[str, Any] = {
        key: record[field] for field, key in _JSONL_METADATA.items() if record.get(field) is not None
    }
    if isinstance(record.get("answers"), dict):
        metadata["cuad_answers"] = record["answers"]
    return LoadedDocument(title=title, text=text, format="cuad", source_path=str(path),
                          metadata=metadata, annotations=annotations)


def _checked(
    path: Path, title: str, text: str, clause_type: str, start: Any, span_text: Any, warnings: list[str],
    end: Any = None,
) -> ClauseAnnotation | None:
    """The annotation if `text[start:start+len(span_text)]` is exactly `span_text` (and `end`, if given,
    agrees); else warn and return None."""
    where = f"{path}: {title}: {clause_type} answer"
    valid_start = isinstance(start, int) and not isinstance(start, bool)
    if not valid_start or not isinstance(span_text, str) or not span_text:
        warnings.append(f"{where} without a valid start and text; skipped")
        return None
    expected_end = start + len(span_text)
    if start < 0 or text[start:expected_end] != span_text or end not in (None, expected_end):
        warnings.append(f"{where} at offset {start} does not match the contract text; skipped")
        return None
    return ClauseAnnotation(clause_type=clause_type, start=start, end=expected_end, text=span_text)
