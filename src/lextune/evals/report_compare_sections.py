"""The page-level sections of the comparison report: verdict, how to read it, summary, forgetting, provenance.

The page leads with the gate's verdict in plain words because most readers stop there; the summary
table then gives one headline row per task (the per-task sections are in
lextune.evals.report_compare_task), and the forgetting panel and provenance close the page.
"""

from __future__ import annotations

from lextune.evals.comparison import resolve_or_none
from lextune.evals.report_charts import finite_number as _num
from lextune.evals.report_compare_data import _best_baseline_text, _kl_stats, _mmlu_rows, reading
from lextune.evals.report_compare_format import (
    _anchor,
    _delta_cell,
    _e,
    _fmt,
    _fmt_delta,
    _fmt_p,
    _is_rate,
    _label,
    _pair,
    _value_cell,
)
from lextune.evals.report_compare_names import metric_help, metric_name
from lextune.evals.report_compare_plots import _kl_histogram


def _verdict_section(report: dict) -> str:
    verdict = report.get("verdict")
    b = _label(report, "b")
    if not verdict:
        return ('<div class="verdict fail"><h2>No verdict</h2><p>The promotion gate was not run on this '
                "comparison; read the tables below.</p></div>")
    passed = bool(verdict.get("passed"))
    checks = verdict.get("checks") or []
    missing = verdict.get("missing") or []
    required = [c for c in checks if c.get("required", True)]
    failed = [c for c in required if not c.get("passed")]
    if passed:
        head = f"Promote: {_e(b)} may replace {_e(_label(report, 'a'))}"
        why = f"It passed all {len(required)} required checks of the promotion gate."
    else:
        head = f"Do not promote {_e(b)}"
        reasons = [f"{len(failed)} of {len(required)} required checks failed"] if failed else []
        if missing:
            reasons.append(f"{len(missing)} required evaluation(s) were not run")
        why = "; ".join(reasons).capitalize() + "." if reasons else "The gate did not pass."
    items = []
    # Failed required checks first (the reasons), then the passed ones, then those for information.
    for c in sorted(checks, key=lambda c: 2 if not c.get("required", True) else 1 if c.get("passed") else 0):
        mark = ('<span class="ok">&#10003;</span>' if c.get("passed") else
                '<span class="bad">&#10007;</span>' if c.get("required", True) else
                '<span class="info">&#8211;</span>')
        note = "" if c.get("required", True) else ' <span class="info">(for information)</span>'
        items.append(f"<li>{mark} <b>{_e(c.get('name', ''))}</b>: {_e(c.get('detail', ''))}{note}</li>")
    items += [f'<li><span class="bad">&#10007;</span> not evaluated: {_e(m)}</li>' for m in missing]
    cls = "pass" if passed else "fail"
    return (f'<div class="verdict {cls}"><h2>{head}</h2><p>{_e(why)}</p><ul>{"".join(items)}</ul></div>')


def _how_to_read(report: dict, alpha: float) -> str:
    return (
        '<p class="note"><b>How to read this.</b> '
        f'<span class="a">A = {_e(_label(report, "a"))}</span> is the reference (the model in use, or the '
        "stock model); "
        f'<span class="b">B = {_e(_label(report, "b"))}</span> the candidate. Each score comes with its 95% '
        "confidence interval (CI): the range the score would likely fall in on another sample of documents "
        "of the same kind. Intervals are computed by resampling whole documents, because questions about the "
        "same contract are not independent. <i>Change</i> is B minus A, in percentage points (pts) for "
        "scores shown as percentages. The <i>p-value</i> is the chance of a change this large arising by "
        f"luck alone; below {alpha:g} the change is called <i>beyond chance</i>. A "
        '<span class="base">trivial baseline</span> is what a predictor with no understanding scores '
        "(e.g. always answering the most common label): a model should clearly beat it.</p>"
    )


def _summary_section(report: dict, tasks: list[dict], alpha: float) -> str:
    a, b = _e(_label(report, "a")), _e(_label(report, "b"))
    rows = []
    for t in tasks:
        key = str(t.get("headline"))
        va, vb = resolve_or_none(t.get("a"), key), resolve_or_none(t.get("b"), key)
        rate = _is_rate(key, va, vb)
        ci = (t.get("ci") or {}).get(key) or {}
        word, cls = reading(t, key, alpha)
        rows.append(
            f'<tr><td><a href="#{_anchor(t)}">{_e(t.get("task"))}</a></td>'
            f'<td title="{_e(metric_help(key))}">{_e(metric_name(key))}</td>'
            f"{_value_cell(va, _pair(ci.get('a')), rate)}{_value_cell(vb, _pair(ci.get('b')), rate)}"
            f"{_delta_cell(ci.get('delta'), rate, cls)}"
            f"<td class=\"num\">{_fmt_p(ci.get('p_value'), t.get('n_resamples'))}</td>"
            f'<td class="{cls}">{_e(word)}</td>'
            f'<td class="base">{_e(_best_baseline_text(t, key, rate))}</td></tr>'
        )
    head = (f'<tr><th>task</th><th>headline score</th><th class="a">A: {a}</th><th class="b">B: {b}</th>'
            "<th>change B &#8722; A [95% CI]</th><th class=\"nw\">p-value</th><th>reading</th>"
            '<th class="base" title="the best score of a predictor with no understanding (echo the excerpt, '
            'always Not found, the majority label): B should clearly beat it">best trivial baseline</th></tr>')
    return f"<h2>Summary</h2><table>{head}{''.join(rows)}</table>"


def _forgetting_section(report: dict, tasks: list[dict]) -> str:
    info = report.get("forgetting") or {}
    kl = info.get("kl") if isinstance(info.get("kl"), dict) else {}
    parts = []
    stats = _kl_stats(kl, tasks)
    if stats:
        bound = _num(kl.get("max_kl"))
        n = next((t.get("n") for t in tasks if t.get("kind") == "forgetting"), None)
        cells = "".join(f'<td class="num">{v:.3f}</td>' for _, v in stats)
        head = "".join(f"<th>{_e(name)}</th>" for name, _ in stats)
        parts.append(
            f"<p>How far B&#8217;s answers to {_e(n or 'the')} everyday prompts drift from the base "
            "model&#8217;s, as KL divergence in nats per token (0 = identical; the larger, the less B talks "
            "like the base model)"
            f"{f', against the gate&#8217;s bound of {bound:g}' if bound is not None else ''}.</p>"
            f"<table><tr><th></th>{head}</tr><tr><th>B&#8217;s KL per prompt</th>{cells}</tr></table>")
    per_prompt = [float(v) for v in kl.get("per_prompt") or [] if _num(v) is not None]
    if per_prompt:
        parts.append(_kl_histogram(per_prompt, _num(kl.get("max_kl"))))
    for r in _mmlu_rows(info.get("mmlu")):
        d = r["delta"]
        ci = (f" (95% CI {_fmt_delta(d[1], True)} to {_fmt_delta(d[2], True)})"
              if isinstance(d, list) and len(d) == 3 and all(_num(x) is not None for x in d[1:]) else "")
        allowed = (f"; the gate allows a loss of {r['max_drop'] * 100:.1f} pts"
                   if _num(r["max_drop"]) is not None else "")
        parts.append(f"<p>General knowledge ({_e(r['task'])}): accuracy {_fmt(r['a'], True)} &#8594; "
                     f"{_fmt(r['b'], True)}, {_fmt_delta(r['b'] - r['a'], True)}{ci}{allowed}.</p>")
    if not parts:
        return ""
    note = ('<p class="note">Fine-tuning on contracts can erode what the model knew before. These numbers '
            "watch for it.</p>")
    head = "<h2>Forgetting: does B still behave like the base model?</h2>"
    return f"<section>{head}{note}{''.join(parts)}</section>"


def _meta_section(report: dict) -> str:
    items = []
    for side in ("a", "b"):
        info = report.get(side) or {}
        for key, value in info.items():
            if value not in (None, "") and not isinstance(value, (dict, list)):
                items.append(f"<dt>{side.upper()} {_e(str(key).replace('_', ' '))}</dt><dd>{_e(value)}</dd>")
    for key in ("created_at", "code_version"):
        if report.get(key):
            items.append(f"<dt>{_e(key.replace('_', ' '))}</dt><dd>{_e(report[key])}</dd>")
    return f'<h2>Provenance</h2><dl class="meta">{"".join(items)}</dl>' if items else ""
