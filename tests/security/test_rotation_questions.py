"""The monitor's sealed weekly question logs under `lextune keys rotate --reencrypt`: re-sealed line by line,
counted per key (so a key still sealing a line is not retired), and no line appended meanwhile lost."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from typer.testing import CliRunner

from lextune.core import atomic
from lextune.core.store import Store
from lextune.monitor import questions
from lextune.monitor.drift import drift_report
from lextune.monitor.questions import log_dir, log_files, read_questions, record_question, reseal_log
from lextune.security.sealed_files import forget_keyrings

NOW = datetime(2025, 3, 13, 12, 0, tzinfo=UTC)  # 2025-W11
WEEKS = ["2025-W09", "2025-W10", "2025-W11"]


def _cli(*args: str) -> str:
    from lextune.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _embed(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), 32))
    for i, t in enumerate(texts):
        for w in t.split():
            out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 32] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _line_keys(store) -> set:
    return {store.keyring.text_key_of(line) for p in log_files(store) for line in p.read_text().splitlines()}


def _plant(store) -> None:
    for k, week in enumerate(WEEKS):
        for i in range(12):
            ts = NOW - timedelta(weeks=len(WEEKS) - 1 - k, hours=i)
            record_question(store, f"req-{week}-{i}", f"question {i} about lease {week} Zyxquorb", ts=ts)


def test_rotate_reencrypt_delete_retired_keeps_question_logs_readable(home):
    forget_keyrings()
    store = Store()
    _plant(store)
    k1 = store.keyring.active
    assert _line_keys(store) == {k1}
    status = json.loads(_cli("keys", "status", "--json"))
    assert {k["id"]: k["seals"] for k in status["keys"]}[k1] == {"files": 3}  # the logs count for their key

    out = json.loads(_cli("keys", "rotate", "--reencrypt", "--delete-retired", "--json"))
    k2 = out["new_data_key"]
    assert out["reencrypt"]["files"] == {"resealed": 3} and not out["reencrypt"]["unreadable"]
    assert out["reencrypt"]["retired"] == [k1] and out["deleted"] == [k1]

    forget_keyrings()
    fresh = Store()  # the old key is gone from the store: only k2 opens anything now
    assert fresh.keyring.active == k2 and _line_keys(fresh) == {k2}
    assert all(k1 not in p.read_text() for p in log_files(fresh))
    got, bad = read_questions(fresh, WEEKS)
    assert bad == 0 and [len(got[w]) for w in WEEKS] == [12, 12, 12]
    assert "question 3 about lease 2025-W10 Zyxquorb" in got["2025-W10"]
    report = drift_report(fresh, weeks=3, now=NOW, embed=_embed)
    assert [w["questions"] for w in report["weeks"]] == [12, 12, 12]
    assert not any("did not open" in n for n in report["notes"])
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in log_files(fresh))
    # Again: nothing left to re-seal.
    again = json.loads(_cli("keys", "rotate", "--reencrypt", "--no-new-key", "--json"))
    assert again["reencrypt"]["files"] == {"current": 3}
    fresh.close()
    store.close()


def test_a_line_the_old_key_still_seals_keeps_it_from_retiring(home):
    """A process that has not seen the rotation appends with the old key after the re-seal: counted."""
    forget_keyrings()
    store = Store()
    _plant(store)
    k1 = store.keyring.active
    _cli("keys", "rotate")
    path = log_dir(store) / "2025-W11.log"
    out = json.loads(_cli("keys", "rotate", "--reencrypt", "--no-new-key", "--json"))
    assert out["reencrypt"]["retired"] == [k1]
    # Sealed with k1 by a stale process (its keyring not refreshed): append a k1 line by hand.
    stale = store.keyring.seal_text(json.dumps({"request_id": "late", "ts": NOW.isoformat(), "q": "late one"}),
                                    questions.AAD)
    assert store.keyring.text_key_of(stale) == k1
    with path.open("a") as f:
        f.write(stale + "\n")
    assert json.loads(_cli("keys", "rotate", "--delete-retired", "--no-new-key", "--json"))["deleted"] == []
    forget_keyrings()
    assert "late one" in read_questions(Store(), ["2025-W11"])[0]["2025-W11"]
    store.close()


def test_lines_appended_during_a_reseal_are_kept(home, monkeypatch):
    forget_keyrings()
    store = Store()
    _plant(store)
    from lextune.security import rotation

    rotation.add_data_key(store)
    path = log_dir(store) / "2025-W11.log"
    real = questions._reseal_lines
    calls = []

    def appending(data, keyring, where, counts):
        calls.append(len(data))
        if len(calls) == 1:  # after the first read, before the lock: a request is served meanwhile
            record_question(store, "req-meanwhile", "asked while re-sealing", ts=NOW)
        return real(data, keyring, where, counts)

    monkeypatch.setattr(questions, "_reseal_lines", appending)
    counts = reseal_log(path, store.keyring)
    assert counts == {"resealed": 12, "current": 1} and len(calls) == 2
    got = read_questions(store, ["2025-W11"])[0]["2025-W11"]
    assert len(got) == 13 and "asked while re-sealing" in got
    assert {store.keyring.text_key_of(line) for line in path.read_text().splitlines()} == {store.keyring.active}
    store.close()


def test_an_appender_waiting_on_the_lock_appends_to_the_file_renamed_over_the_old(home):
    forget_keyrings()
    store = Store()
    _plant(store)
    path = log_dir(store) / "2025-W11.log"
    before = path.read_bytes()
    with questions._locked(path, exclusive=True):
        t = threading.Thread(target=record_question, args=(store, "req-waiting", "waited for the lock"),
                             kwargs={"ts": NOW})
        t.start()
        time.sleep(0.3)
        assert t.is_alive() and path.read_bytes() == before  # it waits: nothing written to the old file
        atomic.write_bytes(path, before, 0o600)  # what a re-seal does: a new file renamed over the old one
    t.join(5)
    got = read_questions(store, ["2025-W11"])[0]["2025-W11"]
    assert len(got) == 13 and got[-1] == "waited for the lock"
    store.close()
