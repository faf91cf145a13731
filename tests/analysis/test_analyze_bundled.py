"""The whole pipeline on the real bundled stock model (its accuracy is not asserted: it is untuned)."""

import pytest
from analysis_contracts import contract

from lextune.analysis import AnalyzeOptions, analyze_document, default_playbook, render_html
from lextune.models.generation import generate
from lextune.models.loading import load_base_model

pytestmark = pytest.mark.slow


def test_stock_model_analyzes_a_short_contract(home):
    model, tok, resolved = load_base_model(None)
    options = AnalyzeOptions(quote_tokens=64, summary_tokens=48)

    def asker(max_new_tokens):
        return lambda convs: generate(model, tok, convs, max_new_tokens=max_new_tokens, batch_size=8)

    text = contract(state="Delaware", notice="thirty (30) days")
    a = analyze_document(text, default_playbook(), asker(options.classify_tokens),
                         quote=asker(options.quote_tokens), summarize=asker(options.summary_tokens),
                         options=options, model=f"stock:{resolved.name}")
    assert a.passages >= 4 and a.model == "stock:smollm2-135m-instruct"
    assert a.unmatched_answers + a.rejected_by_quote + len({(c.start, c.end) for c in a.clauses}) >= 1
    assert all(text[c.start:c.end] == c.text and c.source == "model" for c in a.clauses)
    assert a.summary and a.model_summary is not None
    assert render_html(a).startswith("<!DOCTYPE html>")
