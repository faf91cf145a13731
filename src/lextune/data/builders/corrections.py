"""Lawyers' verdicts on model outputs as training rows: the review queue's accepted and corrected items.

An accepted item teaches its model output, a corrected one its correction (core/tables_review.py). The row
asks what the model was asked (the item's prompt, else the task's prompt over the item's passage) and
answers with that target; its task is the item's (clause_extraction, privilege, cited_answer,
contract_analysis: free-form answers scored against the reference). Provenance stays on the row: the
item id, reviewer, reviewed_at, status and the version whose output was judged (meta), and the item's
document (document_id), so the row lands in that document's pinned split like every other row of it.

Items are matched to the build's documents: their text is anonymized with that document's redactions
(the PII mapping the build applies), and the passage's span is found in the document when it occurs
there. Items whose document is not in the build are left out (counted, with a warning) unless
`include_unmatched` is set; those go to train, not anonymized by the vault's policy.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from lextune.core.records import DatasetRow, Span
from lextune.core.tables_review import REVIEW_TASKS, ReviewItemRow
from lextune.data import prompts
from lextune.data.builders.base import BuildContext, Builder, DocView, chat, register, row_id

USED_STATES = ("accepted", "corrected")
PRIVILEGE_PROMPT = ("Is the following communication protected by legal privilege? Answer with the "
                    "privilege call first, then the reason.\n\nCommunication:\n{text}")
ANALYSIS_PROMPT = "Analyse this contract text as instructed by the firm's playbook.\n\nContract text:\n{text}"
# The store a build runs on, when the caller sets it (lextune retrain); else the build's own (see _store).
CURRENT_STORE: contextvars.ContextVar[Any] = contextvars.ContextVar("corrections_store", default=None)


class CorrectionsOptions(BaseModel):
    """Options of the "corrections" builder."""

    model_config = ConfigDict(extra="forbid")
    since: datetime | None = Field(None, description="Only items reviewed at or after this time.")
    tasks: list[str] | None = Field(None, description=f"Only items of these tasks ({', '.join(REVIEW_TASKS)}).")
    include_unmatched: bool = Field(
        False, description="Also use items whose document is not in the build (train split, text not "
                           "anonymized by the vault's policy).")


@register
class CorrectionsBuilder(Builder):
    name = "corrections"
    tasks = REVIEW_TASKS
    Options = CorrectionsOptions

    def __init__(self) -> None:
        self._by_doc: dict[str, list[dict[str, Any]]] | None = None
        self._used: set[str] = set()
        self._summary: dict[str, Any] = {"items": 0, "rows": 0, "unmatched": 0, "skipped": 0}

    def describe(self) -> dict[str, Any]:
        return dict(self._summary)

    def _items(self, ctx: BuildContext) -> dict[str, list[dict[str, Any]]]:
        if self._by_doc is None:
            opts: CorrectionsOptions = ctx.options  # type: ignore[assignment]
            self._by_doc = {}
            for item in load_items(_store(ctx), opts.since, opts.tasks):
                self._by_doc.setdefault(item["document_id"] or "", []).append(item)
            self._summary["items"] = sum(len(v) for v in self._by_doc.values())
        return self._by_doc

    def document_rows(self, doc: DocView, ctx: BuildContext) -> Iterable[DatasetRow]:
        for item in self._items(ctx).get(doc.id, []):
            row = item_row(item, doc.split, doc.id, anonymize=lambda t: _anonymize(doc, t), doc=doc)
            self._count(row, ctx, item)
            if row is not None:
                yield row

    def corpus_rows(self, ctx: BuildContext, counts: dict[str, int]) -> Iterable[DatasetRow]:
        opts: CorrectionsOptions = ctx.options  # type: ignore[assignment]
        left = [i for items in self._items(ctx).values() for i in items if i["id"] not in self._used]
        self._summary["unmatched"] = len(left) if not opts.include_unmatched else 0
        if left and not opts.include_unmatched:
            ctx.warnings.append(f"corrections: {len(left)} reviewed item(s) name no document of this build: "
                                "left out (options.include_unmatched uses them, in train)")
            return
        for item in left:
            row = item_row(item, "train", item["document_id"] or f"review:{item['id']}")
            self._count(row, ctx, item)
            if row is not None:
                yield row

    def _count(self, row: DatasetRow | None, ctx: BuildContext, item: dict[str, Any]) -> None:
        self._used.add(item["id"])
        if row is None:
            self._summary["skipped"] += 1
            ctx.warnings.append(f"corrections: review item {item['id']} ({item['task']}) has no usable "
                                "target or prompt: skipped")
        else:
            self._summary["rows"] += 1


def _store(ctx: BuildContext):
    """The build's store: the one set by the caller, else the one its retrieval reads, else the environment's."""
    store = CURRENT_STORE.get() or getattr(getattr(ctx.retrieve, "__self__", None), "store", None)
    if store is None:
        from lextune.core.store import Store

        store = Store()
    return store


def load_items(store, since: datetime | None = None, tasks: list[str] | None = None) -> list[dict[str, Any]]:
    """Accepted and corrected review items (decrypted), oldest review first, as plain dicts."""
    q = select(ReviewItemRow).where(ReviewItemRow.status.in_(USED_STATES))
    if tasks:
        q = q.where(ReviewItemRow.task.in_(tasks))
    out = []
    with store.session() as s:
        for r in s.scalars(q.order_by(ReviewItemRow.reviewed_at, ReviewItemRow.id)):
            if since is not None and (r.reviewed_at is None or _aware(r.reviewed_at) < _aware(since)):
                continue
            out.append({c: getattr(r, c) for c in (
                "id", "task", "matter", "document_id", "source_text", "span_start", "span_end", "prompt",
                "output", "correction", "status", "reviewer", "reviewed_at", "model_version", "extra")})
    return out


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def target_of(item: dict[str, Any]) -> dict[str, Any] | None:
    """What the lawyer signed off: the output (accepted) or the correction (corrected; fields it leaves
    out are not taken from the output, except when it names none of answer/text/label)."""
    if item["status"] == "accepted":
        return item["output"] or None
    corr = item["correction"]
    if not corr:
        return None
    if isinstance(corr, str):
        return {"text": corr}
    if not any(k in corr for k in ("answer", "text", "label")):
        return {**(item["output"] or {}), **corr}
    return dict(corr)


def answer_of(task: str, target: dict[str, Any]) -> tuple[str, str | None]:
    """(assistant answer, label) of a target."""
    label = target.get("label")
    label = str(label) if label not in (None, "") else None
    text = target.get("answer") if target.get("answer") not in (None, "") else target.get("text")
    text = str(text).strip() if text not in (None, "") else None
    if task == "privilege" and label:
        reason = target.get("reason") or target.get("rationale") or text
        return (f"{label}\n{reason}" if reason and reason != label else label), label
    if text:
        return text, label
    if task == "clause_extraction" and label and target.get("found") is False:
        return prompts.NOT_FOUND, label
    if label:
        return label, label
    rest = {k: v for k, v in target.items() if k not in ("confidence",)}
    return (json.dumps(rest, ensure_ascii=False, sort_keys=True), None) if rest else ("", None)


def prompt_of(item: dict[str, Any], target: dict[str, Any]) -> str | None:
    """The user message: the item's own prompt (with its passage when the prompt lacks it), else the task's."""
    text, prompt = item["source_text"] or "", item["prompt"]
    if prompt:
        return prompt if not text or text in prompt else f"{prompt}\n\n{text}"
    task, extra = item["task"], item["extra"] or {}
    if task == "clause_extraction":
        clause = target.get("label") or (item["output"] or {}).get("label") or extra.get("clause_type")
        return prompts.clause_quote_prompt(text, str(clause)) if clause else None
    if task == "cited_answer":
        question = extra.get("question")
        return prompts.cited_qa_prompt(str(question), [text]) if question else None
    if task == "privilege":
        return PRIVILEGE_PROMPT.format(text=text)
    if task == "contract_analysis":
        return ANALYSIS_PROMPT.format(text=text)
    return None


def item_row(item: dict[str, Any], split: str, document_id: str, anonymize=lambda t: t,
             doc: DocView | None = None) -> DatasetRow | None:
    """The training row of one reviewed item, or None when it has no usable target or prompt."""
    target = target_of(item)
    if not target:
        return None
    answer, label = answer_of(item["task"], target)
    user = prompt_of(item, target)
    if not answer or not user:
        return None
    span, chunk_ids = None, []
    if doc is not None and item["source_text"]:
        raw = getattr(doc, "_raw", "")
        at = raw.find(item["source_text"]) if raw else -1
        if at >= 0:
            span = Span(start=at, end=at + len(item["source_text"]))
            chunk_ids = doc.chunk_ids(span.start, span.end)
    meta = dict(doc.meta) if doc is not None else {}
    reviewed = item["reviewed_at"]
    meta.update({"review_item": item["id"], "review_status": item["status"], "reviewer": item["reviewer"],
                 "reviewed_at": _aware(reviewed).isoformat() if reviewed else None,
                 "judged_version": item["model_version"]})
    if item["matter"] and "matter" not in meta:
        meta["matter"] = item["matter"]
    answer, user = anonymize(answer), anonymize(user)
    return DatasetRow(
        id=row_id("corrections", item["id"]), task=item["task"], split=split,  # type: ignore[arg-type]
        messages=chat(user, answer), answer=answer, label=anonymize(label) if label else None,
        document_id=document_id, chunk_ids=chunk_ids, span=span, builder="corrections", meta=meta)


def _anonymize(doc: DocView, text: str) -> str:
    """`text` with every original the build redacted in `doc` replaced by its replacement (longest first)."""
    pairs = {r.original: r.replacement for r in getattr(doc, "_redactions", []) if len(r.original.strip()) > 1}
    for original in sorted(pairs, key=len, reverse=True):
        text = text.replace(original, pairs[original])
    return text
