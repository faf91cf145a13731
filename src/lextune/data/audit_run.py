"""`data audit` on a built dataset: read its rows and PII mapping, audit, write the HTML page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lextune.core import audit as audit_log
from lextune.core.store import Store
from lextune.data.audit import AuditReport, audit_rows
from lextune.data.audit_html import render_audit_html, write_audit_html
from lextune.data.dataset import SPLITS, get_dataset, read_manifest, read_rows, split_path
from lextune.data.redactions import originals
from lextune.security.sealed_files import DATASET, write_sealed_text


def audit_dataset(
    store: Store, ref: str | None = None, html: Path | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> tuple[AuditReport, Path]:
    """Audit dataset `ref` (newest when None); returns the report and where its HTML page is."""
    info = get_dataset(store, ref)
    manifest = read_manifest(info, store.keyring)
    rows = {sp: read_rows(split_path(info, sp), store.keyring) for sp in SPLITS}
    doc_ids = sorted({r.document_id for rs in rows.values() for r in rs})
    anon = manifest.get("anonymization") or {}
    pii = originals(store, doc_ids, anon["policy_hash"]) if anon.get("enabled") else set()
    report = audit_rows(rows, count_tokens=count_tokens, pii_strings=pii, manifest=manifest)
    if html is not None:
        page = write_audit_html(report, html)  # a path the user named: an export, plaintext by request
    else:
        # The page quotes rows and PII left: sealed beside the dataset, like its rows (--html for a readable copy).
        page = Path(info.path) / "audit.html"
        write_sealed_text(page, render_audit_html(report), store.keyring, DATASET)
    with store.session() as s:
        audit_log.record(s, "dataset.audit", info.id, {"page": str(page)})
    return report, page
