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
    stats: dict = {"cross_split_dropped": 0, "near_duplicate_rows_dropped": Counter(),
                   "boilerplate_chunks": sum(1 for c, rep in clusters.items() if rep != c)}
    out: dict[str, list[DatasetRow]] = {}
    for split, split_rows in rows.items():
        kept = []
        for r in split_rows:
            if (split == "train" and config.cross_split_duplicates == "drop"
                    and any(clusters.get(c, c) in heldout_reps for c in r.chunk_ids)):
                stats["cross_split_dropped"] += 1
                continue
            kept.append(r)
        out[split] = _cap_near_duplicates(kept, config, stats["near_duplicate_rows_dropped"])
    stats["near_duplicate_rows_dropped"] = dict(stats["near_duplicate_rows_dropped"])
    return out, stats


def _cap_near_duplicates(rows: list[DatasetRow], config: BuildConfig, dropped: Counter) -> list[DatasetRow]:
    by_task: dict[str, list[DatasetRow]] = {}
    for r in rows:
        by_task.setdefault(r.task, []).append(r)
    keep: set[str] = set()
    for task, task_rows in by_task.items():
        texts = [row_content(r) for r in task_rows]
        if len(texts) >= _MIN_ROWS_FOR_NEAR_DUP:
            # The task's prompt template is shared by every row: leave its shingles out, or short
            # passages under one template would all look alike.
            sigs = minhashes_without_common_shingles(texts, min_texts=_MIN_ROWS_FOR_NEAR_DUP)
            reps = cluster_near_duplicates(zip([r.id for r in task_rows], sigs, strict=True),
                                           threshold=config.near_dup_threshold)
        else:  # too few rows to tell template from content: exact duplicates only
            first: dict[str, str] = {}
            reps = {r.id: first.setdefault(exact_key(t), r.id) for r, t in zip(task_rows, texts, strict=True)}
        # Rows of one document may look alike (three masks of one chunk); what must not dominate is
        # the same passage from many documents, so a cluster keeps the rows of its first N documents.
        owners: dict[str, set[str]] = {}
        for r in task_rows:
            docs = owners.setdefault(reps.get(r.id, r.id), set())
            if r.document_id in docs or len(docs) < config.rows_per_duplicate_cluster:
                docs.add(r.document_id)
                keep.add(r.id)
            else:
                dropped[task] += 1
    return [r for r in rows if r.id in keep]
