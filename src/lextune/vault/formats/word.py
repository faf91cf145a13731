"""DOCX: paragraphs (Heading N styles written as Markdown heading lines), then table rows "a | b"."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from lextune.core.errors import IngestError
from lextune.core.records import LoadedDocument, LoadResult
from lextune.vault.formats.common import require_text, stem

# Built-in style names are English in styles.xml whatever the Word language ("heading 1"); python-docx
# shows them as "Heading 1". "Title" counts as a top-level heading.
_HEADING_STYLE = re.compile(r"(?i)heading\s*([1-9])")


def load_docx(path: Path, raw: bytes) -> LoadResult:
    """One document; paragraphs in order, then every table row."""
    import docx  # imported on use: python-docx (lxml) is slow to import

    # python-docx surfaces zip, XML and package errors under many types; any of them means corrupt.
    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:
        raise IngestError(path, f"corrupt or unreadable DOCX: {exc or type(exc).__name__}") from exc
    levels = _heading_levels(document)
    lines: list[str] = []
    for paragraph in document.paragraphs:
        level = levels.get(paragraph._p.style)  # style id, read without python-docx's per-call style lookup
        text = paragraph.text
        if level and text.strip():
            lines.append("#" * level + " " + " ".join(text.split()))
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            cells: list[str] = []
            seen: set[int] = set()
            for cell in row.cells:
                # Merged cells are returned once per grid column; keep each underlying cell once.
                if id(cell._tc) not in seen:
                    seen.add(id(cell._tc))
                    cells.append(cell.text.strip())
            lines.append(" | ".join(cells))
    text = require_text(path, "\n".join(lines))
    doc = LoadedDocument(title=stem(path), text=text, format="docx", source_path=str(path))
    return LoadResult(documents=[doc])


def _heading_levels(document: Any) -> dict[str, int]:
    """Paragraph style id -> heading level (1-6) for the document's heading and title styles."""
    levels: dict[str, int] = {}
    for style in document.styles:
        name = style.name or ""
        match = _HEADING_STYLE.fullmatch(name.strip())
        if match:
            levels[style.style_id] = min(int(match.group(1)), 6)
        elif name.strip().lower() == "title":
            levels[style.style_id] = 1
    return levels
