"""The documents of one build as builders see them: split, anonymized, with boilerplate marked.

Anonymization runs for every document first (cached in the store per policy), because retrieval
for cited QA shows passages of *other* documents and those must be anonymized too. Retrieval only
returns documents of the asking row's split, so no training row ever shows held-out text.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from sqlalchemy import select

from lextune.core import fts
from lextune.core.records import Document, Redaction
from lextune.core.store import Store
from lextune.core.tables import ChunkRow
from lextune.data.builders.base import DocView, Passage, redacted_slice
from lextune.data.redactions import count_by_type, redactions_for
from lextune.data.splits import Split
from lextune.vault.dedup import cluster_near_duplicates, is_current, signature_bytes, signature_from_bytes
from lextune.vault.vault import Vault

if TYPE_CHECKING:
    from lextune.data.dataset import BuildConfig

# Chunks shorter than this carry too little to learn from (a lone heading, a page number).
USABLE_CHUNK_CHARS = 80
_HELDOUT_FIRST = {"test": 0, "dev": 1, "train": 2}


class DocViews:
    """Iterate DocViews of the build's documents; retrieval and dedup helpers over all of them."""

    def __init__(self, store: Store, vault: Vault, docs: list[Document], splits: dict[str, Split],
                 config: BuildConfig, on_progress: Callable[[str, int, int], None] | None = None,
                 workers: int | None = None):
        self.store, self.vault, self.config = store, vault, config
        self.docs = docs
        self.by_id = {d.id: d for d in docs}
        self.splits = splits
        progress = on_progress or (lambda stage, done, total: None)
        workers = workers or os.cpu_count() or 1
        self.redactions: dict[str, list[Redaction]] = {}
        self.policy_hash = ""
        if config.anonymize:
            from lextune.vault.pii import PiiPolicy

            policy = PiiPolicy.from_actions(config.pii_actions) if config.pii_actions else PiiPolicy()
            self.policy_hash = policy.config_hash()
            progress("anonymizing", 0, len(docs))
            found = redactions_for(
                store, [d.id for d in docs], config.pii_actions, self.policy_hash,
                read=lambda doc_id: (vault.document_text(doc_id), vault.defined_terms(doc_id)),
                workers=workers, on_done=lambda n: progress("anonymizing", n, len(docs)))
            self.redactions = dict(found)
        self._signatures: dict[str, bytes] = {}
        self._chunk_doc: dict[str, str] = {}
        with store.session() as s:
            q = select(ChunkRow.id, ChunkRow.document_id, ChunkRow.signature, ChunkRow.start, ChunkRow.end,
                       ChunkRow.kind).where(ChunkRow.document_id.in_(list(self.by_id)))
            self._usable = 0
            stale: list[str] = []
            for cid, doc_id, sig, start, end, kind in s.execute(q):
                self._chunk_doc[cid] = doc_id
                if is_current(sig):
                    self._signatures[cid] = sig
                else:
                    stale.append(cid)
                if end - start >= USABLE_CHUNK_CHARS and kind != "signature":
                    self._usable += 1
            # Chunks signed by an older scheme (or never): sign them again from their text, once.
            for cid in stale:
                row = s.get(ChunkRow, cid)
                row.signature = self._signatures[cid] = signature_bytes(row.text)
        self._clusters: dict[str, str] | None = None

    def __len__(self) -> int:
        return len(self.docs)

    def __iter__(self) -> Iterator[DocView]:
        clusters = self.chunk_clusters()
        for d in self.docs:
            chunks = [c.model_copy(update={"dup_of": clusters.get(c.id) if clusters.get(c.id) != c.id else None})
                      for c in self.vault.chunks(d.id)]
            yield DocView(d, self.splits[d.id], self.vault.document_text(d.id), chunks,
                          self.vault.annotations(d.id), self.vault.defined_terms(d.id),
                          self.redactions.get(d.id))

    def usable_chunks(self) -> int:
        return self._usable

    def chunk_split(self, chunk_id: str) -> Split | None:
        doc_id = self._chunk_doc.get(chunk_id)
        return self.splits.get(doc_id) if doc_id else None

    def chunk_signature(self, chunk_id: str):
        sig = self._signatures.get(chunk_id)
        return signature_from_bytes(sig) if sig is not None else None

    def heldout_chunk_signatures(self) -> Iterator[tuple[str, str, object]]:
        for cid, sig in self._signatures.items():
            split = self.chunk_split(cid)
            if split in ("dev", "test"):
                yield cid, split, signature_from_bytes(sig)

    def chunk_clusters(self) -> dict[str, str]:
        """chunk id -> representative of its near-duplicate cluster; held-out chunks represent first,
        so a boilerplate passage shared with a test document counts as that test document's."""
        if self._clusters is None:
            order = sorted(self._signatures, key=lambda c: (_HELDOUT_FIRST[self.chunk_split(c) or "train"], c))
            self._clusters = cluster_near_duplicates(
                ((c, self._signatures[c]) for c in order), threshold=self.config.near_dup_threshold)
        return self._clusters

    def retrieve(self, query: str, split: Split, k: int, exclude_document_id: str | None = None) -> list[Passage]:
        """Top-k BM25 passages from documents of `split` in this build, anonymized."""
        with self.store.session() as s:
            # Every version, as before: the build's documents decide, below, what may be shown.
            ranked = [cid for cid, _ in fts.search(s, self.store.keyring, query, 20 * k + 20, latest_only=False)]
            picked = [c for c in ranked if (d := self._chunk_doc.get(c)) is not None
                      and d != exclude_document_id and self.splits.get(d) == split][:k]
            # Only the chosen chunks' text is read (and opened).
            rows = {r[0]: r for r in s.execute(select(ChunkRow.id, ChunkRow.document_id, ChunkRow.start, ChunkRow.end,
                                                      ChunkRow.text).where(ChunkRow.id.in_(picked)))}
        out: list[Passage] = []
        for cid, doc_id, start, end, raw in (rows[c] for c in picked if c in rows):
            reds = self.redactions.get(doc_id, [])
            shown = redacted_slice(raw, start, start, end, reds, [r.start for r in reds])
            out.append(Passage(chunk_id=cid, document_id=doc_id, start=start, end=end, text=shown))
        return out

    def anonymization_summary(self) -> dict:
        if not self.config.anonymize:
            return {"enabled": False}
        counts: Counter[str] = Counter()
        for reds in self.redactions.values():
            counts.update(count_by_type(reds))
        return {"enabled": True, "policy_hash": self.policy_hash, "redactions": dict(counts),
                "actions": self.config.pii_actions or "defaults"}
