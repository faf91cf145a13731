"""Row-level deduplication: boilerplate must not dominate training, held-out text must not leak in.

Two rules, applied to the built rows:
- a training row whose chunks belong to a near-duplicate cluster that also has a chunk in a dev or
  test document is dropped ("drop"), or kept for the leakage check to fail the build ("fail");
- within each split, rows of one task whose content (prompt + answer) nearly repeats rows of other
  documents are kept for the first `rows_per_duplicate_cluster` documents only: a clause repeated
  in 300 contracts yields one document's rows, not 300.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from lextune.core.records import DatasetRow
from lextune.vault.dedup import cluster_near_duplicates, exact_key, minhashes_without_common_shingles

if TYPE_CHECKING:
    from lextune.data.dataset import BuildConfig
    from lextune.data.docviews import DocViews


_MIN_ROWS_FOR_NEAR_DUP = 20


def row_content(row: DatasetRow) -> str:
    """What makes two rows the same example: every message but the (shared) system prompt."""
    return "\n".join(m["content"] for m in row.messages if m["role"] != "system")


def drop_duplicate_rows(
    rows: dict[str, list[DatasetRow]], views: DocViews, config: BuildConfig
) -> tuple[dict[str, list[DatasetRow]], dict]:
    clusters = views.chunk_clusters()
    heldout_reps = {clusters[c] for c in clusters if views.chunk_split(c) in ("dev", "test")}
    stats: dict = {"cross_split_dropped": 0, "cross_split_rows_dropped": Counter(),
                   "near_duplicate_rows_dropped": Counter(),
                   "boilerplate_chunks": sum(1 for c, rep in clusters.items() if rep != c)}
    fail = config.cross_split_duplicates == "fail"
    passage_kept = {}
    for split, split_rows in rows.items():
        kept = []
        for r in split_rows:
            if (split == "train" and not fail and any(clusters.get(c, c) in heldout_reps for c in r.chunk_ids)):
                stats["cross_split_dropped"] += 1
                continue
            kept.append(r)
        passage_kept[split] = kept
    out = _dedup_rows(passage_kept, config, stats)
    for key in ("cross_split_rows_dropped", "near_duplicate_rows_dropped"):
        stats[key] = dict(stats[key])
    return out, stats


def _dedup_rows(rows: dict[str, list[DatasetRow]], config: BuildConfig, stats: dict) -> dict[str, list[DatasetRow]]:
    """Per task, cluster row contents over all splits: a training row repeating a held-out row is
    dropped (its answer would be seen before the test), and within a split a cluster keeps the
    rows of its first N documents."""
    by_task: dict[str, list[tuple[str, DatasetRow]]] = {}
    for split, split_rows in rows.items():
        for r in split_rows:
            by_task.setdefault(r.task, []).append((split, r))
    drop: set[tuple[str, str]] = set()
    for task, items in by_task.items():
        texts = [row_content(r) for _, r in items]
        keys = [f"{i}" for i in range(len(items))]
        if len(texts) >= _MIN_ROWS_FOR_NEAR_DUP:
            # The task's prompt template is shared by every row: leave its shingles out, or short
            # passages under one template would all look alike.
            sigs = minhashes_without_common_shingles(texts, min_texts=_MIN_ROWS_FOR_NEAR_DUP)
            reps = cluster_near_duplicates(zip(keys, sigs, strict=True), threshold=config.near_dup_threshold)
        else:  # too few rows to tell template from content: exact duplicates only
            first: dict[str, str] = {}
            reps = {k: first.setdefault(exact_key(t), k) for k, t in zip(keys, texts, strict=True)}
        heldout = {reps[k] for k, (split, _) in zip(keys, items, strict=True) if split != "train"}
        owners: dict[tuple[str, str], set[str]] = {}
        for k, (split, r) in zip(keys, items, strict=True):
            rep = reps[k]
            if split == "train" and rep in heldout and config.cross_split_duplicates == "drop":
                drop.add((split, r.id))
                stats["cross_split_rows_dropped"][task] += 1
                continue
            # Rows of one document may look alike (three masks of one chunk); what must not dominate is
            # the same passage from many documents, so a cluster keeps the rows of its first N documents.
            docs = owners.setdefault((split, rep), set())
            if r.document_id in docs or len(docs) < config.rows_per_duplicate_cluster:
                docs.add(r.document_id)
            else:
                drop.add((split, r.id))
                stats["near_duplicate_rows_dropped"][task] += 1
    return {split: [r for r in split_rows if (split, r.id) not in drop] for split, split_rows in rows.items()}
