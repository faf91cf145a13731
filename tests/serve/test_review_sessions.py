"""The review screen's sign-in lockout and its sessions: failed sign-ins are counted per address and per key
id and locked out (429 + Retry-After, audited, never the key's text), sessions survive a restart (the signing
secret is sealed under the home) and sign-out ends a session for good, even where its cookie was copied."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from review_world import cheap_key_hashing, make_world
from sqlalchemy import select

from lextune.core.store import Store
from lextune.core.tables import AuditEventRow
from lextune.security.sealed_files import is_sealed
from lextune.security.tenancy import key_id_of
from lextune.serve import review_lockout
from lextune.serve.app import create_app
from lextune.serve.config import ServeConfig
from lextune.serve.review_auth import COOKIE, app_secret
from lextune.serve.review_lockout import LOCKOUT_S, MAX_FAILURES, WINDOW_S, LoginGuard, subjects
from lextune.serve.review_sessions import FOLDER, SECRET_FILE, session_secret

HTML = {"Accept": "text/html"}


@pytest.fixture(autouse=True)
def _fast_keys(monkeypatch):
    cheap_key_hashing(monkeypatch)


@pytest.fixture()
def world(store):
    w = make_world(store, registry=False)
    yield w
    w.close()


def _app(store, tmp_path):
    return create_app(store, ServeConfig(base_model=str(tmp_path / "no-model")))


def _wrong(key: str) -> str:
    """The same key id with a wrong secret."""
    return key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")


def _login(client: TestClient, key: str):
    return client.post("/review/login", data={"key": key, "next": "/review"}, follow_redirects=False)


def _trail(store, prefix: str = "review.login") -> list[AuditEventRow]:
    with store.session() as s:
        rows = list(s.scalars(select(AuditEventRow).where(AuditEventRow.action.like(f"{prefix}%"))
                              .order_by(AuditEventRow.id)))
        s.expunge_all()
        return rows


# ---------------------------------------------------------------- lockout

def test_five_failures_lock_the_address_out_with_retry_after(world, store, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    rita = world.keys["rita"]
    presented = [_wrong(rita), "hunter2-not-a-key", _wrong(world.keys["vic"]), "ltk_nonsense", _wrong(rita)]
    with TestClient(_app(store, tmp_path)) as client:
        codes = [_login(client, text).status_code for text in presented]
        assert codes == [401] * (MAX_FAILURES - 1) + [429]
        r = _login(client, rita)  # the right key, but too late: not even checked
        assert r.status_code == 429 and COOKIE not in r.headers.get("set-cookie", "")
        assert 0 < int(r.headers["retry-after"]) <= LOCKOUT_S
        assert "Too many failed sign-ins. Try again after" in r.text and "UTC" in r.text
        assert client.get("/review", headers=HTML, follow_redirects=False).status_code == 303  # still signed out
        # no hint whether a key existed: an unknown key id is locked out with the same page
        other = TestClient(client.app, client=("10.0.0.9", 1234))
        ghost = "ltk_" + "a" * 16 + "_" + "x" * 43
        for _ in range(MAX_FAILURES):
            last = _login(other, ghost)
        assert last.status_code == 429 and "retry-after" in last.headers
        assert _page_error(last.text).split(" after ")[0] == _page_error(r.text).split(" after ")[0]
    rows = _trail(store)
    failed = [r for r in rows if r.action == "review.login.failed"]
    locked = [r for r in rows if r.action == "review.login.locked"]
    assert len(failed) == 2 * MAX_FAILURES and len(locked) == 2  # the refused attempts are not re-audited
    assert [r.details["failures"] for r in failed[:MAX_FAILURES]] == list(range(1, MAX_FAILURES + 1))
    assert failed[0].details == {"client": "testclient", "key_id": rita.split("_")[1], "failures": 1}
    assert failed[1].details["key_id"] is None and failed[1].target == ""
    assert locked[0].target == "testclient" and locked[0].details["locked_s"] == LOCKOUT_S
    assert all(r.actor == "anonymous@testclient" for r in rows[:MAX_FAILURES + 1])
    # never the text presented: not in the trail, the log or the output
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    trail = json.dumps([[r.actor, r.target, r.details] for r in rows])
    for text in presented + [rita, ghost]:
        secret = text.split("_", 2)[2] if text.count("_") >= 2 else text
        assert secret not in trail and secret not in logged, text
    assert "review sign-in failed from testclient" in caplog.text


def _page_error(html: str) -> str:
    return html.split('<div class="error">', 1)[1].split("</div>", 1)[0]


def test_a_success_clears_the_count(world, store, tmp_path):
    with TestClient(_app(store, tmp_path)) as client:
        assert [_login(client, "wrong").status_code for _ in range(MAX_FAILURES - 1)] == [401] * (MAX_FAILURES - 1)
        assert _login(client, world.keys["vic"]).status_code == 303
        assert [_login(client, "wrong").status_code for _ in range(MAX_FAILURES - 1)] == [401] * (MAX_FAILURES - 1)
        assert _login(client, world.keys["rita"]).status_code == 303
    assert not [r for r in _trail(store) if r.action == "review.login.locked"]


def test_guessing_one_keys_secret_from_many_addresses_locks_that_key_id(world, store, tmp_path):
    rita, vic = world.keys["rita"], world.keys["vic"]
    app = _app(store, tmp_path)
    with TestClient(app):
        for i in range(MAX_FAILURES):
            code = _login(TestClient(app, client=(f"10.0.0.{i}", 1000)), _wrong(rita)).status_code
        assert code == 429
        fresh = TestClient(app, client=("10.0.1.1", 1000))
        r = _login(fresh, rita)
        assert r.status_code == 429 and "retry-after" in r.headers  # that key id, from anywhere
        assert _login(fresh, vic).status_code == 303  # another key from that address: fine
    locked = [r for r in _trail(store) if r.action == "review.login.locked"]
    assert len(locked) == 1 and locked[0].details["key_id"] == rita.split("_")[1]


def test_the_guard_forgets_after_the_window_and_the_lockout():
    now = [1000.0]
    guard = LoginGuard(clock=lambda: now[0])
    who = subjects("1.2.3.4", None)
    for _ in range(MAX_FAILURES - 1):
        assert guard.begin(who) == 0
        assert guard.failed(who)[1] == 0
    now[0] += WINDOW_S + 1  # the old failures leave the window
    assert guard.begin(who) == 0 and guard.failed(who) == (1, 0.0)
    for _ in range(MAX_FAILURES - 1):
        guard.begin(who)
        counts, locked = guard.failed(who)
    assert (counts, locked) == (MAX_FAILURES, LOCKOUT_S)
    now[0] += LOCKOUT_S - 10
    assert guard.begin(who) == pytest.approx(10)
    now[0] += 11
    assert guard.begin(who) == 0  # the lockout is over, with a fresh count


def test_concurrent_attempts_cannot_pass_the_limit():
    guard = LoginGuard(clock=lambda: 5.0)
    who = subjects("1.2.3.4", "abcdefghijklmnop")
    assert [guard.begin(who) for _ in range(MAX_FAILURES)] == [0] * MAX_FAILURES  # all still being checked
    assert guard.begin(who) > 0  # the next is refused before its key is hashed
    guard.succeeded(who)
    assert guard.begin(who) == 0


def test_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(review_lockout, "MAX_TRACKED", 50)
    now = [0.0]
    guard = LoginGuard(clock=lambda: now[0])
    for i in range(500):
        now[0] += 1
        guard.begin(subjects(f"10.0.{i // 256}.{i % 256}", None))
    assert len(guard._tries) + len(guard._locked) <= 50


def test_key_id_of_reads_only_the_public_part():
    assert key_id_of("ltk_" + "abcdefghijklmnop" + "_" + "s" * 43) == "abcdefghijklmnop"
    assert key_id_of("  ltk_abcdefghijklmnop_" + "s" * 43 + "\n") == "abcdefghijklmnop"
    assert key_id_of("ltk_abc_def") is None and key_id_of("my password") is None


# ---------------------------------------------------------------- sessions

def test_a_session_survives_a_restart_on_the_same_home(db_store, tmp_path, monkeypatch):
    cheap_key_hashing(monkeypatch)
    world = make_world(db_store, registry=False)
    try:
        first = _app(db_store, tmp_path)
        with TestClient(first) as client:
            assert _login(client, world.keys["rita"]).status_code == 303
            cookie = client.cookies[COOKIE]
        path = db_store.settings.home / FOLDER / SECRET_FILE
        secret = app_secret(first)
        assert len(secret) == 32 and is_sealed(path) and secret not in path.read_bytes()  # sealed at rest
        assert path.stat().st_mode & 0o777 == 0o600
        # a restart: a new store object and a new app on the same home and database
        again = Store(db_store.settings)
        try:
            second = _app(again, tmp_path)
            with TestClient(second, cookies={COOKIE: cookie}) as client:
                r = client.get("/review", headers=HTML, follow_redirects=False)
                assert r.status_code == 200 and "rita" in r.text
            assert app_secret(second) == secret and session_secret(again) == secret
        finally:
            again.close()
    finally:
        world.close()


def test_two_apps_on_one_home_share_sessions_and_sign_outs(world, store, tmp_path):
    one, two = _app(store, tmp_path), _app(store, tmp_path)
    with TestClient(one) as a, TestClient(two) as b:
        assert _login(a, world.keys["rita"]).status_code == 303
        cookie = a.cookies[COOKIE]
        b.cookies.set(COOKIE, cookie, path="/review")
        assert b.get("/review", headers=HTML, follow_redirects=False).status_code == 200  # the other worker
        r = a.post("/review/logout", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/review/login"
        assert f'{COOKIE}=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
        assert a.get("/review", headers=HTML, follow_redirects=False).status_code == 303
        # the copied cookie is refused too, by the other worker and after a restart
        assert b.get("/review", headers=HTML, follow_redirects=False).status_code == 303
        assert b.get("/review").status_code == 401
    with TestClient(_app(store, tmp_path), cookies={COOKIE: cookie}) as c:
        assert c.get("/review", headers=HTML, follow_redirects=False).status_code == 303
        c.cookies.clear()
        assert _login(c, world.keys["rita"]).status_code == 303  # a new session is fine
        assert c.get("/review", headers=HTML, follow_redirects=False).status_code == 200
    ended = json.loads((store.settings.home / FOLDER / "ended-sessions.json").read_text())
    assert len(ended) == 1 and cookie.split(".")[0] not in json.dumps(ended)


def test_a_secret_that_does_not_open_is_replaced(store):
    first = session_secret(store)
    path = store.settings.home / FOLDER / SECRET_FILE
    path.write_bytes(b"plaintext, not sealed, 32 bytes!")
    second = session_secret(store)
    assert second != first and len(second) == 32 and is_sealed(path) and session_secret(store) == second


def test_key_rotation_reseals_the_secret_and_keeps_sessions(store):
    from lextune.security.rotation import add_data_key, delete_retired, reencrypt, retire
    from lextune.security.sealed_files import sealed_key_id

    first = session_secret(store)
    path = store.settings.home / FOLDER / SECRET_FILE
    old_key = sealed_key_id(path)
    new_key = add_data_key(store)
    reencrypt(store)
    retire(store)
    delete_retired(store)
    assert sealed_key_id(path) == new_key != old_key
    assert session_secret(store) == first  # the same secret: open sessions stay signed in
