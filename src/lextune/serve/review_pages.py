"""The review screen's HTML: plain string templates, every value escaped, CSS and JS inline (works offline).

Pages carry a Content-Security-Policy that allows only their own inline style and their nonce'd script,
forms posting back to this origin, and no framing (keyboard shortcuts must not be clickjacked).
"""

from __future__ import annotations

import secrets
from html import escape
from typing import Any

from fastapi.responses import HTMLResponse

from lextune.serve.review_auth import Viewer

CSS = """
:root{--ink:#1d2430;--muted:#5b6576;--line:#d9dee7;--bg:#f5f6f8;--card:#fff;--accent:#1f4e8c;
--ok:#1c7c43;--warn:#9a6400;--bad:#b3261e;--mark:#ffe27a}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
header{display:flex;align-items:center;gap:24px;padding:10px 24px;background:#17263c;color:#fff}
header .brand{font-weight:700;letter-spacing:.02em}
header nav a{color:#cfd9ea;text-decoration:none;margin-right:16px}
header nav a.on{color:#fff;border-bottom:2px solid #fff}
header .who{margin-left:auto;color:#cfd9ea;font-size:13px}
header form{display:inline}
header button{background:none;border:1px solid #5d7396;color:#cfd9ea;border-radius:4px;padding:2px 8px;cursor:pointer}
main{max-width:1200px;margin:0 auto;padding:20px 24px}
h1{font-size:20px;margin:0 0 12px}
h2{font-size:16px;margin:24px 0 8px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px;margin-bottom:16px}
table{width:100%;border-collapse:collapse;background:var(--card)}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top;font-size:14px}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);background:#eef1f5}
tr.sel td{background:#e4edfb}
tr.row:hover td{background:#f0f4fb;cursor:pointer}
a{color:var(--accent)}
.muted{color:var(--muted)}
.small{font-size:12px}
.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-end}
.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
input,select,textarea{font:inherit;padding:5px 8px;border:1px solid var(--line);border-radius:4px;background:#fff}
button,.btn{font:inherit;padding:6px 14px;border-radius:5px;border:1px solid var(--line);background:#fff;cursor:pointer}
.btn-primary{background:var(--accent);border-color:var(--accent);color:#fff}
.b-accept{background:var(--ok);border-color:var(--ok);color:#fff}
.b-correct{background:var(--warn);border-color:var(--warn);color:#fff}
.b-reject{background:var(--bad);border-color:var(--bad);color:#fff}
kbd{font:12px ui-monospace,monospace;border:1px solid #b9c0cc;border-bottom-width:2px;border-radius:3px;padding:0 4px;background:#fafbfc;color:var(--ink)}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e8ecf2;color:var(--ink)}
.s-pending{background:#e8ecf2}.s-accepted,.s-passed{background:#d8f0e1;color:var(--ok)}
.s-corrected{background:#fbeccd;color:var(--warn)}.s-rejected,.s-failed{background:#f9dcd9;color:var(--bad)}
.conf{display:inline-block;width:60px;height:6px;background:#e3e7ee;border-radius:3px;vertical-align:middle;margin-right:6px}
.conf i{display:block;height:6px;border-radius:3px;background:var(--accent)}
.grid{display:grid;grid-template-columns:3fr 2fr;gap:16px}
.source{white-space:pre-wrap;font:15px/1.65 Georgia,"Times New Roman",serif;max-height:60vh;overflow:auto}
mark{background:var(--mark);padding:1px 0;border-radius:2px;box-shadow:0 0 0 2px var(--mark)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:0}
dt{color:var(--muted);font-size:13px}dd{margin:0}
.output{white-space:pre-wrap;background:#f7f8fa;border:1px solid var(--line);border-radius:6px;padding:10px}
.actions{display:flex;gap:10px;flex-wrap:wrap;margin-top:12px}
.actions form{margin:0}
#edit{display:none;margin-top:12px}
#edit.open{display:block}
#edit textarea{width:100%;min-height:110px}
.flash{padding:8px 12px;border-radius:6px;background:#d8f0e1;color:var(--ok);margin-bottom:12px}
.error{padding:8px 12px;border-radius:6px;background:#f9dcd9;color:var(--bad);margin-bottom:12px}
.hint{font-size:12px;color:var(--muted);margin-top:8px}
.login{max-width:420px;margin:80px auto}
.login input{width:100%;margin:8px 0 12px}
.num{font-variant-numeric:tabular-nums}
.nowrap{white-space:nowrap}
"""


def e(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def page(title: str, body: str, viewer: Viewer | None, active: str = "", script: str = "",
         status: int = 200) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    nav = ""
    if viewer is not None:
        p = viewer.principal
        links = "".join(f'<a href="{href}" class="{"on" if key == active else ""}">{label}</a>'
                        for key, href, label in [("queue", "/review", "Queue"),
                                                 ("dashboard", "/review/dashboard", "Dashboard")])
        logout = "" if viewer.via != "session" else (
            '<form method="post" action="/review/logout"><button type="submit">Sign out</button></form>')
        nav = (f'<nav>{links}</nav><span class="who">{e(p.user)} · {e(p.role)} · tenant {e(p.tenant)}</span>'
               f"{logout}")
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)} · lextune review</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><style>{CSS}</style></head>'
            f'<body><header><span class="brand">lextune review</span>{nav}</header><main>{body}</main>'
            + (f'<script nonce="{nonce}">{script}</script>' if script else "") + "</body></html>")
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; img-src 'self' data:; "
           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    return HTMLResponse(html, status_code=status, headers={
        "Content-Security-Policy": csp, "X-Frame-Options": "DENY", "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"})


def pill(status: str) -> str:
    return f'<span class="pill s-{e(status)}">{e(status)}</span>'


def confidence(value: float | None) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    pct = max(0.0, min(1.0, float(value))) * 100
    return f'<span class="conf"><i style="width:{pct:.0f}%"></i></span><span class="num">{pct:.0f}%</span>'


def when(value: Any) -> str:
    return e(value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else value)


def highlighted(source: str, start: int | None, end: int | None) -> str:
    """The passage, escaped, with [start, end) in <mark> when it is a valid span of it."""
    if start is None or end is None or not (0 <= start < end <= len(source)):
        return e(source)
    return f'{e(source[:start])}<mark id="span">{e(source[start:end])}</mark>{e(source[end:])}'


QUEUE_JS = """
const rows=[...document.querySelectorAll('tr.row')];let i=rows.findIndex(r=>r.classList.contains('sel'));
function sel(n){if(!rows.length)return;i=Math.max(0,Math.min(rows.length-1,n));
rows.forEach((r,k)=>r.classList.toggle('sel',k===i));rows[i].scrollIntoView({block:'nearest'});}
rows.forEach((r,k)=>r.addEventListener('click',()=>{location.href=r.dataset.href;}));
document.addEventListener('keydown',ev=>{
 if(ev.target.closest('input,select,textarea')||ev.ctrlKey||ev.metaKey||ev.altKey)return;
 if(ev.key==='j'){sel(i+1);ev.preventDefault();}
 else if(ev.key==='k'){sel(i<0?0:i-1);ev.preventDefault();}
 else if((ev.key==='Enter'||ev.key==='o')&&i>=0){location.href=rows[i].dataset.href;ev.preventDefault();}
});
"""

ITEM_JS = """
const m=document.getElementById('span');if(m)m.scrollIntoView({block:'center'});
const body=document.getElementById('item').dataset;const edit=document.getElementById('edit');
function go(u){if(u)location.href=u;}
function submit(id){const f=document.getElementById(id);if(f)f.submit();}
function openEdit(){if(!edit)return;edit.classList.add('open');const t=edit.querySelector('textarea');
t.focus();t.setSelectionRange(t.value.length,t.value.length);}
if(edit){const t=edit.querySelector('textarea');t.addEventListener('keydown',ev=>{
 if(ev.key==='Enter'&&!ev.shiftKey){ev.preventDefault();if(t.value.trim())edit.submit();}
 else if(ev.key==='Escape'){ev.preventDefault();edit.classList.remove('open');t.blur();}});
 const b=document.getElementById('open-edit');if(b)b.addEventListener('click',openEdit);}
document.addEventListener('keydown',ev=>{
 if(ev.target.closest('input,select,textarea')||ev.ctrlKey||ev.metaKey||ev.altKey)return;
 const k=ev.key;
 if(k==='j'){go(body.next);}else if(k==='k'){go(body.prev);}else if(k==='u'){go(body.queue);}
 else if(k==='a'){submit('f-accept');}else if(k==='r'){submit('f-reject');}
 else if(k==='c'){openEdit();}else return;
 ev.preventDefault();
});
"""
