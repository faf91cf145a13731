"""`lextune data audit`: what a built dataset holds and what is wrong with it, before anyone trains on it.

Counts per split, task, clause type and metadata value; token lengths; label balance; duplicates and
PII left; and warnings a legal engineer acts on (too small to tune, thin categories, one client or
jurisdiction dominating the training rows). The report is a pydantic model, so the CLI can print it,
dump it as JSON, or render the terminal summary (audit_text.py) or the HTML page (audit_html.py) from
the same numbers.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lextune.core.records import DatasetRow, utcnow
from lextune.core.svg_plots import nice_ticks
from lextune.vault.dedup import cluster_near_duplicates, minhashes_without_common_shingles, normalize_text

META_KEYS = ("client", "matter", "jurisdiction", "practice_area", "document_type", "family_id")
UNSET = "unset"
FREE_TEXT = "(free text)"
NOT_FOUND = "Not found"
WHITESPACE_ESTIMATE = "whitespace words (estimate: subword tokenizers count about 1.3x more)"


class AuditOptions(BaseModel):
    """Thresholds of the audit's warnings; the defaults are stated in each field's description."""

    model_config = ConfigDict(extra="forbid")
    min_sources: int = Field(10, description="Fewer distinct source chunks (or documents) than this: error.")
    min_train_rows: int = Field(300, description="Fewer train rows than this: tuning will overfit.")
    thin_category_rows: int = Field(20, description="A clause type or label with fewer train rows is thin.")
    bias_share: float = Field(0.5, description="One metadata value holding this share of train rows: warn.")
    label_majority_share: float = Field(0.8, description="One label holding this share of a task: warn.")
    max_tokens: int | None = Field(None, description="Warn about rows whose prompt + answer exceed this.")
    histogram_bins: int = Field(20, description="About this many bins in the token-length histograms.")


class AuditWarning(BaseModel):
    level: Literal["error", "warning", "info"]
    code: str
    message: str


class TokenStats(BaseModel):
    n: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: int = 0
    bin_edges: list[float] = Field(default_factory=list)
    counts: list[int] = Field(default_factory=list)


class LabelBalance(BaseModel):
    """Labels of one task's train rows: the answer when it is a choice or short, else FREE_TEXT."""

    n: int
    labels: dict[str, int]
    majority_label: str | None
    majority_share: float
    not_found_share: float
    free_text_share: float


class DuplicateStats(BaseModel):
    """Rows repeating another row of the same task (content = prompt without system + answer)."""

    threshold: float
    exact_within: dict[str, int]  # per split: rows that exactly repeat an earlier row of that split
    near_within: dict[str, int]  # the same, counting near-duplicates too
    exact_cross_rows: int  # rows whose exact copy sits in another split
    near_cross_rows: int  # rows with a near-duplicate in another split
    examples: list[tuple[str, str, str, str]] = Field(default_factory=list)  # row_a, split_a, row_b, split_b


class PiiStats(BaseModel):
    """Rows still holding a known PII string; counts only, never the strings."""

    strings_checked: int
    strings_ignored: int  # under 3 characters: they would match inside ordinary words
    strings_found: int
    rows_with_pii: int
    by_split: dict[str, int]
    by_task: dict[str, int]


class AuditReport(BaseModel):
    created_at: datetime = Field(default_factory=utcnow)
    dataset: dict[str, Any] = Field(default_factory=dict)  # id, name, sha256 from the manifest
    n_rows: int
    splits: dict[str, int]
    counts: dict[str, dict[str, int]]  # split -> task -> rows (as DatasetInfo.counts)
    by_clause_type: dict[str, dict[str, int]]  # clause type -> split -> rows
    by_meta: dict[str, dict[str, dict[str, int]]]  # metadata key -> value -> split -> rows
    meta_shares: dict[str, dict[str, float]]  # metadata key -> value -> share of `share_basis` rows
    share_basis: str
    n_documents: int
    n_source_chunks: int
    token_counter: str
    prompt_tokens: TokenStats
    answer_tokens: TokenStats
    tokens_by_task: dict[str, dict[str, float]]
    label_balance: dict[str, LabelBalance]
    duplicates: DuplicateStats
    pii: PiiStats
    warnings: list[AuditWarning]
    manifest: dict[str, Any] | None = None
    options: AuditOptions

    @property
    def errors(self) -> list[AuditWarning]:
        return [w for w in self.warnings if w.level == "error"]


def prompt_text(row: DatasetRow) -> str:
    """Everything the model reads before answering: all messages but a final assistant one."""
    msgs = row.messages[:-1] if row.messages and row.messages[-1].get("role") == "assistant" else row.messages
    return "\n".join(m.get("content", "") for m in msgs)


def row_content(row: DatasetRow) -> str:
    """What makes two rows the same example: every message but the shared system prompt, and the answer."""
    parts = [m.get("content", "") for m in row.messages if m.get("role") != "system"]
    if not row.messages or row.messages[-1].get("role") != "assistant":
        parts.append(row.answer)
    return "\n".join(parts)


def label_of(row: DatasetRow) -> str:
    answer = row.answer.strip()
    if row.choices and answer in row.choices:
        return answer
    if answer.casefold().startswith(NOT_FOUND.casefold()):
        return NOT_FOUND
    return answer if len(answer.split()) <= 4 else FREE_TEXT


def clause_type_of(row: DatasetRow) -> str | None:
    """A row's clause type: meta["clause_type"] when a builder set it, else the label of clause tasks."""
    if row.meta.get("clause_type"):
        return str(row.meta["clause_type"])
    if row.task in ("clause_type", "clause_quote") and row.label:
        return row.label
    return None


def _token_stats(values: list[int], bins: int) -> TokenStats:
    if not values:
        return TokenStats()
    arr = np.asarray(values)
    edges = nice_ticks(0.0, float(max(arr.max(), 1)), bins)
    counts, _ = np.histogram(arr, bins=edges)
    p50, p90, p95, p99 = (float(v) for v in np.percentile(arr, [50, 90, 95, 99]))
    return TokenStats(n=len(values), mean=float(arr.mean()), p50=p50, p90=p90, p95=p95, p99=p99,
                      max=int(arr.max()), bin_edges=[float(e) for e in edges], counts=counts.tolist())


class _PiiMatcher:
    """Case-insensitive, whitespace-tolerant search for many strings at once, indexed by first word.

    A match starts and ends at word boundaries ("Ann" is not found in "annual"). One regex
    alternation of thousands of names would be tried at every character of every row; the index
    looks at each word once.
    """

    _WORD = re.compile(r"\w+")

    def __init__(self, strings: Iterable[str]):
        self.index: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
        self.checked = self.ignored = 0
        for s in sorted({" ".join(str(s).casefold().split()) for s in strings} - {""}):
            first = self._WORD.search(s)
            if len(s) < 3 or first is None:
                self.ignored += 1
                continue
            self.index[first.group()].append((self.checked, s, first.start()))
            self.checked += 1

    def find(self, text: str) -> set[int]:
        text = " ".join(text.casefold().split())
        found: set[int] = set()
        for m in self._WORD.finditer(text):
            for i, s, offset in self.index.get(m.group(), ()):
                start, end = m.start() - offset, m.start() - offset + len(s)
                if start >= 0 and text.startswith(s, start) and not (
                    s[-1].isalnum() and end < len(text) and text[end].isalnum()
                ):
                    found.add(i)
        return found


def _pii(rows: list[tuple[str, DatasetRow]], strings: Iterable[str]) -> PiiStats:
    matcher = _PiiMatcher(strings)
    by_split: Counter[str] = Counter()
    by_task: Counter[str] = Counter()
    found: set[int] = set()
    if matcher.checked:
        for split, r in rows:
            hits = matcher.find("\n".join([m.get("content", "") for m in r.messages] + [r.answer]))
            if hits:
                found |= hits
                by_split[split] += 1
                by_task[r.task] += 1
    return PiiStats(strings_checked=matcher.checked, strings_ignored=matcher.ignored,
                    strings_found=len(found), rows_with_pii=sum(by_split.values()),
                    by_split=dict(by_split), by_task=dict(by_task))


def _group_stats(groups: Iterable[list[tuple[str, DatasetRow]]], within: Counter[str]) -> tuple[int, list]:
    """Count repeats within each split and rows whose group spans splits; a few cross-split examples.

    Within a split, rows of one document that look alike (several masks of one chunk) are one
    example's variants, not boilerplate: only rows from other documents count as repeats.
    """
    cross, examples = 0, []
    for members in groups:
        per_split = Counter(split for split, _ in members)
        for split, n in per_split.items():
            docs = Counter(r.document_id for s, r in members if s == split)
            within[split] += n - docs.most_common(1)[0][1]
        if len(per_split) > 1:
            cross += len(members)
            first = members[0]
            other = next(m for m in members if m[0] != first[0])
            examples.append((first[1].id, first[0], other[1].id, other[0]))
    return cross, examples


def _duplicates(rows: list[tuple[str, DatasetRow]], splits: list[str], threshold: float) -> DuplicateStats:
    # Within one task only: a clause_type row and a clause_question row about the same clause are
    # different examples, not a duplicate.
    by_task: dict[str, list[tuple[str, DatasetRow]]] = defaultdict(list)
    for split, r in rows:
        by_task[r.task].append((split, r))
    exact_within, near_within = Counter({sp: 0 for sp in splits}), Counter({sp: 0 for sp in splits})
    exact_cross = near_cross = 0
    examples: list[tuple[str, str, str, str]] = []
    for items in by_task.values():
        contents = [row_content(r) for _, r in items]
        exact: dict[str, list[tuple[str, DatasetRow]]] = defaultdict(list)
        for item, text in zip(items, contents):
            exact[hashlib.sha256(normalize_text(text).encode()).hexdigest()].append(item)
        n, _ = _group_stats(exact.values(), exact_within)
        exact_cross += n
        sigs = minhashes_without_common_shingles(contents)
        reps = cluster_near_duplicates(((str(i), sig) for i, sig in enumerate(sigs)), threshold)
        clusters: dict[str, list[tuple[str, DatasetRow]]] = defaultdict(list)
        for i, item in enumerate(items):
            clusters[reps[str(i)]].append(item)
        n, found = _group_stats(clusters.values(), near_within)
        near_cross += n
        examples += found
    return DuplicateStats(threshold=threshold, exact_within=dict(exact_within), near_within=dict(near_within),
                          exact_cross_rows=exact_cross, near_cross_rows=near_cross, examples=examples[:10])


def _label_balance(rows: list[DatasetRow]) -> LabelBalance:
    labels = Counter(label_of(r) for r in rows)
    n = len(rows)
    categorical = [(c, label) for label, c in labels.items() if label != FREE_TEXT]
    top_count, top = max(categorical, default=(0, None))
    return LabelBalance(n=n, labels=dict(labels.most_common()), majority_label=top,
                        majority_share=top_count / n if n else 0.0,
                        not_found_share=labels[NOT_FOUND] / n if n else 0.0,
                        free_text_share=labels[FREE_TEXT] / n if n else 0.0)


def audit_rows(
    rows_by_split: dict[str, list[DatasetRow]],
    *,
    count_tokens: Callable[[str], int] | None = None,
    pii_strings: Iterable[str] = (),
    near_dup_threshold: float = 0.8,
    manifest: dict[str, Any] | None = None,
    options: AuditOptions | None = None,
) -> AuditReport:
    """Audit the rows of a dataset, split by split; `pii_strings` are originals that must not appear."""
    opts = options or AuditOptions()
    splits = list(rows_by_split)
    rows = [(sp, r) for sp, rs in rows_by_split.items() for r in rs]
    basis_name = "train" if rows_by_split.get("train") else "all"
    basis = rows_by_split["train"] if basis_name == "train" else [r for _, r in rows]

    by_clause: dict[str, Counter[str]] = defaultdict(Counter)
    by_meta: dict[str, dict[str, Counter[str]]] = {k: defaultdict(Counter) for k in META_KEYS}
    for sp, r in rows:
        if (ct := clause_type_of(r)) is not None:
            by_clause[ct][sp] += 1
        for k in META_KEYS:
            by_meta[k][_meta_value(r, k)][sp] += 1
    shares = {k: {v: n / len(basis) for v, n in Counter(_meta_value(r, k) for r in basis).most_common()}
              for k in META_KEYS} if basis else {k: {} for k in META_KEYS}

    count = count_tokens or (lambda text: len(text.split()))
    prompt_lens, answer_lens = [count(prompt_text(r)) for _, r in rows], [count(r.answer) for _, r in rows]
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, (_, r) in enumerate(rows):
        by_task[r.task].append(i)
    tokens_by_task = {task: _task_tokens([prompt_lens[i] for i in idx], [answer_lens[i] for i in idx])
                      for task, idx in sorted(by_task.items())}
    over = sum(p + a > opts.max_tokens for p, a in zip(prompt_lens, answer_lens)) if opts.max_tokens else 0

    sourced = [r for _, r in rows if r.chunk_ids or r.span is not None]  # replay rows come from no document
    report = AuditReport(
        dataset={k: manifest[k] for k in ("id", "name", "sha256") if manifest and k in manifest},
        n_rows=len(rows), splits={sp: len(rs) for sp, rs in rows_by_split.items()},
        counts={sp: dict(sorted(Counter(r.task for r in rs).items())) for sp, rs in rows_by_split.items()},
        by_clause_type={ct: dict(c) for ct, c in _largest_first(by_clause)},
        by_meta={k: {v: dict(c) for v, c in _largest_first(vals)} for k, vals in by_meta.items()},
        meta_shares=shares, share_basis=basis_name,
        n_documents=len({r.document_id for r in sourced}),
        n_source_chunks=len({c for r in sourced for c in r.chunk_ids}),
        token_counter="tokenizer" if count_tokens else WHITESPACE_ESTIMATE,
        prompt_tokens=_token_stats(prompt_lens, opts.histogram_bins),
        answer_tokens=_token_stats(answer_lens, opts.histogram_bins),
        tokens_by_task=tokens_by_task,
        label_balance={task: _label_balance([r for r in basis if r.task == task])
                       for task in sorted({r.task for r in basis})},
        duplicates=_duplicates(rows, splits, near_dup_threshold),
        pii=_pii(rows, pii_strings), warnings=[], manifest=manifest, options=opts,
    )
    report.warnings = _warnings(report, opts, over)
    return report


def _largest_first(counts: dict[str, Counter[str]]) -> list[tuple[str, Counter[str]]]:
    return sorted(counts.items(), key=lambda kv: -sum(kv[1].values()))


def _meta_value(row: DatasetRow, key: str) -> str:
    value = row.meta.get(key)
    return UNSET if value is None or str(value).strip() == "" else str(value)


def _task_tokens(prompts: list[int], answers: list[int]) -> dict[str, float]:
    p, a = np.asarray(prompts), np.asarray(answers)
    p50, p95 = (float(v) for v in np.percentile(p, [50, 95]))
    a50, a95 = (float(v) for v in np.percentile(a, [50, 95]))
    return {"rows": len(p), "prompt_p50": p50, "prompt_p95": p95, "answer_p50": a50, "answer_p95": a95,
            "max_total": int((p + a).max())}


def format_counts(counts: dict[str, int], limit: int = 8) -> str:
    """The first `limit` counts as 'a (3), b (2)', then ' and N more': for warnings and the summary."""
    shown = ", ".join(f"{k} ({v})" for k, v in list(counts.items())[:limit])
    return shown + (f" and {len(counts) - limit} more" if len(counts) > limit else "")


def _warnings(rep: AuditReport, opts: AuditOptions, over_max_tokens: int) -> list[AuditWarning]:
    out: list[AuditWarning] = []

    def add(level: Literal["error", "warning", "info"], code: str, message: str) -> None:
        out.append(AuditWarning(level=level, code=code, message=message))

    if rep.n_source_chunks:
        sources, what = rep.n_source_chunks, "source chunks"
    else:
        sources, what = rep.n_documents, "documents"
    if sources < opts.min_sources:
        add("error", "too_small_vault",
            f"only {sources} distinct {what} behind these rows (< {opts.min_sources}): "
            "too little to tune on; ingest more documents")
    n_train = rep.splits.get("train", 0)
    if n_train < opts.min_train_rows:
        add("warning", "few_rows",
            f"only {n_train} train rows (< {opts.min_train_rows}): tuning will overfit; "
            "retrieval alone (lextune ask) may serve better")
    for sp in ("dev", "test"):
        if sp in rep.splits and not rep.splits[sp]:
            add("warning", "empty_split",
                f"no {sp} rows: the tuned model cannot be checked on held-out documents")
    if ((rep.manifest or {}).get("anonymization") or {}).get("enabled") is False:
        add("error", "anonymization_off",
            "built with anonymization off (--no-anonymize): client data is in the rows")
    if rep.pii.rows_with_pii:
        add("error", "pii_left",
            f"{rep.pii.rows_with_pii} row(s) still contain one of {rep.pii.strings_found} known PII "
            "string(s); rebuild with anonymization on or extend the PII policy")
    dup = rep.duplicates
    if dup.near_cross_rows:
        add("error", "cross_split_duplicates",
            f"{dup.near_cross_rows} rows have a (near-)duplicate in another split "
            f"({dup.exact_cross_rows} exact): held-out scores would be inflated")
    within = sum(dup.near_within.values())
    if rep.n_rows and within / rep.n_rows > 0.05:
        add("warning", "duplicates_within",
            f"{within} rows ({within / rep.n_rows:.0%}) repeat another row of their split and task: "
            "boilerplate weighs more than it should")

    thin_n = opts.thin_category_rows
    train_clauses = sorted(((c.get("train", 0), ct) for ct, c in rep.by_clause_type.items()))
    thin = {ct: n for n, ct in train_clauses if n < thin_n}
    if thin and n_train:
        add("warning", "thin_clause_types",
            f"{len(thin)} clause type(s) with < {thin_n} train rows: {format_counts(thin)}")
    for task, bal in rep.label_balance.items():
        categorical = {k: v for k, v in bal.labels.items() if k != FREE_TEXT}
        thin_labels = {k: v for k, v in categorical.items() if v < thin_n}
        # Only tasks answered from a few labels (Yes/No, Not found): a clause-type task is covered above.
        if bal.free_text_share < 0.5 and 1 < len(categorical) <= 10 and thin_labels:
            add("warning", "thin_labels",
                f"task {task}: label(s) with < {thin_n} {rep.share_basis} rows: {format_counts(thin_labels)}")
        if bal.majority_label and bal.n >= 10 and bal.majority_share >= opts.label_majority_share:
            add("warning", "label_imbalance",
                f"task {task}: {bal.majority_share:.0%} of {rep.share_basis} rows answer "
                f"{bal.majority_label!r}; always answering so would score that much")

    for key, shares in rep.meta_shares.items():
        set_values = {v: s for v, s in shares.items() if v != UNSET}
        label = key.replace("_", " ")
        for value, share in set_values.items():
            if share < opts.bias_share:
                continue
            if len(set_values) == 1:  # nothing to rebalance against: worth knowing, not a fault of the build
                add("info", "bias",
                    f"{share:.0%} of {rep.share_basis} rows come from {label} {value} "
                    "(the only value set): the model learns that one only")
            else:
                add("warning", "bias", f"{share:.0%} of {rep.share_basis} rows come from {label} {value}")
    if over_max_tokens:
        add("warning", "too_long",
            f"{over_max_tokens} rows exceed {opts.max_tokens} tokens (prompt + answer): they would be cut")
    if rep.token_counter == WHITESPACE_ESTIMATE:
        add("info", "token_estimate", "token lengths are whitespace word counts, not tokenizer counts")
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(out, key=lambda w: order[w.level])


def __getattr__(name: str) -> Any:
    # render_text lives in audit_text.py, which imports this module: re-exported on first use, not here.
    if name == "render_text":
        from lextune.data.audit_text import render_text

        return render_text
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
