from __future__ import annotations

import gzip
import json
import re
import textwrap
from importlib import resources

import pytest
from datasketch import MinHash

from lextune.vault import dedup

CLAUSE = (
    "This Agreement shall be governed by and construed in accordance with the laws of the State of "
    "New York, without giving effect to any choice of law or conflict of law rules or provisions that "
    "would cause the application of the laws of any jurisdiction other than the State of New York."
)
OTHER = (
    "Either party may terminate this Agreement for convenience upon ninety days prior written notice "
    "to the other party, provided that all fees accrued through the effective date of termination "
    "have been paid in full and any confidential information has been returned or destroyed."
)


def _contracts() -> list[str]:
    # The CUAD sample shipped in the package (CC BY 4.0), read directly so this test needs no vault.
    sample = resources.files("lextune") / "demo_data" / "cuad_sample.json.gz"
    with gzip.open(sample, "rt", encoding="utf-8") as f:
        return [d["paragraphs"][0]["context"] for d in json.load(f)["data"]]


def _render_as_pdf(text: str, header: str, width: int = 72, lines_per_page: int = 45) -> str:
    """Another rendering of the same contract: re-wrapped lines, a running header, page numbers."""
    lines: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        lines += textwrap.wrap(" ".join(para.split()), width) + [""]
    pages = [lines[i:i + lines_per_page] for i in range(0, len(lines), lines_per_page)]
    out: list[str] = []
    for n, page in enumerate(pages, 1):
        out += [header, "", *page, f"- {n} -", f"Page {n} of {len(pages)}", "\f"]
    return "\n".join(out)


def test_normalization_ignores_case_whitespace_punctuation_numbering_and_quotes():
    a = "Section 12.3  The Licensee’s “Licensed Product” shall be non-\ncompete; (a) first (b) second."
    b = "12.4 the licensee's \"licensed product\" SHALL be non-compete:\n\n(i) first (ii) second"
    assert dedup.normalize_text(a) == dedup.normalize_text(b)
    assert dedup.normalize_text(a) == "the licensees licensed product shall be noncompete first second"
    assert dedup.exact_key(a) == dedup.exact_key(b)
    assert dedup.exact_key(a) != dedup.exact_key(b + " third")
    assert dedup.normalize_text("Text on page one\n\nPage 3 of 12\n- 4 -\n7\ncontinues") == (
        "text on page one continues"
    )


def test_signature_round_trips_through_bytes():
    sig = dedup.signature_bytes(CLAUSE)
    assert isinstance(sig, bytes) and len(sig) == 7 + 4 * dedup.NUM_PERM
    m = dedup.signature_from_bytes(sig)
    assert isinstance(m, MinHash)
    assert m.jaccard(dedup.minhash(CLAUSE)) == 1.0
    assert dedup.signature_bytes(m) == sig
    with pytest.raises(ValueError, match="recompute"):
        dedup.signature_from_bytes(sig[:4] + b"\x63" + sig[5:])
    with pytest.raises(ValueError):
        dedup.signature_from_bytes(b"not a signature")


def test_near_duplicate_estimate_tracks_edits():
    edited = CLAUSE.replace("New York", "Delaware", 1).replace("provisions", "rules")
    assert dedup.jaccard(CLAUSE, CLAUSE.upper().replace(" ", "\n  ")) == 1.0
    assert dedup.jaccard(CLAUSE, edited) > 0.4
    assert dedup.jaccard(CLAUSE, OTHER) < 0.1


def test_short_texts_match_on_exact_key_only():
    # Two one-word-apart headings would share most of their few shingles by chance: exact only.
    assert dedup.jaccard("Governing Law.", "governing   law") == 1.0
    assert dedup.jaccard("Governing law of the agreement", "Governing law of this agreement") < 0.1
    assert dedup.jaccard("", "") == 1.0


def test_cluster_near_duplicates_first_key_represents_and_links_transitively():
    v1 = CLAUSE
    v2 = CLAUSE + " Each party submits to the courts of New York."
    v3 = v2 + " Service of process may be made by mail."
    items = [("c1", v1), ("o1", OTHER), ("c2", dedup.signature_bytes(v2)), ("c3", dedup.minhash(v3)),
             ("dup", CLAUSE.upper()), ("short", "Notices."), ("short2", "NOTICES")]
    assert dedup.jaccard(v1, v3) < dedup.jaccard(v1, v2)
    reps = dedup.cluster_near_duplicates(items, threshold=0.7)
    assert reps == {"c1": "c1", "o1": "o1", "c2": "c1", "c3": "c1", "dup": "c1",
                    "short": "short", "short2": "short"}
    with pytest.raises(ValueError, match="duplicate key"):
        dedup.cluster_near_duplicates([("a", CLAUSE), ("a", OTHER)])


def test_boilerplate_repeated_many_times_is_one_cluster():
    items = [(f"k{i}", CLAUSE if i % 3 else OTHER) for i in range(300)]
    reps = dedup.cluster_near_duplicates(items)
    assert set(reps.values()) == {"k0", "k1"}


def test_same_contract_as_pdf_and_docx_is_one_family():
    contracts = _contracts()
    docx = contracts[5]  # about 22,000 characters
    pdf = _render_as_pdf(docx, header="PLAYA HOTELS - CONFIDENTIAL")
    assert pdf != docx and pdf.count("Page ") >= 5
    index = dedup.NearDupIndex(threshold=0.8)
    index.insert("doc-docx", dedup.signature_bytes(docx))
    index.insert("doc-other", dedup.signature_bytes(contracts[6]))
    hits = index.query_scored(dedup.signature_bytes(pdf))
    assert [k for k, _ in hits] == ["doc-docx"] and hits[0][1] > 0.9
    assert index.query(contracts[7]) == []
    assert len(index) == 2 and "doc-docx" in index
    index.insert("doc-docx", docx)  # the same document again: nothing changes
    assert len(index) == 2
    with pytest.raises(ValueError, match="already"):
        index.insert("doc-docx", contracts[8])


def test_shared_prompt_template_does_not_make_rows_near_duplicates():
    template = ("Which type of contract clause is this passage? Options: Governing Law; Anti-Assignment; "
                "Cap on Liability; Audit Rights; Insurance; License Grant; Termination for Convenience; "
                "Exclusivity; Renewal Term; Non-Compete.\n\nPassage:\n{}\n\n"
                "Answer with the clause type only.")
    # Distinct words, not numbers: numbering-like tokens are left out of signatures on purpose.
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
             "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
             "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "amber", "bronze", "cobalt", "denim"]
    passages = [f"Licensee {w} shall pay royalty {w}{w} monthly." for w in words]
    texts = [template.format(p) for p in passages] + [template.format(passages[3])]
    assert dedup.jaccard(texts[0], texts[20]) > 0.5  # the template alone makes them look alike
    sigs = dedup.minhashes_without_common_shingles(texts)
    assert sigs[0].jaccard(sigs[20]) < 0.1
    assert sigs[3].jaccard(sigs[-1]) == 1.0  # a real repeat still matches
    reps = dedup.cluster_near_duplicates((str(i), s) for i, s in enumerate(sigs))
    assert reps == {**{str(i): str(i) for i in range(30)}, "30": "3"}


def test_foreign_minhash_is_refused():
    with pytest.raises(ValueError, match="not a signature made by"):
        dedup.signature_bytes(MinHash(num_perm=dedup.NUM_PERM))
