"""Split by document group (family, matter or client), once and for all.

A document's split is fixed the first time a build assigns it and recorded in the store; later
builds keep it whatever their seed or grouping, so a rebuild can never move a document that a model
version was trained on into dev or test. New documents join the split of their group (a copy of a
test contract, ingested as another file, lands in test with it) or, for a new group, a split drawn
from a hash of the group key.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

from sqlalchemy import select

from lextune.core.errors import DatasetError
from lextune.core.records import Document
from lextune.core.store import Store
from lextune.core.tables import SplitAssignmentRow

Split = Literal["train", "dev", "test"]
GroupBy = Literal["family", "matter", "client"]


def split_of(document_id: str, seed: int = 0, dev: float = 0.1, test: float = 0.2) -> Split:
    """A split from a hash of a key (a document or group id).

    Hashing (rather than shuffling a list) keeps every existing key in its split when new ones are
    added, so a growing vault never moves a test contract into training.
    """
    if not (0 <= dev and 0 <= test and dev + test < 1):
        raise ValueError(f"dev ({dev}) and test ({test}) fractions must be >= 0 and sum to < 1")
    digest = hashlib.sha256(f"{seed}:{document_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test:
        return "test"
    if u < test + dev:
        return "dev"
    return "train"


class SplitConflictError(DatasetError):
    """Documents that must share a split (one family, matter or client) are pinned to different ones."""


def group_key(doc: Document, by: GroupBy) -> str:
    """The unit a document is split with; without the asked metadata, its document family."""
    if by != "family":
        value = doc.metadata.get(by)
        if value not in (None, ""):
            return f"{by}:{value}"
    return f"family:{doc.family_id or doc.id}"


def assign_splits(
    store: Store, docs: Iterable[Document], by: GroupBy = "family", seed: int = 0,
    dev: float = 0.1, test: float = 0.2,
) -> tuple[dict[str, Split], dict[str, str], list[str]]:
    """(split per document id, group key per document id, warnings); raises SplitConflictError.

    Nothing is written here: `record_assignments` pins the new ones when the dataset is saved.
    """
    docs = list(docs)
    with store.session() as s:
        pinned = {r.document_id: r.split for r in s.scalars(select(SplitAssignmentRow))}
    groups: dict[str, list[Document]] = defaultdict(list)
    for d in docs:
        groups[group_key(d, by)].append(d)
    splits: dict[str, Split] = {}
    keys: dict[str, str] = {}
    conflicts: list[str] = []
    for key, members in groups.items():
        pins = {pinned[m.id]: m.id for m in members if m.id in pinned}
        if len(pins) > 1:
            shown = ", ".join(f"{doc_id} in {sp}" for sp, doc_id in sorted(pins.items()))
            conflicts.append(f"{key}: {shown}")
            continue
        split = next(iter(pins)) if pins else split_of(key, seed, dev, test)
        for m in members:
            splits[m.id] = split  # type: ignore[assignment]
            keys[m.id] = key
    if conflicts:
        raise SplitConflictError(
            f"{len(conflicts)} group(s) hold documents already pinned to different splits, so they cannot "
            f"be kept together without moving a document a model may have trained on: {'; '.join(conflicts[:5])}"
            f"{' ...' if len(conflicts) > 5 else ''}. Split by another unit (--split-by) or remove one copy."
        )
    warnings = []
    if by != "family":
        missing = sum(1 for d in docs if d.metadata.get(by) in (None, ""))
        if missing:
            warnings.append(f"{missing} document(s) have no '{by}' metadata: split by document family instead")
    return splits, keys, warnings


def record_assignments(
    session, splits: dict[str, Split], keys: dict[str, str], seed: int, dataset_id: str
) -> int:
    """Pin every document's split that is not pinned yet (inside the caller's transaction)."""
    pinned = set(session.scalars(select(SplitAssignmentRow.document_id)))
    new = [SplitAssignmentRow(document_id=d, split=sp, unit=keys[d], seed=seed, dataset_id=dataset_id)
           for d, sp in splits.items() if d not in pinned]
    session.add_all(new)
    return len(new)
