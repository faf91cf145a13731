"""PDF loading with real files from fpdf2: text pages, scanned pages through Tesseract, encrypted, corrupt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fpdf import FPDF
from fpdf.enums import EncryptionMethod
from PIL import Image, ImageDraw, ImageFont

from lextune.core.errors import IngestError
from lextune.vault.formats import pdf as pdf_format
from lextune.vault.loaders import load_path

SCANNED_LINES = ["INDEMNIFICATION AGREEMENT", "The Licensee shall indemnify", "the Licensor against all claims."]
FONT_FILES = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
              Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")]
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="Tesseract is not installed (apt-get install tesseract-ocr)")


def _scan_image() -> Image.Image:
    """A page image (150 dpi, US Letter) of typed text, as a scanner would produce."""
    font_file = next((f for f in FONT_FILES if f.exists()), None)
    font = ImageFont.truetype(str(font_file), 40) if font_file else ImageFont.load_default(size=40)
    image = Image.new("L", (1275, 1650), 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(SCANNED_LINES):
        draw.text((100, 150 + number * 70), line, fill=0, font=font)
    return image


def _pdf(path: Path, pages: list[str | None], owner: str = "", user: str | None = None) -> Path:
    """One page per entry: text typed with a text layer, or None for a scanned image without one."""
    pdf = FPDF(unit="pt", format="letter")
    if owner:
        pdf.set_encryption(owner_password=owner, user_password=user, encryption_method=EncryptionMethod.RC4)
    pdf.set_font("Helvetica", size=11)
    for page in pages:
        pdf.add_page()
        if page is None:
            pdf.image(_scan_image(), x=0, y=0, w=612, h=792)
        else:
            pdf.multi_cell(0, 14, page)
    pdf.output(str(path))
    return path


def _error(path: Path) -> str:
    with pytest.raises(IngestError) as info:
        load_path(path)
    assert info.value.path == str(path)
    return info.value.reason


def test_text_pages(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "lease.pdf", ["ARTICLE I TERM", "The lease runs for five years.\nIt may be renewed."])
    result = load_path(path)
    [doc] = result.documents
    assert doc.text == "ARTICLE I TERM\n\nThe lease runs for five years.\nIt may be renewed."
    assert (doc.format, doc.title, doc.metadata, result.warnings) == ("pdf", "lease", {"pages": 2}, [])


def test_hyphen_at_a_line_break_stays_a_hyphen(tmp_path: Path) -> None:
    # PDFium joins a line ending in "-" with the next and reports that hyphen as U+FFFE.
    path = _pdf(tmp_path / "hyphens.pdf", ["A non-\nexclusive and royalty-\nfree licence, world-\nwide."])
    assert load_path(path).documents[0].text == "A non-exclusive and royalty-free licence, world-wide."


@needs_tesseract
def test_scanned_page_is_ocred(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "scan.pdf", [None, "Page two has a text layer."])
    result = load_path(path)
    [doc] = result.documents
    assert result.warnings == []
    assert doc.metadata == {"pages": 2, "ocr_pages": [1]}
    words = doc.text.split()
    for word in ("INDEMNIFICATION", "AGREEMENT", "Licensee", "indemnify", "Licensor", "claims."):
        assert word in words
    assert doc.text.endswith("\n\nPage two has a text layer.")


def test_scanned_pdf_without_tesseract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_format.shutil, "which", lambda name: None)
    scanned = _pdf(tmp_path / "scan.pdf", [None])
    assert _error(scanned) == (
        "scanned, no text layer (a PDF of page images); install Tesseract to OCR it (Debian/Ubuntu: apt-get install tesseract-ocr)"
    )
    partly = _pdf(tmp_path / "partly.pdf", ["Page one is typed.", None, "Page three is typed."])
    result = load_path(partly)
    assert result.documents[0].text == "Page one is typed.\n\nPage three is typed."
    assert result.documents[0].metadata == {"pages": 3}
    assert result.warnings == [
        (
            f"{partly}: page 2: scanned page without a text layer; install Tesseract to OCR it "
            "(Debian/Ubuntu: apt-get install tesseract-ocr); page skipped"
        )
    ]


def test_blank_pages_are_not_scans(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.add_page()
    pdf.output(str(tmp_path / "blank.pdf"))
    assert _error(tmp_path / "blank.pdf") == "no extractable text (2 page(s) without text or images)"


def test_encrypted_pdf(tmp_path: Path) -> None:
    locked = _pdf(tmp_path / "locked.pdf", ["Secret terms."], owner="owner", user="secret")
    assert _error(locked) == "encrypted PDF: a password is required; save an unprotected copy"
    # An empty user password only restricts editing or printing: the text can be read.
    restricted = _pdf(tmp_path / "restricted.pdf", ["Secret terms."], owner="owner", user="")
    assert load_path(restricted).documents[0].text == "Secret terms."


def test_corrupt_pdf(tmp_path: Path) -> None:
    whole = _pdf(tmp_path / "whole.pdf", ["Some terms."]).read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(whole[:300])
    assert _error(truncated).startswith("corrupt or unreadable PDF: ")
    renamed = tmp_path / "renamed.pdf"
    renamed.write_bytes(b"PK\x03\x04 a zip archive with a .pdf name")
    assert _error(renamed).startswith("corrupt or unreadable PDF: ")
