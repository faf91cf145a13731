"""The review screen in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): sign in
with a key, work the queue with the keyboard (j, Enter, a, c + typing + Enter, j/k, r), and check the database.

Skipped when the playwright package or the browser is missing, unless LEXTUNE_REQUIRE_BROWSER=1 (.ci/run sets
it), which fails instead. Screenshots of every page land in the test's tmp folder (review-*.png).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from review_world import cheap_key_hashing, make_world
from sqlalchemy import select

from lextune.core.tables import AuditEventRow
from lextune.serve.app import create_app
from lextune.serve.background import live_server
from lextune.serve.config import ServeConfig

CHROMIUM = os.environ.get("LEXTUNE_CHROMIUM", "/usr/bin/chromium")


def _browser_or_skip() -> None:
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed (pip install -e '.[dev]')"
    if reason is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium; Playwright's own browsers are not used)"
    if reason:
        if os.environ.get("LEXTUNE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LEXTUNE_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)


def open_page(pw):
    """Debian's Chromium, headless, one page of a fixed size; the list collects script errors and console
    errors (a CSP violation is one)."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                 args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return browser, page, errors


def test_review_flow_in_a_real_browser(store, tmp_path, monkeypatch):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    cheap_key_hashing(monkeypatch)
    world = make_world(store)
    first, second, third, fourth = world.items
    shots = tmp_path / "screens"
    shots.mkdir()
    app = create_app(store, ServeConfig(base_model=str(tmp_path / "no-model")))
    try:
        with live_server(app) as server, sync_playwright() as pw:
            browser, page, errors = open_page(pw)
            try:
                page.goto(f"{server.url}/review")
                expect(page).to_have_url(f"{server.url}/review/login?next=%2Freview")
                page.screenshot(path=str(shots / "review-1-login.png"))
                page.fill("#key", world.keys["rita"])
                page.keyboard.press("Enter")
                expect(page.locator("h1")).to_contain_text("Review queue")
                cookie = next(c for c in page.context.cookies() if c["name"] == "lextune_review")
                assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
                assert world.keys["rita"].split("_", 2)[2] not in cookie["value"]
                page.screenshot(path=str(shots / "review-2-queue.png"), full_page=True)

                page.keyboard.press("j")  # selects the first (newest) row
                expect(page.locator("tr.row.sel")).to_have_attribute("data-id", first)
                page.keyboard.press("Enter")
                expect(page.locator("#item")).to_have_attribute("data-id", first)
                expect(page.locator("mark#span")).to_contain_text("laws of the State of Delaware")
                page.screenshot(path=str(shots / "review-3-item.png"), full_page=True)

                page.keyboard.press("a")  # accept -> the next pending item
                expect(page.locator("#item")).to_have_attribute("data-id", second)
                expect(page.locator(".flash")).to_contain_text("accepted")

                page.keyboard.press("c")  # correct: the inline field opens, focused, holding the output
                expect(page.locator("#edit textarea")).to_be_focused()
                page.keyboard.press("Control+a")
                page.keyboard.type("Not privileged: a routine business email.")
                page.screenshot(path=str(shots / "review-4-correcting.png"), full_page=True)
                page.keyboard.press("Enter")
                expect(page.locator("#item")).to_have_attribute("data-id", third)

                page.keyboard.press("j")  # next, then back
                expect(page.locator("#item")).to_have_attribute("data-id", fourth)
                page.keyboard.press("k")
                expect(page.locator("#item")).to_have_attribute("data-id", third)
                page.keyboard.press("r")  # reject -> the last pending item
                expect(page.locator("#item")).to_have_attribute("data-id", fourth)
                page.screenshot(path=str(shots / "review-5-after-decisions.png"), full_page=True)

                page.goto(f"{server.url}/review?status=all")
                page.screenshot(path=str(shots / "review-6-queue-all.png"), full_page=True)
                page.goto(f"{server.url}/review/dashboard")
                expect(page.locator("h1")).to_contain_text("Dashboard")
                page.screenshot(path=str(shots / "review-7-dashboard.png"), full_page=True)
                assert not errors, errors  # no script error, no CSP violation
            finally:
                browser.close()

        rows = {i: world.row(i) for i in world.items}
        assert [rows[i].status for i in world.items] == ["accepted", "corrected", "rejected", "pending"]
        assert rows[second].correction == {"label": "privileged", "text": "Not privileged: a routine business email."}
        assert {rows[i].reviewer for i in (first, second, third)} == {"rita"} and rows[fourth].reviewer is None
        with world.acme.session() as s:
            trail = [(r.target, r.details["decision"]) for r in
                     s.scalars(select(AuditEventRow).where(AuditEventRow.action == "review.decide")
                               .order_by(AuditEventRow.id))]
        assert trail == [(first, "accepted"), (second, "corrected"), (third, "rejected")]
        assert len(list(shots.glob("review-*.png"))) == 7
    finally:
        world.close()
