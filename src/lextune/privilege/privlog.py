"""The privilege log of a run: one row per document withheld or redacted, as CSV and XLSX (openpyxl).

A lawyer's decision in the review queue wins: a rejected call drops the row, a corrected one takes the
corrected category, and "reviewed by" names the reviewer.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from lextune.core.store import Store
from lextune.privilege.pipeline import results, review_item_id

COLUMNS = ["date", "author", "recipients", "document type", "privilege asserted", "description", "reviewed by"]


def _decisions(store: Store, run_id: str) -> dict[str, tuple[str, str | None, dict | None]]:
    from lextune.core.tables_review import ReviewItemRow

    with store.session() as s:
        rows = s.execute(select(ReviewItemRow).where(ReviewItemRow.task == "privilege",
                                                     ReviewItemRow.status != "pending")).scalars().all()
        return {r.id: (r.status, r.reviewer, r.correction) for r in rows}


def log_rows(store: Store, run_id: str) -> list[dict[str, str]]:
    decided = _decisions(store, run_id)
    out = []
    for row in results(store, run_id):
        doc, call = row["doc"], row["call"]
        category, asserted, description, reviewer = (call["category"], call["privilege_asserted"],
                                                     call["description"], "")
        d = decided.get(review_item_id(run_id, doc["id"]))
        if d:
            status, who, correction = d
            reviewer = who or ""
            if status == "rejected":  # the lawyer says the call was wrong: flip privileged <-> not
                category = "not_privileged" if category != "not_privileged" else "privileged"
            elif status == "corrected" and correction:
                category = correction.get("category", category)
                asserted = correction.get("privilege_asserted", asserted)
                description = correction.get("description", description)
            if category != "not_privileged" and not asserted:
                asserted = "Attorney-Client Privilege"
        if category == "not_privileged":
            continue
        if not description:
            description = "Confidential communication with counsel reflecting legal advice."
        out.append({"date": doc["date"], "author": doc["author"],
                    "recipients": "; ".join(doc["recipients"] + [f"cc: {c}" for c in doc["cc"]]),
                    "document type": doc["doc_type"], "privilege asserted": asserted,
                    "description": description, "reviewed by": reviewer})
    return out


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)


def write_xlsx(rows: list[dict], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Privilege log"
    ws.append([c.title() for c in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append([r[c] for c in COLUMNS])
    for col, width in zip("ABCDEFG", (12, 36, 48, 14, 30, 80, 20)):
        ws.column_dimensions[col].width = width
    wb.save(path)
