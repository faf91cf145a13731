"""Benchmark corpora from CUAD contracts: text files, copies made distinct, PDFs rendered with fpdf2.

Only the benchmarks use this; the package never reads ../shared.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHARS_PER_PAGE = 3000  # a "page" of a text file, so text and PDF figures read in the same unit

# Typographic characters Helvetica (a core PDF font, Latin-1 only) cannot draw, mapped to ASCII;
# anything else outside Latin-1 becomes "?".
_TO_ASCII = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
    "\u2022": "*", "\u2026": "...", "\u00a0": " ", "\t": "    ",
})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Contract:
    id: str
    title: str
    text: str


def read_contracts(path: Path, limit: int | None = None) -> list[Contract]:
    """The first `limit` contracts (all when None) of a CUAD contracts JSONL(.gz) file."""
    opener = gzip.open if str(path).endswith(".gz") else open
    out: list[Contract] = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if limit is not None and len(out) >= limit:
                break
            row = json.loads(line)
            out.append(Contract(id=row.get("id", str(len(out))), title=row.get("title", ""),
                                text=row["text"]))
    return out


def spread(items: list, n: int) -> list:
    """n items evenly spaced over the list (all of them when n >= len): a sample across the corpus."""
    if n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def text_pages(n_chars: int) -> float:
    return n_chars / CHARS_PER_PAGE


def write_texts(contracts: list[Contract], folder: Path, copies: int = 0) -> int:
    """One .txt per contract (copies=0), or `copies` files per contract, each with its own header line
    so no two files are exact duplicates. Returns the characters written."""
    folder.mkdir(parents=True, exist_ok=True)
    n_chars = 0
    for i, c in enumerate(contracts):
        for k in range(max(copies, 1)):
            header = f"Benchmark copy {k + 1} of {copies} of contract {c.id}\n\n"
            text = c.text if copies == 0 else header + c.text
            name = f"{i:04d}.txt" if copies == 0 else f"{i:04d}-{k + 1:02d}.txt"
            (folder / name).write_text(text, encoding="utf-8")
            n_chars += len(text)
    return n_chars


def iter_files(folder: Path, suffix: str) -> Iterator[Path]:
    return iter(sorted(folder.glob(f"*{suffix}")))


def pdf_safe(text: str) -> str:
    """Text that Helvetica can encode: typographic characters to ASCII, the rest outside Latin-1 to '?'."""
    text = _CONTROL.sub(" ", text.translate(_TO_ASCII))
    return text.encode("latin-1", "replace").decode("latin-1")


def render_pdf(text: str, path: Path) -> int:
    """Render text as a Letter-size PDF in 10 pt Helvetica with fpdf2; returns its number of pages."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="letter")
    pdf.set_margins(54, 54, 54)
    pdf.set_auto_page_break(True, margin=54)
    pdf.set_font("Helvetica", size=10)
    pdf.add_page()
    pdf.multi_cell(0, 12, pdf_safe(text))
    pdf.output(str(path))
    return pdf.page_no()


def render_pdfs(contracts: list[Contract], folder: Path) -> int:
    """One PDF per contract; returns the total number of pages."""
    folder.mkdir(parents=True, exist_ok=True)
    return sum(render_pdf(c.text, folder / f"{i:04d}.pdf") for i, c in enumerate(contracts))
