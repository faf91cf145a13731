"""Parse the official ContractNLI JSON (Koreeda & Manning, 2021): NDAs labelled, per hypothesis, with
Entailment / Contradiction / NotMentioned and the document spans that are the evidence.

One document per NDA; one annotation (kind "nli") per hypothesis. A malformed document or annotation is
skipped with a warning rather than stored: a wrong evidence span would teach the model a wrong citation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lextune.core.errors import IngestError
from lextune.core.records import ClauseAnnotation, LoadedDocument, LoadResult

NLI_LABELS = ("Entailment", "Contradiction", "NotMentioned")


def is_contract_nli(payload: Any) -> bool:
    """Whether a parsed JSON file is ContractNLI's: an object with top-level "documents" and "labels"."""
    return isinstance(payload, dict) and "documents" in payload and "labels" in payload


def parse_contract_nli(path: Path, payload: dict) -> LoadResult:
    """One LoadedDocument per NDA of a ContractNLI file, its hypotheses as kind-"nli" annotations."""
    hypotheses = _hypotheses(path, payload.get("labels"))
    documents = payload.get("documents")
    if not isinstance(documents, list):
        raise IngestError(path, "not a ContractNLI file: 'documents' is not a list")
    result = LoadResult()
    for index, entry in enumerate(documents):
        doc = _document(path, index, entry, hypotheses, result.warnings)
        if doc is not None:
            result.documents.append(doc)
    if not result.documents:
        first = f"; first: {result.warnings[0]}" if result.warnings else ""
        raise IngestError(path, f"no loadable ContractNLI documents ({len(result.warnings)} problem(s){first})")
    return result


def _hypotheses(path: Path, labels: Any) -> dict[str, dict[str, str]]:
    if not isinstance(labels, dict) or not labels:
        raise IngestError(path, "not a ContractNLI file: 'labels' is not an object of hypotheses")
    out = {}
    for key, value in labels.items():
        if isinstance(value, dict) and isinstance(value.get("hypothesis"), str) and value["hypothesis"].strip():
            out[str(key)] = {"hypothesis": value["hypothesis"],
                             "short_description": str(value.get("short_description") or "")}
    if not out:
        raise IngestError(path, "not a ContractNLI file: no label has a 'hypothesis' text")
    return out


def _document(
    path: Path, index: int, entry: Any, hypotheses: dict[str, dict[str, str]], warnings: list[str],
) -> LoadedDocument | None:
    where = f"{path}: documents[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
        warnings.append(f"{where}: no document text; skipped")
        return None
    text: str = entry["text"]
    doc_id = str(entry.get("id", index))
    where = f"{path}: document {doc_id}"
    raw_spans = entry.get("spans")
    if not isinstance(raw_spans, list):
        warnings.append(f"{where}: no 'spans' list; skipped")
        return None
    spans = [_span(s, len(text)) for s in raw_spans]
    sets = entry.get("annotation_sets")
    # The official files hold one annotation set per document; a second would be another annotator's view.
    labelled = sets[0].get("annotations") if isinstance(sets, list) and sets and isinstance(sets[0], dict) else None
    if not isinstance(labelled, dict):
        warnings.append(f"{where}: no 'annotation_sets[0].annotations' object; skipped")
        return None
    annotations = []
    for key, value in labelled.items():
        annotation = _annotation(where, text, spans, str(key), value, hypotheses, warnings)
        if annotation is not None:
            annotations.append(annotation)
    metadata: dict[str, Any] = {"contract_nli_id": doc_id, "document_type": "NDA"}
    for field, meta_key in (("url", "source_url"), ("document_type", "source_kind")):
        if isinstance(entry.get(field), str):
            metadata[meta_key] = entry[field]
    title = str(entry.get("file_name") or f"ContractNLI document {doc_id}")
    return LoadedDocument(title=title, text=text, format="contract_nli", source_path=str(path), part=doc_id,
                          metadata=metadata, annotations=annotations)


def _span(value: Any, n: int) -> tuple[int, int] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    start, end = value
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end))
    return (start, end) if ints and 0 <= start < end <= n else None


def _annotation(
    where: str, text: str, spans: list[tuple[int, int] | None], key: str, value: Any,
    hypotheses: dict[str, dict[str, str]], warnings: list[str],
) -> ClauseAnnotation | None:
    if key not in hypotheses:
        warnings.append(f"{where}: hypothesis {key!r} is not among the file's labels; skipped")
        return None
    choice = value.get("choice") if isinstance(value, dict) else None
    if choice not in NLI_LABELS:
        warnings.append(f"{where}: {key}: label {choice!r} is not one of {', '.join(NLI_LABELS)}; skipped")
        return None
    indices = value.get("spans", [])
    valid = isinstance(indices, list) and all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(spans) and spans[i] is not None
        for i in indices)
    if not valid:
        warnings.append(f"{where}: {key}: evidence {indices!r} does not name valid spans of the document; skipped")
        return None
    evidence = sorted({spans[i] for i in indices})  # type: ignore[misc]  (checked above)
    start, end = evidence[0] if evidence else (0, 0)
    extra = {**hypotheses[key], "spans": [list(s) for s in evidence]}
    return ClauseAnnotation(clause_type=key, start=start, end=end, text=text[start:end], kind="nli",
                            label=choice, extra=extra)
