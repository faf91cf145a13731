"""The review screen's routes: sign-in and sessions, the queue's filters, decisions and their audit rows,
roles, CSRF, and tenancy (another tenant's item is 404, as one that never existed)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from review_world import PASSAGE, SPAN, cheap_key_hashing, make_world
from sqlalchemy import select

from lextune.core.tables import AuditEventRow
from lextune.security import tenancy
from lextune.serve.app import create_app
from lextune.serve.config import ServeConfig
from lextune.serve.review_auth import COOKIE, sign, unsign

HTML = {"Accept": "text/html"}


@pytest.fixture(autouse=True)
def _fast_keys(monkeypatch):
    cheap_key_hashing(monkeypatch)


@pytest.fixture()
def world(store):
    w = make_world(store)
    yield w
    w.close()


@pytest.fixture()
def app(store, tmp_path):
    return create_app(store, ServeConfig(base_model=str(tmp_path / "no-model")))


def login(client: TestClient, key: str) -> None:
    r = client.post("/review/login", data={"key": key, "next": "/review"}, follow_redirects=False)
    assert r.status_code == 303, r.text


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]*)"', html).group(1)


def queue_ids(html: str) -> list[str]:
    return re.findall(r'<tr class="row"[^>]*data-id="([0-9a-f]+)"', html)


def audit_rows(store, action: str = "review.decide") -> list[AuditEventRow]:
    with store.session() as s:
        rows = list(s.scalars(select(AuditEventRow).where(AuditEventRow.action == action).order_by(AuditEventRow.id)))
        s.expunge_all()
        return rows


def test_sign_in_sets_a_signed_httponly_strict_cookie_never_the_key(world, app):
    with TestClient(app) as client:
        r = client.get("/review?task=privilege", headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/review/login?next=%2Freview%3Ftask%3Dprivilege"
        assert client.get("/review").status_code == 401  # not a browser: the API's answer
        page = client.get("/review/login", headers=HTML)
        assert page.status_code == 200 and 'type="password"' in page.text
        bad = client.post("/review/login", data={"key": world.keys["rita"][:-3] + "xyz"}, follow_redirects=False)
        assert bad.status_code == 401 and "not valid" in bad.text and COOKIE not in bad.headers.get("set-cookie", "")
        ok = client.post("/review/login", data={"key": world.keys["rita"], "next": "/review?task=privilege"},
                         follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"] == "/review?task=privilege"
        cookie = ok.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace(
            "Strict", "strict") and "Path=/review" in cookie
        secret = world.keys["rita"].split("_", 2)[2]
        assert secret not in cookie and world.keys["rita"] not in cookie
        r = client.get("/review", headers=HTML)
        assert r.status_code == 200 and "rita" in r.text and "reviewer" in r.text
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
        assert "http://" not in r.text and "https://" not in r.text  # nothing fetched from elsewhere
        # an open redirect through ?next= goes nowhere else
        evil = client.post("/review/login", data={"key": world.keys["rita"], "next": "//evil.example/review"},
                           follow_redirects=False)
        assert evil.headers["location"] == "/review"
        client.post("/review/logout", follow_redirects=False)
        assert client.get("/review", headers=HTML, follow_redirects=False).status_code == 303


def test_tampered_or_expired_tokens_are_refused():
    secret = b"k" * 32
    token = sign(secret, {"t": "acme", "u": "rita", "k": "abc", "n": "n", "exp": 2_000_000_000})
    assert unsign(secret, token)["u"] == "rita"
    _body, mac = token.split(".")
    forged = sign(b"x" * 32, {"t": "acme", "u": "ann", "k": "abc", "n": "n", "exp": 2_000_000_000})
    assert unsign(secret, forged) is None and unsign(secret, forged.split(".")[0] + "." + mac) is None
    assert unsign(secret, sign(secret, {"n": "n", "exp": 1})) is None  # expired
    assert unsign(secret, "garbage") is None and unsign(secret, None) is None


def test_queue_filters_and_orders(world, app):
    newest, priv, cited, least = world.items
    with TestClient(app) as client:
        login(client, world.keys["vic"])
        assert queue_ids(client.get("/review", headers=HTML).text) == world.items  # newest first
        by_conf = queue_ids(client.get("/review?sort=confidence", headers=HTML).text)
        assert by_conf == [least, priv, cited, newest]
        assert queue_ids(client.get("/review?task=privilege", headers=HTML).text) == [priv]
        assert queue_ids(client.get("/review?matter=Globex+lease", headers=HTML).text) == [cited, least]
        assert queue_ids(client.get("/review?min_conf=40&max_conf=70", headers=HTML).text) == [priv, cited]
        assert queue_ids(client.get("/review?min_conf=oops", headers=HTML).text) == world.items  # ignored
        page = client.get("/review", headers=HTML).text
        assert world.beta_item not in page and "Beta matter" not in page  # only the tenant's own
        assert '<option value="Acme v. Initech">' in page  # the matters offered are the tenant's


def test_item_page_highlights_the_span_and_escapes(world, app):
    with TestClient(app) as client:
        login(client, world.keys["rita"])
        r = client.get(f"/review/items/{world.items[0]}", headers=HTML)
        assert r.status_code == 200
        start = PASSAGE.find(SPAN)
        assert f'<mark id="span">{SPAN}</mark>' in r.text
        assert "12. Governing Law. This Agreement shall be " in r.text and PASSAGE[start - 20:start] in r.text
        assert 'id="f-accept"' in r.text and 'id="f-reject"' in r.text and 'id="edit"' in r.text
        assert f'data-next="/review/items/{world.items[1]}"' in r.text and 'data-prev=""' in r.text
    from review_world import add_item

    evil = add_item(world.acme, "privilege", "<b>m</b>", 0.5, "<script>x</script>", "<img src=x onerror=alert(1)>",
                    source="<script>alert(1)</script> the span", span="the span")
    with TestClient(app) as client:
        login(client, world.keys["rita"])
        text = client.get(f"/review/items/{evil}", headers=HTML).text
        assert "<script>alert(1)" not in text and "<img src=x" not in text and "&lt;script&gt;" in text
        assert '<mark id="span">the span</mark>' in text


def test_decisions_update_the_item_and_write_an_audit_row(world, app):
    first, second, third, fourth = world.items
    with TestClient(app) as client:
        login(client, world.keys["rita"])
        csrf = csrf_of(client.get(f"/review/items/{first}", headers=HTML).text)
        r = client.post(f"/review/items/{first}/decide", data={"decision": "accept", "csrf": csrf},
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith(f"/review/items/{second}?done=accepted")
        r = client.post(f"/review/items/{second}/decide", follow_redirects=False,
                        data={"decision": "correct", "csrf": csrf, "correction": "Not privileged: a business email."})
        assert r.headers["location"].startswith(f"/review/items/{third}?done=corrected")
        # the queue's filters travel with the decision: the next item is the next one of the filtered queue
        r = client.post(f"/review/items/{third}/decide", follow_redirects=False,
                        data={"decision": "reject", "csrf": csrf, "q": "matter=Globex+lease"})
        assert r.headers["location"] == f"/review/items/{fourth}?done=rejected&matter=Globex+lease"
        assert queue_ids(client.get("/review", headers=HTML).text) == [fourth]  # decided items leave the queue
        assert queue_ids(client.get("/review?status=all", headers=HTML).text) == world.items
    a, c, rj, p = (world.row(i) for i in world.items)
    assert (a.status, a.reviewer, a.correction) == ("accepted", "rita", None) and a.reviewed_at is not None
    assert c.status == "corrected" and c.correction == {"label": "privileged", "text": "Not privileged: a business email."}
    assert (rj.status, rj.reviewer) == ("rejected", "rita") and p.status == "pending" and p.reviewer is None
    rows = audit_rows(world.acme)
    assert [(r.action, r.target, r.details["decision"]) for r in rows] == [
        ("review.decide", first, "accepted"), ("review.decide", second, "corrected"), ("review.decide", third, "rejected")]
    assert all(r.actor.startswith("acme/rita key:") for r in rows)
    trail = repr([r.details for r in rows])
    assert "business email" not in trail and "Delaware" not in trail and "Initech" not in trail  # no client text


def test_decisions_need_the_sessions_csrf_token(world, app):
    item = world.items[0]
    with TestClient(app) as client:
        login(client, world.keys["rita"])
        for data in ({"decision": "accept"}, {"decision": "accept", "csrf": "0" * 64}):
            r = client.post(f"/review/items/{item}/decide", data=data, follow_redirects=False)
            assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
        csrf = csrf_of(client.get(f"/review/items/{item}", headers=HTML).text)
        assert client.post(f"/review/items/{item}/decide", data={"decision": "maybe", "csrf": csrf}).status_code == 422
        assert client.post(f"/review/items/{item}/decide",
                           data={"decision": "correct", "csrf": csrf, "correction": "  "}).status_code == 422
    with TestClient(app) as other:  # another session's token is no good either
        login(other, world.keys["rita"])
        r = other.post(f"/review/items/{item}/decide", data={"decision": "accept", "csrf": csrf})
        assert r.status_code == 403
    assert world.row(item).status == "pending" and audit_rows(world.acme) == []


def test_viewers_look_but_do_not_decide(world, app):
    item = world.items[0]
    with TestClient(app) as client:
        login(client, world.keys["vic"])
        page = client.get(f"/review/items/{item}", headers=HTML).text
        assert 'id="f-accept"' not in page and 'id="edit"' not in page and "may look" in page
        r = client.post(f"/review/items/{item}/decide", data={"decision": "accept", "csrf": "x"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
        assert client.get("/review/dashboard", headers=HTML).status_code == 200
    with TestClient(app) as client:  # and a bearer key of a viewer: the same
        r = client.post(f"/review/items/{item}/decide", data={"decision": "accept"},
                        headers={"Authorization": f"Bearer {world.keys['vic']}"})
        assert r.status_code == 403
    assert world.row(item).status == "pending"


def test_another_tenants_item_is_404_like_one_that_never_existed(world, app):
    with TestClient(app) as client:
        login(client, world.keys["bea"])  # beta's admin
        for path in (f"/review/items/{world.items[0]}", "/review/items/" + "f" * 32):
            r = client.get(path, headers=HTML)
            assert r.status_code == 404 and "Initech" not in r.text and "Delaware" not in r.text
        page = client.get(f"/review/items/{world.beta_item}", headers=HTML).text
        csrf = csrf_of(page)
        r = client.post(f"/review/items/{world.items[0]}/decide", data={"decision": "reject", "csrf": csrf})
        never = client.post("/review/items/" + "f" * 32 + "/decide", data={"decision": "reject", "csrf": csrf})
        assert r.status_code == never.status_code == 404 and r.json()["error"] == {
            **never.json()["error"], "message": r.json()["error"]["message"]}
        assert queue_ids(client.get("/review?status=all", headers=HTML).text) == [world.beta_item]
        dash = client.get("/review/dashboard", headers=HTML).text
        assert "acme-v1" not in dash and "ftjob-a1b2c3" not in dash
    assert world.row(world.items[0]).status == "pending" and audit_rows(world.acme) == []


def test_a_revoked_key_or_a_changed_role_applies_to_open_sessions(world, app, store):
    item = world.items[0]
    with TestClient(app) as client:
        login(client, world.keys["rita"])
        assert 'id="f-accept"' in client.get(f"/review/items/{item}", headers=HTML).text
        tenancy.set_user(store, "acme", "rita", role="viewer")
        assert 'id="f-accept"' not in client.get(f"/review/items/{item}", headers=HTML).text
        tenancy.revoke_api_key(store, "acme", world.keys["rita"].split("_")[1])
        assert client.get("/review", headers=HTML, follow_redirects=False).status_code == 303


def test_local_mode_uses_the_local_admin(store, tmp_path):
    from review_world import ITEMS, add_item

    item = add_item(store, *ITEMS[0])
    app = create_app(store, ServeConfig(base_model=str(tmp_path / "no-model")))
    with TestClient(app) as client:
        assert client.get("/review/login", headers=HTML, follow_redirects=False).headers["location"] == "/review"
        page = client.get(f"/review/items/{item}", headers=HTML)
        assert page.status_code == 200 and "local-admin" in page.text
        assert "lextune_review=" in page.headers.get("set-cookie", "")  # a local session, for its CSRF token
        r = client.post(f"/review/items/{item}/decide", follow_redirects=False,
                        data={"decision": "accept", "csrf": csrf_of(page.text)})
        assert r.status_code == 303
    row = None
    from lextune.core.tables_review import ReviewItemRow

    with store.session() as s:
        row = s.get(ReviewItemRow, item)
        assert (row.status, row.reviewer) == ("accepted", "local-admin")


def test_dashboard_shows_jobs_versions_evals_and_activations_with_verdicts(world, app):
    with TestClient(app) as client:
        login(client, world.keys["vic"])
        page = client.get("/review/dashboard", headers=HTML).text
    for text in ("ftjob-a1b2c3", "ftjob-d4e5f6", "40/200", "acme-v1", "acme-v2", "clause_quote", "0.734",
                 "forced past the gate", "gate failed on comparison cmp-fail", "cmp-pass", "cmp-fail",
                 "activated", "<b>default</b>: acme-v2"):
        assert text in page, text
    history = page.split("Activation history", 1)[1].split("Model versions", 1)[0]
    # newest first: activate v2 (gate: failed cmp-fail), forced v2, activate v1 (gate: passed cmp-pass)
    assert history.index("cmp-fail") < history.index("cmp-pass")
    assert history.count("s-failed") >= 2 and "s-passed" in history
