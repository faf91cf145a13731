"""HTML pages: the main text, with headings written as Markdown lines the legal chunker recognises.

Navigation, scripts, forms and other page furniture are dropped; <main> or <article> is preferred when
the page has one. Paragraphs are separated by blank lines, list items and table rows ("a | b") are
lines of their own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lextune.core.errors import IngestError
from lextune.core.records import LoadedDocument, LoadResult
from lextune.vault.formats.common import require_text, stem
from lextune.vault.formats.encoding import charset_codec, decode_text

# Page furniture and non-text content, dropped wherever it is.
_NOISE = ("script", "style", "noscript", "template", "nav", "aside", "iframe", "svg", "math", "canvas",
          "object", "embed", "button", "select", "textarea", "input", "label", "dialog")
# Page-level furniture: dropped only when no <main>/<article> was found (an article's header holds its title).
_PAGE_FURNITURE = ("header", "footer")
_HIDDEN = ".//*[@hidden or @aria-hidden='true' or @role='navigation' or @role='banner' or @role='contentinfo']"
_BLOCKS = frozenset((
    "address", "article", "aside", "blockquote", "body", "center", "dd", "details", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup", "hr", "html", "legend", "main",
    "nav", "p", "section", "summary", "caption", "tbody", "thead", "tfoot",
))
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_CELLS = ("td", "th")
_BREAK = "\x00"  # stands for <br> until whitespace is collapsed; decoded HTML never contains NUL
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")
_BLANK_RUNS = re.compile(r"\n{3,}")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def load_html(path: Path, raw: bytes) -> LoadResult:
    """One document; the title comes from <title>, else the first <h1>, else the file name."""
    decoded = decode_text(path, raw, declared=_declared_charset(raw))
    title, text = html_to_text(path, decoded.text)
    text = require_text(path, text)
    doc = LoadedDocument(title=title or stem(path), text=text, format="html", source_path=str(path),
                         metadata=decoded.metadata())
    return LoadResult(documents=[doc], warnings=decoded.warnings)


def html_to_text(path: Path | str, markup: str) -> tuple[str, str]:
    """(title, main text) of an HTML string; the title is "" when the page names none."""
    import lxml.html  # imported on use: only HTML and e-mail ingests pay for it
    from lxml import etree

    # lxml refuses str input that carries an XML encoding declaration (the text is decoded already), and
    # control characters, which carry no text in HTML anyway.
    markup = _CONTROL_CHARS.sub("", _XML_DECLARATION.sub("", markup, count=1))
    if not markup.strip():
        return "", ""
    try:
        page = lxml.html.document_fromstring(markup)
    except etree.ParserError:  # lxml's word for a document with no elements at all
        return "", ""
    except ValueError as exc:
        raise IngestError(path, f"unreadable HTML: {exc}") from exc
    title = _title(page)
    writer = _Writer()
    for root in _content_roots(page):
        writer.walk(root)
        writer.flush()
    return title, writer.render()


def _declared_charset(raw: bytes) -> str | None:
    """The <meta> charset in the first 4 KB, as a Python codec name (None if absent or unknown)."""
    match = _META_CHARSET.search(raw[:4096])
    return charset_codec(match.group(1).decode("ascii")) if match else None


def _title(page: Any) -> str:
    for element in (page.find(".//title"), page.find(".//h1")):
        if element is not None:
            text = " ".join(element.text_content().split())
            if text:
                return text
    return ""


def _content_roots(page: Any) -> list[Any]:
    """<main> if the page has one, else its outermost <article>s, else <body>; stripped of furniture."""
    mains = page.xpath("//main | //*[@role='main']")
    articles = page.xpath("//article[not(ancestor::article)]")
    roots = mains[:1] or articles
    page_level = not roots
    if page_level:
        body = page.find("body")
        roots = [body if body is not None else page]
    for root in roots:
        drop = list(root.iter(*_NOISE)) + root.xpath(_HIDDEN)
        if page_level:
            drop += root.iter(*_PAGE_FURNITURE)
        for element in drop:
            element.drop_tree()
        # Forms are input furniture, except on pages (ASP.NET) that wrap all their content in one form.
        forms = list(root.iter("form"))
        total = len(root.text_content()) if forms else 0
        for form in forms:
            if len(form.text_content()) < total / 2:
                form.drop_tree()
    return roots


class _Writer:
    """Walks an element tree, collecting blocks of text: paragraphs, headings, list items, table rows."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, int]] = []  # (text, group): consecutive lines of one group, no blank
        self.inline: list[str] = []
        self.lists: list[str] = []  # open <ul>/<ol> tags, innermost last
        self.prefix = ""  # the list-item marker that the next flushed line starts with
        self.group = 0  # > 0 while inside a list or table: its lines stay together
        self.next_group = 0
        self.in_cell = 0
        self.in_pre = 0
        self.in_item = 0

    def walk(self, element: Any) -> None:
        tag = element.tag
        if not isinstance(tag, str):  # comment or processing instruction: only its tail is text
            self._add(element.tail)
            return
        tag = tag.lower()
        if tag == "br":
            self.inline.append(" " if self.in_cell else _BREAK)
        elif self.in_cell:  # inside a table cell everything is inline text (nested tables included)
            self._children(element, separator=" ")
        elif tag in _HEADINGS:
            self.flush()
            self._children(element)
            self.flush(heading=_HEADINGS[tag])
        elif tag in ("ul", "ol"):
            self._container(element, lambda: self._list(element, tag))
        elif tag == "li":
            self.flush()
            depth = max(len(self.lists), 1)
            self.prefix = "  " * (depth - 1) + ("- " if not self.lists or self.lists[-1] == "ul" else "")
            self.in_item += 1
            self._children(element)
            self.in_item -= 1
            self.flush()
        elif tag == "table":
            self._container(element, lambda: self._children(element))
        elif tag == "tr":
            self.flush()
            self._row(element)
        elif tag == "pre":
            self.flush()
            self.in_pre += 1
            self._children(element)
            self.in_pre -= 1
            self.flush(preserve=True)
        elif tag in _BLOCKS:
            if self.in_item:  # a <p> inside a list item breaks the line, not the item
                self.inline.append(_BREAK)
                self._children(element)
                self.inline.append(_BREAK)
            else:
                self.flush()
                self._children(element)
                self.flush()
        else:
            self._children(element)
        self._add(element.tail)

    def _children(self, element: Any, separator: str = "") -> None:
        self._add(element.text)
        for child in element:
            self.walk(child)
            if separator:
                self.inline.append(separator)

    def _container(self, element: Any, body: Any) -> None:
        self.flush()
        outer = self.group
        if not outer:
            self.next_group += 1
            self.group = self.next_group
        body()
        self.flush()
        self.group = outer

    def _list(self, element: Any, tag: str) -> None:
        self.lists.append(tag)
        self._children(element)
        self.lists.pop()

    def _row(self, row: Any) -> None:
        cells: list[str] = []
        for cell in row.iter(*_CELLS):
            if cell.getparent() is not row:  # a nested table's cells are read with their outer cell
                continue
            self.in_cell += 1
            self._children(cell, separator=" ")
            self.in_cell -= 1
            cells.append(" ".join("".join(self.inline).split()))
            self.inline.clear()
        if any(cells):
            self.blocks.append((" | ".join(cells), self.group))

    def _add(self, text: str | None) -> None:
        if text:
            self.inline.append(text)

    def flush(self, heading: int = 0, preserve: bool = False) -> None:
        raw = "".join(self.inline)
        self.inline.clear()
        prefix, self.prefix = self.prefix, ""
        if preserve:
            text = raw.replace(_BREAK, "\n").strip("\n").rstrip()
        elif heading:
            text = " ".join(raw.replace(_BREAK, " ").split())
            prefix = "#" * heading + " "
        else:
            lines = (" ".join(part.split()) for part in raw.split(_BREAK))
            text = _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
        if text:
            self.blocks.append((prefix + text, 0 if heading else self.group))

    def render(self) -> str:
        parts: list[str] = []
        previous = 0
        for text, group in self.blocks:
            if parts:
                parts.append("\n" if group and group == previous else "\n\n")
            parts.append(text)
            previous = group
        return "".join(parts)
