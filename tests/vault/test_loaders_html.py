"""HTML loading: main text without page furniture, headings as Markdown lines, lists and tables as lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from lextune.core.errors import IngestError
from lextune.vault.chunker import is_heading
from lextune.vault.loaders import load_path

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Licence  Agreement | Acme Legal</title>
<style>body { font: 12px serif; }</style><script>var nav = "<h1>not text</h1>";</script></head>
<body>
<header><a href="/">Home</a> <a href="/contracts">Contracts</a></header>
<nav><ul><li>Menu: Dashboard</li><li>Menu: Settings</li></ul></nav>
<div id="content">
  <h1>LICENCE AGREEMENT</h1>
  <p>This Licence Agreement is made
     between <b>Acme&nbsp;Ltd</b> (the "Licensor")<br>and Beta GmbH (the "Licensee").</p>
  <!-- drafting note: check the parties -->
  <h2>ARTICLE 12 INDEMNIFICATION</h2>
  <h3>12.3 Indemnification</h3>
  <p>The Licensee shall indemnify the Licensor against:</p>
  <ul><li>claims of third parties;</li><li>fines, <p>penalties</p></li>
      <li>costs<ol><li>(a) legal fees</li></ol></li></ul>
  <h4>12.3.1 Procedure</h4>
  <table><tr><th>Claim</th><th>Notice period</th></tr><tr><td>Third party</td><td>10 days</td></tr>
         <tr><td> </td><td></td></tr></table>
  <form action="/search"><input name="q"><button>Search</button> Search contracts</form>
  <div hidden>Hidden draft text</div>
</div>
<aside>Related: other licences</aside>
<footer>© 2024 Acme Legal · Privacy</footer>
<script>track();</script>
</body></html>
"""

EXPECTED = """# LICENCE AGREEMENT

This Licence Agreement is made between Acme Ltd (the "Licensor")
and Beta GmbH (the "Licensee").

## ARTICLE 12 INDEMNIFICATION

### 12.3 Indemnification

The Licensee shall indemnify the Licensor against:

- claims of third parties;
- fines,
penalties
- costs
  (a) legal fees

#### 12.3.1 Procedure

Claim | Notice period
Third party | 10 days"""


def _load(tmp_path: Path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path, load_path(path)


def test_page_noise_dropped_and_structure_kept(tmp_path: Path) -> None:
    path, result = _load(tmp_path, "licence.html", PAGE)
    assert result.warnings == []
    [doc] = result.documents
    assert (doc.format, doc.title, doc.source_path) == ("html", "Licence Agreement | Acme Legal", str(path))
    assert doc.text == EXPECTED
    assert doc.metadata == {"encoding": "utf-8"}
    # The legal-structure chunker sees every heading line as a heading.
    headings = [line for line in doc.text.split("\n") if line.startswith("#")]
    assert len(headings) == 4 and all(is_heading(line) for line in headings)


def test_main_element_is_preferred(tmp_path: Path) -> None:
    page = (
        "<html><body><div class='sidebar'><p>Latest news: firm wins award</p></div>"
        "<main><header><h1>Opinion 2024/17</h1></header><p>The court held that the clause is void.</p></main>"
        "<div>Cookie banner: accept all</div></body></html>"
    )
    _, result = _load(tmp_path, "opinion.htm", page)
    [doc] = result.documents
    # <header> inside <main> is the article's own header, so its heading stays.
    assert doc.text == "# Opinion 2024/17\n\nThe court held that the clause is void."
    assert doc.title == "Opinion 2024/17"  # no <title>: the first <h1>


def test_articles_are_used_when_there_is_no_main(tmp_path: Path) -> None:
    page = (
        "<body><nav>Home</nav><div>Share this page</div><article><h2>Clause A</h2><p>Text A.</p></article>"
        "<article><h2>Clause B</h2><p>Text B.</p></article></body>"
    )
    [doc] = _load(tmp_path, "clauses.html", page)[1].documents
    assert doc.text == "## Clause A\n\nText A.\n\n## Clause B\n\nText B."
    assert doc.title == "clauses"  # neither <title> nor <h1>: the file name


def test_form_wrapping_the_whole_page_is_kept(tmp_path: Path) -> None:
    # ASP.NET pages put all their content inside one <form>; only small forms are furniture.
    page = "<html><body><form id='aspnetForm'><h1>TERMS</h1><p>The terms apply.</p></form></body></html>"
    assert _load(tmp_path, "terms.html", page)[1].documents[0].text == "# TERMS\n\nThe terms apply."


@pytest.mark.parametrize(
    ("declaration", "codec", "encoding"),
    [
        ('<meta charset="windows-1252">', "cp1252", "cp1252"),
        ('<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">', "cp1252", "cp1252"),
        ('<meta charset="Shift_JIS">', "shift_jis", "shift_jis"),
        ("", "cp1252", "cp1252"),  # no declaration: detected
    ],
)
def test_declared_and_detected_charsets(tmp_path: Path, declaration: str, codec: str, encoding: str) -> None:
    body = "第一条 目的" if codec == "shift_jis" else "Die Übergabe erfolgt am 1. März – Kosten 5 €."
    page = f"<html><head>{declaration}<title>T</title></head><body><p>{body}</p></body></html>"
    _, result = _load(tmp_path, "page.html", page.encode(codec))
    [doc] = result.documents
    assert (doc.text, doc.metadata["encoding"]) == (body, encoding)


def test_xml_declaration_and_wrongly_declared_charset(tmp_path: Path) -> None:
    page = '<?xml version="1.0" encoding="iso-8859-1"?><html><head><meta charset="iso-8859-1"></head>' \
           "<body><p>Straße</p></body></html>"
    # Saved as UTF-8 under a Latin-1 label: valid UTF-8 is never an accident, so it wins over the label.
    [doc] = _load(tmp_path, "x.html", page)[1].documents
    assert (doc.text, doc.metadata["encoding"]) == ("Straße", "utf-8")


def test_declared_charset_that_does_not_fit_is_warned(tmp_path: Path) -> None:
    page = '<meta charset="shift_jis"><p>Preis: 5 \x80 netto, Übergabe</p>'.encode("latin-1")
    path, result = _load(tmp_path, "y.html", page)
    assert result.documents[0].text == "Preis: 5 € netto, Übergabe"
    [warning] = result.warnings
    assert warning.startswith(f"{path}: declared charset shift_jis does not fit byte ")
    assert warning.endswith("; detected instead")


def test_page_without_text(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text("<html><head><title>Nothing</title></head><body><nav>Menu</nav><script>x()</script></body></html>")
    with pytest.raises(IngestError) as info:
        load_path(path)
    assert info.value.reason == "empty document"
