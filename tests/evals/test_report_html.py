from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lextune.core.svg_plots import grouped_hbar_svg, line_plot_svg, nice_ticks
from lextune.evals.report_html import render_report, write_report_html

HOSTILE = "<script>alert('x')</script> & \"quoted\""
SVG_RE = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def _report() -> dict:
    return {
        "title": "Stock vs tuned <v2>",
        "created_at": "2025-01-01T00:00:00Z",
        "base_model": "Qwen/Qwen2.5-0.5B-Instruct",
        "model_version": "contracts-v2",
        "dataset": {"id": "cuad-sample", "sha256": "ab" * 32, "path": "/data/cuad.jsonl"},
        "machine": "1x H100",
        "tasks": {
            "clause_type": {
                "stock": {"accuracy": 0.41, "macro_f1": 0.35, "n": 200},
                "tuned": {"accuracy": 0.72, "macro_f1": 0.66, "n": 200},
                "ci": {
                    "accuracy": {"stock": [0.34, 0.48], "tuned": [0.66, 0.78], "delta": [0.31, 0.23, 0.39]},
                    "macro_f1": {"delta": [0.31, -0.02, 0.6]},
                },
                "per_label": {
                    "stock": {"Governing Law": {"f1": 0.5}, "A&B <Exclusivity>": {"f1": 0.1}},
                    "tuned": {"Governing Law": {"f1": 0.9}, "A&B <Exclusivity>": {"f1": 0.4}},
                },
            },
            "clause_quote": {
                "stock": {"f1": 0.62, "fp": 10, "mean_jaccard": 0.55},
                "tuned": {"f1": 0.58, "fp": 14, "mean_jaccard": 0.5},
            },
        },
        "training": {"loss_curve": [[0, 2.3], [10, 1.7], [20, 1.2], [30, 1.05]], "seconds": 812.4, "rows": 1500},
        "examples": [
            {"task": "clause_type", "input": HOSTILE, "gold": "Governing Law", "stock": "Yes", "tuned": "Law"},
            {"task": "clause_quote", "input": "x" * 5000, "gold": "Not found", "stock": "-", "tuned": "Not found"},
        ],
    }


def _row(html: str, metric: str, section: str) -> str:
    body = html.split(f"<h2>{section}</h2>", 1)[1]
    return re.search(rf"<tr><th>{metric}</th>.*?</tr>", body).group(0)


def test_contains_task_names_and_provenance() -> None:
    html = render_report(_report())
    for text in ("clause_type", "clause_quote", "Qwen/Qwen2.5-0.5B-Instruct", "contracts-v2", "ab" * 32, "1x H100"):
        assert text in html
    assert "1500 training rows" in html


def test_hostile_text_is_escaped() -> None:
    html = render_report(_report())
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in html
    assert "Stock vs tuned &lt;v2&gt;" in html
    assert "A&amp;B &lt;Exclusivity&gt;" in html


def test_self_contained_no_external_resources() -> None:
    html = render_report(_report())
    for marker in ("<script", "<link", "src=", "@import", "url("):
        assert marker not in html
    assert set(re.findall(r"https?://[^\s\"'<]+", html)) == {"http://www.w3.org/2000/svg"}


def test_one_well_formed_svg_per_plot() -> None:
    html = render_report(_report())
    blocks = SVG_RE.findall(html)
    # clause_type metrics + clause_type per-label + clause_quote metrics + loss curve
    assert len(blocks) == 4
    for block in blocks:
        root = ET.fromstring(block)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    loss = ET.fromstring(blocks[-1])
    polyline = loss.find("{http://www.w3.org/2000/svg}polyline")
    assert polyline is not None and len(polyline.get("points").split()) == 4


def test_whole_page_is_well_formed() -> None:
    html = render_report(_report())
    ET.fromstring(html.split("\n", 1)[1])  # drop the doctype line


def test_delta_colour_ci_and_significance() -> None:
    html = render_report(_report())
    accuracy = _row(html, "accuracy", "clause_type")
    assert 'class="num pos sig"' in accuracy and "+0.310" in accuracy and "[+0.230, +0.390]" in accuracy
    assert "[0.340, 0.480]" in accuracy
    # CI crosses zero: still green by sign, but not marked significant
    assert 'class="num pos"' in _row(html, "macro_f1", "clause_type")
    assert 'class="num neg"' in _row(html, "f1", "clause_quote")
    # more false positives is worse, so a positive delta is red
    fp_row = _row(html, "fp", "clause_quote")
    assert 'class="num neg"' in fp_row and ">+4</td>" in fp_row


def test_counts_stay_out_of_bar_charts() -> None:
    html = render_report(_report())
    quote_svg = SVG_RE.findall(html.split("<h2>clause_quote</h2>", 1)[1])[0]
    assert "mean_jaccard" in quote_svg and ">fp<" not in quote_svg


def test_long_example_input_is_clipped() -> None:
    html = render_report(_report())
    assert "x" * 800 + "\u2026" in html
    assert "x" * 801 not in html


def test_minimal_report_renders() -> None:
    html = render_report({"title": "Empty", "tasks": {"only_task": {}}})
    assert "only_task" in html and "<svg" not in html
    ET.fromstring(html.split("\n", 1)[1])


def test_write_report_html_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    write_report_html(_report(), target)
    assert target.read_text(encoding="utf-8") == render_report(_report())
    write_report_html({"title": "Second", "tasks": {}}, target)
    assert "Second" in target.read_text(encoding="utf-8")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_write_report_html_leaves_no_temp_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("lextune.core.atomic.os.replace", fail)
    with pytest.raises(OSError):
        write_report_html(_report(), tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (1.05, 2.3, [1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5]),
        (3.0, 3.0, [2.4, 2.6, 2.8, 3.0, 3.2, 3.4, 3.6]),  # flat curve: widened so the axis has a span
    ],
)
def test_nice_ticks(lo: float, hi: float, expected: list[float]) -> None:
    assert nice_ticks(lo, hi) == pytest.approx(expected)


def test_svg_helpers_handle_edge_values() -> None:
    assert line_plot_svg([[0, float("nan")]]) == ""
    ET.fromstring(line_plot_svg([[5, 1.0]]))
    bars = grouped_hbar_svg(["a", "b"], [None, 1.4], [0.5, float("nan")], tuned_ci=[(0.4, 1.2), None])
    root = ET.fromstring(bars)
    widths = [float(r.get("width")) for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.find("*") is not None]
    assert len(widths) == 2 and max(widths) <= 640
