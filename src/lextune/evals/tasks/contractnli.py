"""ContractNLI (Koreeda & Manning 2021): does an NDA entail, contradict or not mention a hypothesis?

SOURCE is an official ContractNLI JSON file (`documents` with `text`, `spans` and
`annotation_sets[0].annotations[key].choice`, and a `labels` table of hypotheses). One example per
(document, hypothesis), scored over the three labels; the document is the bootstrap cluster.

Long NDAs are cut to their first `max_chars` characters (default 6000). Cutting around the evidence
spans instead would leak the answer: only Entailment and Contradiction have evidence, so a window
chosen by it tells the model which label it is not. The score therefore measures what the model can
do with the opening of each contract; `meta["evidence_in_window"]` says whether the evidence was shown.
Option `limit_docs` keeps the first N documents of the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from lextune.core.errors import DatasetError
from lextune.data import prompts
from lextune.evals.records import Example
from lextune.evals.tasks.base import register_task
from lextune.evals.tasks.classification import ClassificationTask

DEFAULT_MAX_CHARS = 6000


def nli_prompt(contract: str, hypothesis: str) -> list[dict[str, str]]:
    entail, contradict, absent = prompts.NLI_LABELS
    user = (f"Contract:\n{contract}\n\nHypothesis: {hypothesis}\n\n"
            f"Does the contract entail the hypothesis, contradict it, or not mention it? "
            f"Answer {entail}, {contradict} or {absent} only.")
    return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user}]


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(f"{path}: no such ContractNLI file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("documents"), list) \
            or not isinstance(data.get("labels"), dict):
        raise DatasetError(f"{path}: not ContractNLI JSON (needs 'documents' and 'labels')")
    return data


@register_task("contractnli")
class ContractNLITask(ClassificationTask):
    """Three-way NLI per (NDA, hypothesis); the contract's opening is shown, cut to `max_chars`."""

    def load(self) -> list[Example]:
        if not self.source:
            raise DatasetError("contractnli needs a ContractNLI JSON file: contractnli:PATH")
        path = Path(self.source)
        data = _load_json(path)
        max_chars = int(self.options.get("max_chars", DEFAULT_MAX_CHARS))
        docs = data["documents"]
        if (limit := self.options.get("limit_docs")) is not None:
            docs = docs[: int(limit)]
        examples = []
        for n, doc in enumerate(docs):
            try:
                doc_id, text, spans = str(doc["id"]), doc["text"], doc["spans"]
                annotations = doc["annotation_sets"][0]["annotations"]
            except (KeyError, IndexError, TypeError) as e:
                raise DatasetError(f"{path}: document #{n} lacks {e} (id, text, spans, annotation_sets)") from e
            shown = text[:max_chars]
            for key in sorted(annotations, key=_hypothesis_order):
                ann = annotations[key]
                where = f"{path}: document {doc_id}, hypothesis {key}"
                hypothesis = data["labels"].get(key, {}).get("hypothesis")
                if not isinstance(hypothesis, str):
                    raise DatasetError(f"{where}: no hypothesis text for it in the file's labels table")
                if ann.get("choice") not in prompts.NLI_LABELS:
                    raise DatasetError(f"{where}: label {ann.get('choice')!r} is not one of {prompts.NLI_LABELS}")
                try:
                    evidence_end = max((spans[i][1] for i in ann.get("spans", [])), default=0)
                except (IndexError, TypeError) as e:
                    raise DatasetError(f"{where}: evidence span index out of range") from e
                examples.append(Example(
                    id=f"contractnli:{doc_id}:{key}", task=self.label,
                    prompt=nli_prompt(shown, hypothesis),
                    gold=ann["choice"], choices=list(prompts.NLI_LABELS), labels=list(prompts.NLI_LABELS),
                    doc_id=doc_id,
                    meta={"hypothesis": key, "truncated": len(text) > max_chars,
                          "evidence_in_window": bool(ann.get("spans")) and evidence_end <= max_chars},
                ))
        return examples


def _hypothesis_order(key: str) -> tuple[int, str]:
    """nda-2 before nda-10."""
    tail = key.rsplit("-", 1)[-1]
    return (int(tail), key) if tail.isdigit() else (1 << 30, key)
