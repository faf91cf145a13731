"""The questions of served answers, sealed, for the topic mixture of `lextune monitor drift`.

Why not the audit row, and why text rather than embeddings: the audit trail holds no client text and is
append-only (nothing in it can be forgotten), and an embedding is client text too (inversion attacks recover
much of a sentence from its vector). So each question goes, sealed with the store's data key (AES-GCM,
associated data `monitor.question`), into a log of its own under the home: one file per ISO week,
one sealed line per answer (`monitor/questions/2025-W07.log`). Text rather than vectors: the serving path
does no extra embedding work, and the monitor can embed with whichever model it fits clusters on.
A week's file is deleted whole (`prune`), so retention is a file age.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from lextune.core.records import utcnow

AAD = "monitor.question"
MAX_CHARS = 2000  # enough for a topic; keeps one pasted contract from filling the log
_LOCK = threading.Lock()


def week_of(ts: datetime) -> str:
    """ISO week label, e.g. '2025-W07'."""
    year, week, _ = ts.isocalendar()
    return f"{year}-W{week:02d}"


def log_dir(store: Any) -> Path:
    return Path(store.settings.home) / "monitor" / "questions"


def record_question(store: Any, request_id: str, question: str, ts: datetime | None = None) -> None:
    """Append one sealed line (request id, time, question) to the week's log."""
    if not question:
        return
    ts = ts or utcnow()
    line = json.dumps({"request_id": request_id, "ts": ts.isoformat(), "q": question[:MAX_CHARS]})
    sealed = store.keyring.seal_text(line, AAD)
    folder = log_dir(store)
    with _LOCK:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{week_of(ts)}.log"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (sealed + "\n").encode("ascii"))
        finally:
            os.close(fd)


def read_questions(store: Any, weeks: list[str]) -> tuple[dict[str, list[str]], int]:
    """The questions asked in each of `weeks`, and how many lines did not open (skipped)."""
    from lextune.security.keyring import CiphertextError

    out: dict[str, list[str]] = {w: [] for w in weeks}
    bad = 0
    for w in weeks:
        path = log_dir(store) / f"{w}.log"
        if not path.is_file():
            continue
        for raw in path.read_text(encoding="ascii").splitlines():
            if not raw.strip():
                continue
            try:
                out[w].append(json.loads(store.keyring.open_text(raw, AAD, where=str(path)))["q"])
            except (CiphertextError, ValueError, KeyError):
                bad += 1
    return out, bad


def prune(store: Any, before: str) -> list[str]:
    """Delete the weekly logs of weeks before `before` (an ISO week label); the weeks deleted."""
    gone = []
    folder = log_dir(store)
    for path in sorted(folder.glob("*.log")) if folder.is_dir() else []:
        if path.stem < before:
            path.unlink()
            gone.append(path.stem)
    return gone
