from __future__ import annotations

import gzip
import io
import json
import re
import xml.etree.ElementTree as ET
from importlib import resources

from rich.console import Console

from lextune.core.records import DatasetRow, Span
from lextune.data import prompts
from lextune.data.audit import WHITESPACE_ESTIMATE, AuditOptions, audit_rows, render_text
from lextune.data.audit_html import render_audit_html, write_audit_html

TYPES = ["Governing Law", "Audit Rights", "Insurance", "Exclusivity"]
HOSTILE = "<script>alert('x')</script>"


def _passages(n: int, chars: int = 400) -> list[str]:
    """Distinct real contract passages from the CUAD sample shipped in the package."""
    sample = resources.files("lextune") / "demo_data" / "cuad_sample.json.gz"
    with gzip.open(sample, "rt", encoding="utf-8") as f:
        texts = [d["paragraphs"][0]["context"] for d in json.load(f)["data"]]
    out = []
    for t in texts:
        for start in range(2000, len(t) - chars, 7 * chars):
            out.append(" ".join(t[start:start + chars].split()))
            if len(out) == n:
                return out
    return out


def _row(i: int, split: str, passage: str, *, task: str = "clause_type", label: str = "Governing Law",
         answer: str | None = None, meta: dict | None = None, chunk: str | None = None) -> DatasetRow:
    answer = label if answer is None else answer
    user = prompts.clause_type_prompt(passage, TYPES) if task == "clause_type" else passage
    return DatasetRow(
        id=f"row-{split}-{i}", task=task, split=split,  # type: ignore[arg-type]
        messages=[{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user},
                  {"role": "assistant", "content": answer}],
        answer=answer, label=label, choices=TYPES if task == "clause_type" else None,
        document_id=f"doc-{i // 4}", chunk_ids=[chunk or f"chunk-{split}-{i}"], span=Span(start=0, end=10),
        meta=meta or {},
    )


def _healthy() -> dict[str, list[DatasetRow]]:
    texts = _passages(400)
    clients = ["ACME", "Beta LLP", "Gamma GmbH", "Delta SA"]
    rows: dict[str, list[DatasetRow]] = {"train": [], "dev": [], "test": []}
    for i, text in enumerate(texts):
        split = "train" if i < 320 else ("dev" if i < 360 else "test")
        meta = {"client": clients[i % 4], "jurisdiction": ["NY", "DE", "CA"][i % 3],
                "document_type": "contract"}
        rows[split].append(_row(i, split, text, label=TYPES[i % 4], meta=meta))
    return rows


def _text(report) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(render_text(report))
    return console.file.getvalue()


def test_healthy_dataset_has_no_warnings_and_no_false_duplicates():
    manifest = {"id": "ds-1", "name": "clauses", "anonymization": {"enabled": True}}
    report = audit_rows(_healthy(), manifest=manifest)
    assert report.n_rows == 400 and report.splits == {"train": 320, "dev": 40, "test": 40}
    assert [w.code for w in report.warnings if w.level != "info"] == []
    only = ("100% of train rows come from document type contract (the only value set): "
            "the model learns that one only")
    assert [w.message for w in report.warnings if w.code == "bias"] == [only]
    # The shared prompt template must not make every pair of rows look alike.
    assert sum(report.duplicates.near_within.values()) == 0 and report.duplicates.near_cross_rows == 0
    assert report.meta_shares["client"] == dict.fromkeys(["ACME", "Beta LLP", "Gamma GmbH", "Delta SA"], 0.25)
    assert report.dataset == {"id": "ds-1", "name": "clauses"}
    assert "no warnings" not in _text(report) and "Dataset audit of ds-1 clauses: 400 rows" in _text(report)


def test_counts_per_split_task_clause_type_and_metadata():
    texts = _passages(12)
    rows = {
        "train": [_row(0, "train", texts[0], label="Insurance", meta={"client": "ACME"}),
                  _row(1, "train", texts[1], label="Insurance",
                       meta={"client": "ACME", "jurisdiction": "NY"}),
                  _row(2, "train", texts[2], task="clause_question", label="Yes", answer="Yes",
                       meta={"clause_type": "Audit Rights", "client": "Beta"}),
                  _row(3, "train", texts[3], task="clause_quote", label="Exclusivity", answer="Not found"),
                  _row(4, "train", texts[4], task="summarize", label=None, answer=texts[5][:200])],
        "dev": [_row(5, "dev", texts[6], label="Audit Rights")],
        "test": [],
    }
    report = audit_rows(rows, count_tokens=len)
    assert report.counts == {
        "train": {"clause_question": 1, "clause_quote": 1, "clause_type": 2, "summarize": 1},
        "dev": {"clause_type": 1}, "test": {},
    }
    assert report.by_clause_type == {"Insurance": {"train": 2}, "Audit Rights": {"train": 1, "dev": 1},
                                     "Exclusivity": {"train": 1}}
    assert report.by_meta["client"] == {"ACME": {"train": 2}, "unset": {"train": 2, "dev": 1},
                                        "Beta": {"train": 1}}
    assert report.by_meta["jurisdiction"]["unset"] == {"train": 4, "dev": 1}
    assert report.meta_shares["client"]["ACME"] == 0.4 and report.share_basis == "train"
    assert report.n_documents == 2 and report.n_source_chunks == 6
    assert report.token_counter == "tokenizer"
    assert report.answer_tokens.max == 200 and sum(report.prompt_tokens.counts) == 6
    assert report.label_balance["clause_quote"].not_found_share == 1.0
    assert report.label_balance["summarize"].free_text_share == 1.0
    assert report.label_balance["summarize"].majority_label is None
    codes = {w.code: w for w in report.warnings}
    assert codes["too_small_vault"].level == "error"
    assert "6 distinct source chunks" in codes["too_small_vault"].message
    assert "tuning will overfit; retrieval alone" in codes["few_rows"].message
    assert codes["empty_split"].message.startswith("no test rows")
    assert "3 clause type(s) with < 20 train rows" in codes["thin_clause_types"].message
    assert "token_estimate" not in codes
    assert report.warnings[0].level == "error"


def test_bias_warning_names_the_dominating_client():
    rows = _healthy()
    for i, r in enumerate(rows["train"]):
        r.meta["client"] = "ACME" if i % 5 else "Beta LLP"  # 80% ACME
    report = audit_rows(rows, options=AuditOptions(bias_share=0.5))
    bias = [w for w in report.warnings if w.code == "bias" and w.level == "warning"]
    assert [w.message for w in bias] == ["80% of train rows come from client ACME"]
    assert "80% of train rows come from client ACME" in _text(report)
    relaxed = audit_rows(rows, options=AuditOptions(bias_share=0.9)).warnings
    assert not [w for w in relaxed if w.code == "bias" and w.level == "warning"]


def test_label_imbalance_and_cross_split_duplicates_are_flagged():
    rows = _healthy()
    for r in rows["train"][:300]:
        r.answer = r.label = "Governing Law"
        r.messages[-1]["content"] = "Governing Law"
    leaked = rows["train"][7]
    copy = leaked.model_copy(deep=True, update={"id": "leaked-copy", "split": "test"})
    copy.messages[1]["content"] = copy.messages[1]["content"].replace(".", ";", 2).upper()
    rows["test"].append(copy)
    report = audit_rows(rows)
    codes = {w.code: w for w in report.warnings}
    assert codes["cross_split_duplicates"].level == "error"
    assert report.duplicates.near_cross_rows == 2 and report.duplicates.exact_cross_rows == 2
    assert (leaked.id, "train", "leaked-copy", "test") in report.duplicates.examples
    assert "95% of train rows answer 'Governing Law'" in codes["label_imbalance"].message


def test_pii_left_is_counted_without_revealing_the_strings():
    rows = _healthy()
    rows["train"][3].messages[1]["content"] += " Signed by Jane  Q.\nDoe for ACME HOLDINGS."
    rows["test"][0].messages[1]["content"] += " contact: jane.doe@example.com"
    rows["dev"][0].messages[1]["content"] += " Annual fees apply."  # "Ann" must not match inside "Annual"
    secrets = ["jane q. doe", "JANE.DOE@EXAMPLE.COM", "Ann", "Zed Unused Name", "Q"]
    report = audit_rows(rows, pii_strings=secrets, manifest={"anonymization": {"enabled": False}})
    assert report.pii.rows_with_pii == 2
    assert report.pii.by_split == {"train": 1, "test": 1}
    assert (report.pii.strings_found, report.pii.strings_checked, report.pii.strings_ignored) == (2, 4, 1)
    codes = {w.code for w in report.warnings if w.level == "error"}
    assert {"pii_left", "anonymization_off"} <= codes
    dumped = (report.model_dump_json() + render_audit_html(report) + _text(report)).lower()
    assert "jane" not in dumped and "zed unused" not in dumped


def test_html_page_has_plots_and_escapes_labels(tmp_path):
    rows = _healthy()
    rows["train"][0].label = HOSTILE
    rows["train"][0].meta["client"] = 'A&B "<Partners>"'
    report = audit_rows(rows, manifest={"id": "ds-<x>", "warnings": [HOSTILE]})
    path = write_audit_html(report, tmp_path / "audit" / "audit.html")
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html.lower() and "&lt;script&gt;" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    svgs = re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)
    assert len(svgs) >= 5  # tasks, clause types, metadata values, two histograms
    for svg in svgs:
        ET.fromstring(svg)  # well-formed despite hostile labels
    titles = [ET.fromstring(s).findtext("{http://www.w3.org/2000/svg}title") for s in svgs]
    assert {"rows per task", "rows per clause type", "prompt length", "answer length"} <= set(titles)
    assert "share of train rows by client" in titles
    assert "A&amp;B &quot;&lt;Partners&gt;&quot;" in html
    assert WHITESPACE_ESTIMATE.split(" (")[0] in html


def test_terminal_summary_prints_markup_like_labels_verbatim():
    rows = _healthy()
    for r in rows["train"]:
        r.meta["client"] = "[PARTY_1] [bold]x[/bold]"  # Rich would eat this if it were parsed as markup
    out = _text(audit_rows(rows))
    assert "rows per task" in out and "label balance" in out
    assert "client (train rows): [PARTY_1] [bold]x[/bold] 100%" in out
