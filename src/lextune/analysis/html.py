"""One self-contained HTML page (inline CSS, no scripts, no network) showing an analysis over its text.

Flags are listed first, each linking to the clause spans involved; the document follows with every clause
highlighted in its type's colour. All document text is escaped: a contract is data, never markup.
"""

from __future__ import annotations

from html import escape
from itertools import pairwise

from .records import Analysis

PALETTE = ["#ffe08a", "#a8e6cf", "#ffb3ba", "#bae1ff", "#d7b8f3", "#ffdfba", "#c9f2c7", "#f7c6e0",
           "#c6d8f7", "#e8e8a0", "#b8f0f0", "#f0c8a0"]
SEVERITY_COLOUR = {"high": "#c0392b", "medium": "#d68910", "low": "#2471a3"}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:60rem;color:#222;
line-height:1.45;padding:0 1rem}
h1{font-size:1.4rem;margin-bottom:.2rem}.meta{color:#666;font-size:.85rem}
.flag{border-left:4px solid;padding:.3rem .6rem;margin:.4rem 0;background:#fafafa}
.sev{font-weight:600;text-transform:uppercase;font-size:.75rem;margin-right:.4rem}
.rec{color:#444;font-size:.9rem}.legend span{display:inline-block;padding:0 .4rem;margin:.15rem;
border-radius:3px;font-size:.85rem}
.doc{white-space:pre-wrap;font-family:Georgia,serif;border:1px solid #ddd;padding:1rem;background:#fff}
mark{border-radius:2px;padding:0}mark.hit,span.hit{text-decoration:underline wavy #c0392b}
.tag{font-size:.7rem;font-family:system-ui,sans-serif;color:#555;vertical-align:super}
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
:target{outline:2px solid #c0392b}
"""


def _colours(analysis: Analysis) -> dict[str, str]:
    types = sorted({c.type for c in analysis.clauses})
    return {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(types)}


def _span_id(flag: int, k: int) -> str:
    return f"flag-{flag}-span-{k}"


def render_html(analysis: Analysis) -> str:
    """The analysis as one offline HTML page."""
    colours = _colours(analysis)
    head = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Analysis: {escape(analysis.document)}</title><style>{CSS}</style></head><body>")
    meta = (f"<p class='meta'>model {escape(analysis.model or '-')} &middot; playbook "
            f"{escape(analysis.playbook)} &middot; sha256 {analysis.sha256[:16]}&hellip; &middot; "
            f"{analysis.n_chars} characters &middot; {analysis.passages} passages</p>")
    parts = [head, f"<h1>{escape(analysis.document)}</h1>", meta,
             f"<h2>Summary</h2><p>{escape(analysis.summary)}</p>"]
    if analysis.model_summary:
        parts.append(f"<p><em>Model summary:</em> {escape(analysis.model_summary)}</p>")
    parts.append(f"<h2>Flags ({len(analysis.flags)})</h2>")
    for n, flag in enumerate(analysis.flags):
        links = []
        for k, span in enumerate(flag.spans):
            target = f"clause-{span.clause}" if span.clause is not None else _span_id(n, k)
            links.append(f"<a href='#{target}'>chars {span.start}&ndash;{span.end}</a>")
        parts.append(
            f"<div class='flag' style='border-color:{SEVERITY_COLOUR[flag.severity]}'>"
            f"<span class='sev' style='color:{SEVERITY_COLOUR[flag.severity]}'>{flag.severity}</span>"
            f"{escape(flag.message)}" + (f" &middot; {' '.join(links)}" if links else "")
            + (f"<div class='rec'>{escape(flag.recommendation)}</div>" if flag.recommendation else "") + "</div>")
    if analysis.recommendations:
        parts.append("<h2>Recommendations</h2><ol>"
                     + "".join(f"<li>{escape(r)}</li>" for r in analysis.recommendations) + "</ol>")
    parts.append(_clause_table(analysis))
    parts.append("<h2>Document</h2><p class='legend'>"
                 + "".join(f"<span style='background:{c}'>{escape(t)}</span>" for t, c in colours.items())
                 + "<span class='hit'>playbook phrase</span></p>")
    parts.append(f"<div class='doc'>{_highlighted(analysis, colours)}</div>")
    if analysis.warnings:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(w)}</li>" for w in analysis.warnings) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _clause_table(analysis: Analysis) -> str:
    rows = []
    for i, c in enumerate(analysis.clauses):
        values = "; ".join(f"{escape(k)}: {escape(str(v.value))}" for k, v in c.extracted.items())
        rows.append(f"<tr><td><a href='#clause-{i}'>{escape(c.type)}</a></td><td>{c.start}&ndash;{c.end}</td>"
                    f"<td>{escape(c.source)}</td><td>{escape(c.section)}</td><td>{values}</td></tr>")
    return (f"<h2>Clauses ({len(analysis.clauses)})</h2><table><tr><th>type</th><th>chars</th><th>found by</th>"
            f"<th>section</th><th>values (rules)</th></tr>{''.join(rows)}</table>")


def _highlighted(analysis: Analysis, colours: dict[str, str]) -> str:
    """The text cut at every span boundary; each piece marked with the clause (and phrase hits) covering it."""
    text = analysis.text
    clauses = [(c.start, c.end, i) for i, c in enumerate(analysis.clauses)]
    hits = [(s.start, s.end, _span_id(n, k)) for n, f in enumerate(analysis.flags)
            for k, s in enumerate(f.spans) if s.clause is None]
    anchors: dict[int, list[str]] = {}
    for start, _, i in clauses:
        anchors.setdefault(start, []).append(f"clause-{i}")
    for start, _, ident in hits:
        anchors.setdefault(start, []).append(ident)
    cuts = sorted({0, len(text), *(s for s, _, _ in clauses + hits), *(e for _, e, _ in clauses + hits)})
    out = []
    for a, b in pairwise(cuts):
        out.extend(f"<a id='{ident}'></a>" for ident in anchors.get(a, []))
        for _, _, i in clauses:
            if analysis.clauses[i].start == a:
                out.append(f"<span class='tag'>[{escape(analysis.clauses[i].type)}]</span>")
        piece = escape(text[a:b])
        if any(s <= a and b <= e for s, e, _ in hits):
            piece = f"<span class='hit'>{piece}</span>"
        covering = [i for s, e, i in clauses if s <= a and b <= e]
        if covering:
            c = analysis.clauses[covering[-1]]
            piece = f"<mark style='background:{colours[c.type]}' title='{escape(c.type)}'>{piece}</mark>"
        out.append(piece)
    return "".join(out)
