"""E-mail loading: headers and body as one document, each attachment its own document linked to it."""

from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from lextune.core.errors import IngestError
from lextune.vault.loaders import load_path

BODY = "Dear Ms. Meyer,\n\nplease find the signed licence attached.\n\nKind regards,\nJohn"


def _pdf(text: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def _docx(*paragraphs: str) -> bytes:
    document = docx.Document()
    document.add_heading("SIDE LETTER", level=1)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _message(subject: str = "Signed licence (Acme / Beta)") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "John Smith <john.smith@acme.example>"
    message["To"] = "Anna Meyer <anna.meyer@beta.example>, legal@beta.example"
    message["Cc"] = "Counsel <counsel@acme.example>"
    message["Date"] = "Tue, 14 Apr 2020 10:30:00 +0200"
    message["Subject"] = subject
    message["Message-ID"] = "<20200414.1030@acme.example>"
    return message


def _write(path: Path, message: EmailMessage) -> Path:
    path.write_bytes(message.as_bytes())
    return path


def test_email_with_pdf_docx_and_corrupt_attachments(tmp_path: Path) -> None:
    message = _message()
    message.set_content(BODY)
    message.add_alternative("<p>HTML version that must <b>not</b> win over text/plain.</p>", subtype="html")
    message.add_attachment(_pdf("LICENCE AGREEMENT\nThe Licensor grants a licence."), maintype="application",
                           subtype="pdf", filename="licence.pdf")
    message.add_attachment(_docx("The fee is waived."), maintype="application",
                           subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                           filename="side letter.docx")
    message.add_attachment(b"%PDF-1.4\nthis is not really a PDF", maintype="application", subtype="pdf",
                           filename="broken.pdf")
    message.add_attachment(b"\x89PNG\r\n\x1a\n\x00\x00", maintype="image", subtype="png", filename="logo.png")
    path = _write(tmp_path / "licence.eml", message)

    result = load_path(path)
    mail, pdf, side_letter = result.documents
    assert mail.format == "eml" and mail.title == "Signed licence (Acme / Beta)"
    assert mail.text == (
        "From: John Smith <john.smith@acme.example>\n"
        "To: Anna Meyer <anna.meyer@beta.example>, legal@beta.example\n"
        "Cc: Counsel <counsel@acme.example>\n"
        "Date: Tue, 14 Apr 2020 10:30:00 +0200\n"
        "Subject: Signed licence (Acme / Beta)\n\n" + BODY
    )
    assert mail.metadata == {
        "from": "John Smith <john.smith@acme.example>",
        "to": "Anna Meyer <anna.meyer@beta.example>, legal@beta.example",
        "cc": "Counsel <counsel@acme.example>",
        "date": "2020-04-14T10:30:00+02:00",
        "subject": "Signed licence (Acme / Beta)",
        "message_id": "<20200414.1030@acme.example>",
        "attachments": ["licence.pdf", "side letter.docx", "broken.pdf", "logo.png"],
    }
    assert (mail.part, mail.parent_index) == ("", None)

    assert (pdf.format, pdf.title, pdf.part, pdf.parent_index) == ("pdf", "licence", "attachment:licence.pdf", 0)
    assert pdf.text == "LICENCE AGREEMENT\nThe Licensor grants a licence." and pdf.metadata == {"pages": 1}
    assert (side_letter.format, side_letter.part, side_letter.parent_index) == (
        "docx", "attachment:side letter.docx", 0)
    assert side_letter.text == "# SIDE LETTER\nThe fee is waived."
    assert {d.source_path for d in result.documents} == {str(path)}

    broken, logo = result.warnings
    assert broken.startswith(f"{path}: attachment 'broken.pdf': corrupt or unreadable PDF")
    assert broken.endswith("; skipped")
    assert logo.startswith(f"{path}: attachment 'logo.png': unsupported file type '.png'")


def test_html_only_body_is_converted(tmp_path: Path) -> None:
    message = _message()
    message.set_content(
        "<html><body><nav>Inbox</nav><h2>1. Fees</h2><p>Fees are due in&nbsp;30 days.</p></body></html>",
        subtype="html",
    )
    [mail] = load_path(_write(tmp_path / "fees.eml", message)).documents
    assert mail.text.endswith("Subject: Signed licence (Acme / Beta)\n\n## 1. Fees\n\nFees are due in 30 days.")


def test_legacy_charset_body_and_encoded_headers(tmp_path: Path) -> None:
    message = _message(subject="Übergabe der Räume")
    message.set_content("Die Übergabe erfolgt am 1. März – Kosten 5 €.", charset="cp1252")
    [mail] = load_path(_write(tmp_path / "de.eml", message)).documents
    assert mail.title == "Übergabe der Räume"
    assert mail.text.endswith("Subject: Übergabe der Räume\n\nDie Übergabe erfolgt am 1. März – Kosten 5 €.")


def test_nested_email_attachment_keeps_its_own_attachment(tmp_path: Path) -> None:
    inner = _message(subject="Draft NDA")
    inner.set_content("Draft attached.")
    inner.add_attachment(b"1. Confidentiality.\nThe Recipient shall keep it secret.\n", maintype="text",
                         subtype="plain", filename="nda.txt")
    outer = _message(subject="Fwd: Draft NDA")
    outer.set_content("See below.")
    outer.add_attachment(inner)  # message/rfc822, no file name
    path = _write(tmp_path / "fwd.eml", outer)
    result = load_path(path)
    assert result.warnings == []
    mail, forwarded, nda = result.documents
    assert (forwarded.format, forwarded.title, forwarded.part, forwarded.parent_index) == (
        "eml", "Draft NDA", "attachment:attachment-1.eml", 0)
    assert (nda.title, nda.part, nda.parent_index) == ("nda", "attachment:attachment-1.eml/attachment:nda.txt", 1)
    assert nda.text == "1. Confidentiality.\nThe Recipient shall keep it secret.\n"
    assert mail.metadata["attachments"] == ["attachment-1.eml"]


def test_broken_base64_and_duplicate_names(tmp_path: Path) -> None:
    message = _message()
    message.set_content(BODY)
    message.add_attachment(b"Clause one.\n", maintype="text", subtype="plain", filename="notes.txt")
    message.add_attachment(b"Clause two.\n", maintype="text", subtype="plain", filename="notes.txt")
    message.add_attachment(b"Clause three.\n", maintype="text", subtype="plain", filename="bad.txt")
    raw = message.as_bytes()
    assert b"Q2xhdXNlIHRocmVlLgo=" in raw
    path = tmp_path / "dup.eml"
    path.write_bytes(raw.replace(b"Q2xhdXNlIHRocmVlLgo=", b"Q2xhd"))  # 5 base64 characters cannot decode
    result = load_path(path)
    assert [d.part for d in result.documents[1:]] == ["attachment:notes.txt", "attachment:notes (2).txt"]
    assert [d.text for d in result.documents[1:]] == ["Clause one.\n", "Clause two.\n"]
    assert result.warnings == [f"{path}: attachment 'bad.txt': broken base64 encoding; skipped"]


def test_attachment_without_extension_gets_one_from_its_content_type(tmp_path: Path) -> None:
    message = _message()
    message.set_content(BODY)
    message.add_attachment(_pdf("Vertrag"), maintype="application", subtype="pdf", filename="Vertrag")
    message.add_attachment(b"No name at all.", maintype="text", subtype="plain")
    result = load_path(_write(tmp_path / "noext.eml", message))
    assert [(d.part, d.text) for d in result.documents[1:]] == [
        ("attachment:Vertrag.pdf", "Vertrag"), ("attachment:attachment-2.txt", "No name at all.")]


def test_not_an_email(tmp_path: Path) -> None:
    (tmp_path / "plain.eml").write_text("just some words\nand more words\n")
    with pytest.raises(IngestError, match="not an e-mail message"):
        load_path(tmp_path / "plain.eml")
    (tmp_path / "binary.eml").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(IngestError, match="binary data, not text"):
        load_path(tmp_path / "binary.eml")
