"""Tests for lextune.vault.loaders: every supported format, and a precise error for every bad input."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from lextune.core.errors import IngestError
from lextune.vault.cuad import clause_type_of
from lextune.vault.loaders import load_path

# The opening of a real CUAD v1 contract (dev split), copied verbatim; offsets below are CUAD's own.
TITLE = "ANIXABIOSCIENCESINC_06_09_2020-EX-10.1-COLLABORATION AGREEMENT"
CONTRACT = (
    'Exhibit 10.1\n\nRedactions with respect to certain portions hereof denoted with "***"\n\n'
    'COLLABORATION AGREEMENT\n\nThis Collaboration Agreement (the "Agreement") is made as of April 14th, '
    '2020 (the "Effective Date") by and between Anixa Biosciences, Inc., a Delaware corporation, located at '
    "3150 Almaden Expressway, Suite 250, San Jose, CA 95118, U.S.A. (\"Anixa\"), and OntoChem GmbH, a German "
    "limited liability company, located at Blücherstr. 24, D-06120 Halle (Saale), Germany (\"OntoChem\"). "
    'Anixa and OntoChem are referred to herein individually as a "Party" and collectively as the "Parties."'
)
PARTIES_SENTENCE = CONTRACT[487:]
QUESTION = 'Highlight the parts (if any) of this contract related to "{}" that should be reviewed.'


def _qa(category: str, answers: list[tuple[str, int]], qa_id: str | None = None) -> dict:
    return {
        "id": f"{TITLE}__{category}" if qa_id is None else qa_id,
        "question": QUESTION.format(category),
        "answers": [{"text": text, "answer_start": start} for text, start in answers],
        "is_impossible": not answers,
    }


def _squad(qas: list[dict], **entry: object) -> dict:
    paragraphs = [{"context": CONTRACT, "qas": qas}]
    return {"version": "CUAD_v1", "data": [{"title": TITLE, "paragraphs": paragraphs, **entry}]}


def _contract_line(**overrides: object) -> str:
    record = {
        "id": "143e8dd19afb", "title": TITLE, "text": CONTRACT, "contract_type": "Collaboration",
        "split": "dev",
        "clauses": {
            "Document Name": [{"text": "Collaboration Agreement", "start": 115, "end": 138}],
            "Parties": [
                {"text": "Anixa Biosciences, Inc.", "start": 226, "end": 249},
                {"text": "OntoChem GmbH", "start": 364, "end": 377},
            ],
        },
        "answers": {"Governing Law": "Delaware"},
    }
    record.update(overrides)
    return json.dumps(record, ensure_ascii=False)


def _pdf_bytes(pages: list[str]) -> bytes:
    """A minimal valid PDF, one Helvetica text line per page, with a correct xref table."""
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, line in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({line}) Tj ET".encode("latin-1")
        bodies.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        bodies.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(bodies) + 1, xref_at)
    return bytes(out)


def _write(folder: Path, name: str, content: bytes | str) -> Path:
    path = folder / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def _error(path: Path) -> IngestError:
    with pytest.raises(IngestError) as info:
        load_path(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    return info.value


def test_txt_is_loaded_with_stem_title_and_source(tmp_path: Path) -> None:
    content = "1. Services.\nThe Supplier shall provide the Services.\n"
    path = _write(tmp_path, "Master Services Agreement.txt", content)
    result = load_path(path)
    assert result.warnings == []
    [doc] = result.documents
    assert (doc.title, doc.format, doc.text) == ("Master Services Agreement", "txt", content)
    assert doc.source_path == str(path) and doc.annotations == []


def test_utf8_bom_is_dropped_but_counted_in_error_offsets(tmp_path: Path) -> None:
    [doc] = load_path(_write(tmp_path, "a.txt", b"\xef\xbb\xbfN\xc3\xa4chste")).documents
    assert (doc.text, doc.metadata) == ("Nächste", {"encoding": "utf-8-sig"})
    # JSON must be UTF-8 (text files get encoding detection instead): the error counts the BOM's bytes.
    assert "(byte 10)" in _error(_write(tmp_path, "b.json", b'\xef\xbb\xbf{"a": "\xff"}')).reason


@pytest.mark.parametrize("name", ["notes.md", "notes.markdown", "NOTES.MD"])
def test_markdown_suffixes(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name, "# Governing law\n\nDelaware.\n")
    [doc] = load_path(path).documents
    assert doc.format == "md"
    assert doc.title == Path(name).stem


def test_invalid_utf8_json_names_file_and_byte(tmp_path: Path) -> None:
    content = '{"text": "Clause one.",\n"note": "Prix: 5 €, déjà vu"}'.encode("cp1252")
    path = _write(tmp_path, "latin1.jsonl", content)
    bad_byte = content.index(b"\x80")
    error = _error(path)
    assert f"not valid UTF-8 text (byte {bad_byte})" in error.reason
    assert "0x80" in error.reason and "line 2" in error.reason


@pytest.mark.parametrize("content", [b"  \n\t\r\n ", b"\xef\xbb\xbf\n"])
def test_empty_text_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = _write(tmp_path, "blank.txt", content)
    assert _error(path).reason == "empty document"


@pytest.mark.parametrize("name", ["blank.txt", "blank.pdf", "blank.docx", "blank.eml", "blank.jsonl", "b.html"])
def test_zero_byte_file(tmp_path: Path, name: str) -> None:
    assert _error(_write(tmp_path, name, b"")).reason == "empty file (0 bytes)"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.txt").reason == "no such file"
    (tmp_path / "folder.txt").mkdir()
    assert _error(tmp_path / "folder.txt").reason == "is a directory, not a file"


@pytest.mark.parametrize(
    ("name", "shown"), [("deal.xyz", "'.xyz'"), ("a.txt.gz", "'.txt.gz'"), ("README", "(no extension)")]
)
def test_unsupported_suffix(tmp_path: Path, name: str, shown: str) -> None:
    path = _write(tmp_path, name, b"data")
    reason = _error(path).reason
    assert reason.startswith(f"unsupported file type {shown} (supported: ")
    assert ".pdf" in reason and ".jsonl.gz" in reason


def test_docx_paragraphs_then_tables(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("SERVICES AGREEMENT", level=1)
    document.add_paragraph("1. The Supplier shall deliver the Goods.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Fee", "Due"
    table.cell(1, 0).text, table.cell(1, 1).text = "USD 100", "30 days"
    path = tmp_path / "services.docx"
    document.save(path)
    [doc] = load_path(path).documents
    assert doc.format == "docx" and doc.title == "services"
    assert doc.text == (
        "# SERVICES AGREEMENT\n1. The Supplier shall deliver the Goods.\nFee | Due\nUSD 100 | 30 days"
    )


def test_docx_heading_styles_become_markdown_headings(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Licence Agreement", level=0)  # the "Title" style
    document.add_heading("ARTICLE 12  INDEMNIFICATION", level=1)
    document.add_heading("12.3 Indemnification", level=2)
    document.add_paragraph("The Licensee shall indemnify the Licensor.")
    document.add_heading("12.3.1 Procedure", level=3)
    document.add_heading("", level=2)  # an empty heading paragraph is not a heading line
    document.add_paragraph("Heading 1 is only a style name, not text.", style="Normal")
    path = tmp_path / "licence.docx"
    document.save(path)
    [doc] = load_path(path).documents
    assert doc.text.split("\n") == [
        "# Licence Agreement",
        "# ARTICLE 12 INDEMNIFICATION",
        "## 12.3 Indemnification",
        "The Licensee shall indemnify the Licensor.",
        "### 12.3.1 Procedure",
        "",
        "Heading 1 is only a style name, not text.",
    ]


def test_docx_merged_cells_appear_once(tmp_path: Path) -> None:
    document = docx.Document()
    table = document.add_table(rows=1, cols=3)
    merged = table.cell(0, 0).merge(table.cell(0, 1))
    merged.text = "Term"
    table.cell(0, 2).text = "Two years"
    path = tmp_path / "merged.docx"
    document.save(path)
    assert load_path(path).documents[0].text.strip() == "Term | Two years"


def test_corrupt_and_empty_docx(tmp_path: Path) -> None:
    broken = _write(tmp_path, "broken.docx", b"PK\x03\x04 this is not really a zip archive")
    assert _error(broken).reason.startswith("corrupt or unreadable DOCX")
    docx.Document().save(tmp_path / "empty.docx")
    assert _error(tmp_path / "empty.docx").reason == "empty document"


def test_pdf_pages_joined_by_blank_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "lease.pdf", _pdf_bytes(["ARTICLE I TERM", "The lease runs for five years."]))
    result = load_path(path)
    [doc] = result.documents
    assert doc.format == "pdf" and doc.title == "lease"
    assert doc.text == "ARTICLE I TERM\n\nThe lease runs for five years."
    assert doc.metadata == {"pages": 2}


@pytest.mark.parametrize("content", [b"%PDF-1.4\n garbage without objects", b"not a pdf at all"])
def test_corrupt_pdf(tmp_path: Path, content: bytes) -> None:
    path = _write(tmp_path, "broken.pdf", content)
    assert _error(path).reason.startswith("corrupt or unreadable PDF")


def test_pdf_without_text(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    path = tmp_path / "scan.pdf"
    writer.write(path)
    assert "no extractable text" in _error(path).reason


def test_encrypted_pdf(tmp_path: Path) -> None:
    for user_password in ("secret", ""):  # "" = only editing is restricted, so the text can be read
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_pdf_bytes(["Secret terms."]))))
        writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
        writer.write(tmp_path / f"locked{user_password}.pdf")
    assert "encrypted PDF: a password is required" in _error(tmp_path / "lockedsecret.pdf").reason
    assert load_path(tmp_path / "locked.pdf").documents[0].text == "Secret terms."


def test_cuad_squad_json(tmp_path: Path) -> None:
    qas = [
        _qa("Document Name", [("Collaboration Agreement", 115)]),
        _qa("Parties", [("Anixa Biosciences, Inc.", 226), (PARTIES_SENTENCE, 487)]),
        _qa("Governing Law", []),
    ]
    path = _write(tmp_path, "cuad.json", json.dumps(_squad(qas, contract_type="Collaboration")))
    result = load_path(path)
    assert result.warnings == []
    [doc] = result.documents
    assert (doc.title, doc.format, doc.text) == (TITLE, "cuad", CONTRACT)
    assert doc.metadata == {"contract_type": "Collaboration"}
    assert [(a.clause_type, a.start, a.end) for a in doc.annotations] == [
        ("Document Name", 115, 138),
        ("Parties", 226, 249),
        ("Parties", 487, 589),
    ]
    assert all(doc.text[a.start : a.end] == a.text for a in doc.annotations)


def test_cuad_offset_mismatch_is_warned_and_skipped(tmp_path: Path) -> None:
    qas = [_qa("Agreement Date", [("April 14th, 2020", 170), ("April 14th, 2020", 171)])]
    path = _write(tmp_path, "cuad.json.gz", gzip.compress(json.dumps(_squad(qas)).encode()))
    result = load_path(path)
    assert result.warnings == [
        f"{path}: {TITLE}: Agreement Date answer at offset 170 does not match the contract text; skipped"
    ]
    assert [(a.start, a.end) for a in result.documents[0].annotations] == [(171, 187)]


def test_cuad_clause_type_from_question_when_id_has_none(tmp_path: Path) -> None:
    qas = [_qa("Document Name", [("Collaboration Agreement", 115)], qa_id="q-17")]
    path = _write(tmp_path, "cuad.json", json.dumps(_squad(qas)))
    assert load_path(path).documents[0].annotations[0].clause_type == "Document Name"


def test_clause_type_of() -> None:  # ids may contain "__" in the title too
    assert clause_type_of("A__B__Rofr/Rofo/Rofn", "") == "Rofr/Rofo/Rofn"
    assert clause_type_of("x", QUESTION.format("Cap on Liability")) == "Cap on Liability"
    assert clause_type_of("x", "What is this?") is None


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.json", b'{"data": [', "malformed JSON (line 1"),
        ("bad.json", b'{"version": 2}', "not a CUAD/SQuAD JSON file"),
        ("bad.json", b"[]", "not a CUAD/SQuAD JSON file"),
        ("bad.json.gz", b"\x1f\x8b\x08\x00 truncated", "not a valid gzip file"),
    ],
)
def test_bad_cuad_json(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    assert expected in _error(_write(tmp_path, name, content)).reason


def test_cuad_contracts_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "contracts.jsonl"
    lines = [_contract_line(), "", _contract_line(title="Second", id="abc"), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    result = load_path(path)
    assert result.warnings == []
    first, second = result.documents
    assert (first.title, first.format, second.title) == (TITLE, "cuad", "Second")
    assert first.metadata == {
        "cuad_id": "143e8dd19afb",
        "contract_type": "Collaboration",
        "split": "dev",
        "cuad_answers": {"Governing Law": "Delaware"},
    }
    assert [(a.clause_type, a.start, a.end, a.text) for a in first.annotations] == [
        ("Document Name", 115, 138, "Collaboration Agreement"),
        ("Parties", 226, 249, "Anixa Biosciences, Inc."),
        ("Parties", 364, 377, "OntoChem GmbH"),
    ]


def test_jsonl_malformed_line_reported_with_line_number(tmp_path: Path) -> None:
    path = tmp_path / "contracts.jsonl.gz"
    lines = [_contract_line(), '{"id": "broken", "text": ', _contract_line(id="x", title="Third")]
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    result = load_path(path)
    assert [d.title for d in result.documents] == [TITLE, "Third"]
    [warning] = result.warnings
    assert warning.startswith(f"{path}: line 2: malformed JSON")
    assert warning.endswith("skipped")


def test_jsonl_clause_offset_mismatch(tmp_path: Path) -> None:
    wrong_start = {"text": "OntoChem GmbH", "start": 365, "end": 378}
    wrong_end = {"text": "OntoChem GmbH", "start": 364, "end": 380}
    clauses = {"Parties": [wrong_start, wrong_end, {"text": "Anixa", "start": 226}]}
    path = _write(tmp_path, "contracts.jsonl", _contract_line(clauses=clauses))
    result = load_path(path)
    assert result.warnings == [
        f"{path}: {TITLE}: Parties answer at offset {start} does not match the contract text; skipped"
        for start in (365, 364)
    ]
    assert [(a.start, a.end) for a in result.documents[0].annotations] == [(226, 231)]


def test_jsonl_line_separator_inside_strings_is_not_a_line_break(tmp_path: Path) -> None:
    text = "Clause one.\u2028Clause two."
    path = _write(tmp_path, "contracts.jsonl", _contract_line(text=text, clauses={}))
    assert load_path(path).documents[0].text == text


def test_jsonl_with_nothing_loadable(tmp_path: Path) -> None:
    path = _write(tmp_path, "contracts.jsonl", 'not json\n{"title": "no text"}\n')
    reason = _error(path).reason
    # No record has a "clauses" object, so this is read as generic JSONL, not CUAD.
    assert reason.startswith("no loadable records (2 problem(s); first: ")
    assert "line 1: malformed JSON" in reason
