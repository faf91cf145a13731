"""Redactions per document, computed once per anonymization policy and kept in the store.

The store's `pii_redactions` table is the PII mapping (original -> replacement) that lets an
authorized user reverse a pseudonym; datasets only ever receive the replacement text.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from sqlalchemy import delete, select

from lextune.core.records import DefinedTerm, Redaction
from lextune.core.store import Store
from lextune.core.tables import PiiRedactionRow, PiiRunRow


class RedactionSource(Protocol):
    """What the vault's anonymizer offers (lextune.vault.pii.Anonymizer)."""

    def redactions(self, text: str, defined_terms: list[DefinedTerm] | None = None) -> list[Redaction]: ...


def cached_redactions(
    store: Store, document_id: str, text: str, defined_terms: list[DefinedTerm],
    anonymizer: RedactionSource, config_hash: str,
) -> list[Redaction]:
    """The document's redactions under this policy: from the store, or computed and stored."""
    with store.session() as s:
        if s.get(PiiRunRow, (document_id, config_hash)) is not None:
            rows = s.scalars(select(PiiRedactionRow).where(PiiRedactionRow.document_id == document_id,
                                                           PiiRedactionRow.config_hash == config_hash)
                             .order_by(PiiRedactionRow.start))
            return [Redaction(start=r.start, end=r.end, entity_type=r.entity_type, original=r.original,
                              replacement=r.replacement) for r in rows]
    found = anonymizer.redactions(text, defined_terms)
    with store.session() as s:
        s.execute(delete(PiiRedactionRow).where(PiiRedactionRow.document_id == document_id,
                                                PiiRedactionRow.config_hash == config_hash))
        s.add_all(PiiRedactionRow(document_id=document_id, config_hash=config_hash, **r.model_dump())
                  for r in found)
        s.merge(PiiRunRow(document_id=document_id, config_hash=config_hash, n_redactions=len(found)))
    return found


def originals(store: Store, document_ids: list[str], config_hash: str) -> set[str]:
    """The original strings redacted in these documents (for the audit's 'PII left' check)."""
    out: set[str] = set()
    with store.session() as s:
        for i in range(0, len(document_ids), 500):  # stay under SQLite's bound-parameter limit
            q = select(PiiRedactionRow.original, PiiRedactionRow.replacement).where(
                PiiRedactionRow.config_hash == config_hash,
                PiiRedactionRow.document_id.in_(document_ids[i:i + 500]))
            out.update(original for original, replacement in s.execute(q) if original != replacement)
    return out


def count_by_type(redactions: list[Redaction]) -> Counter[str]:
    return Counter(r.entity_type for r in redactions if r.replacement != r.original)


def mapping(store: Store, document_id: str) -> list[Redaction]:
    """Every redaction stored for a document (all policies), to reverse pseudonyms; audited by the caller."""
    with store.session() as s:
        rows = s.scalars(select(PiiRedactionRow).where(PiiRedactionRow.document_id == document_id)
                         .order_by(PiiRedactionRow.start))
        return [Redaction(start=r.start, end=r.end, entity_type=r.entity_type, original=r.original,
                          replacement=r.replacement) for r in rows]
