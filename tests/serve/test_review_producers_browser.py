"""Items the producers queue (a cited answer, a clause, a playbook flag) as a reviewer sees them in real
headless Chromium: the passages with the cited or extracted words highlighted, why each was queued, and a
correction typed with the keyboard that becomes the training row's answer. Screenshots land in tmp_path."""

from __future__ import annotations

from test_review_browser import _browser_or_skip, open_page
from test_review_producers import _analysis, _retrieval

from lextune.core.tables_review import ReviewItemRow
from lextune.data.builders.corrections import item_row, load_items
from lextune.rag.grounding import verify_answer
from lextune.review.candidates import enqueue
from lextune.review.from_analysis import analysis_candidates
from lextune.review.from_answers import cited_answer_candidate
from lextune.review.policy import ReviewPolicy
from lextune.serve.app import create_app
from lextune.serve.background import live_server
from lextune.serve.config import ServeConfig


def test_producers_items_in_a_real_browser(store, tmp_path):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    retrieval = _retrieval()
    answer = verify_answer('Governed by "the laws of the State of New York" [2].', retrieval)
    cited = cited_answer_candidate(retrieval.question, retrieval, answer, key="req-1", model_version="v1",
                                   matter="Acme", request_id="req-1")
    cited.extra["why"] = "sampled"
    picked = analysis_candidates(_analysis(), ReviewPolicy(sample_rate=1.0), request_id="an-1", matter="Acme",
                                 model_version="v1")
    clause = next(c for c in picked if c.task == "clause_extraction" and c.output["verified"] is False)
    flag = next(c for c in picked if c.task == "contract_analysis")
    enqueue(store, [cited, clause, flag])
    shots = tmp_path / "screens"
    shots.mkdir()
    app = create_app(store, ServeConfig(base_model=str(tmp_path / "no-model")))
    with live_server(app) as server, sync_playwright() as pw:
        browser, page, errors = open_page(pw)
        try:
            for name, c, marked, why in (("cited", cited, "the laws of the State of New York", "sampled"),
                                         ("clause", clause, clause.output["text"], "low confidence"),
                                         ("flag", flag, None, "sampled")):
                page.goto(f"{server.url}/review/items/{c.item_id}")
                expect(page.locator("#item")).to_have_attribute("data-id", c.item_id)
                if marked:
                    expect(page.locator("mark#span")).to_have_text(marked)
                else:  # a missing clause has nothing to point at
                    expect(page.locator("mark#span")).to_have_count(0)
                expect(page.locator(".card dl").last).to_contain_text(why)
                page.screenshot(path=str(shots / f"producer-{name}.png"), full_page=True)
            page.goto(f"{server.url}/review/items/{cited.item_id}")
            page.keyboard.press("c")
            expect(page.locator("#edit textarea")).to_be_focused()
            page.keyboard.press("Control+a")
            page.keyboard.type('New York law governs: "the laws of the State of New York" [2].')
            page.keyboard.press("Enter")
            expect(page.locator("#item")).not_to_have_attribute("data-id", cited.item_id)
            assert not errors, errors
        finally:
            browser.close()
    with store.session() as s:
        assert s.get(ReviewItemRow, cited.item_id).status == "corrected"
    [item] = [i for i in load_items(store) if i["id"] == cited.item_id]
    row = item_row(item, "train", item["document_id"])
    assert row.answer == 'New York law governs: "the laws of the State of New York" [2].'
    assert row.messages[-2]["content"] == cited.prompt and row.meta["reviewer"]
