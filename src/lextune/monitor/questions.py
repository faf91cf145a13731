"""The questions of served answers, sealed, for the topic mixture of `lextune monitor drift`.

Why not the audit row, and why text rather than embeddings: the audit trail holds no client text and is
append-only (nothing in it can be forgotten), and an embedding is client text too (inversion attacks recover
much of a sentence from its vector). So each question goes, sealed with the store's data key (AES-GCM,
associated data `monitor.question`), into a log of its own under the home: one file per ISO week,
one sealed line per answer (`monitor/questions/2025-W07.log`). Text rather than vectors: the serving path
does no extra embedding work, and the monitor can embed with whichever model it fits clusters on.
A week's file is deleted whole (`prune`), so retention is a file age.

Key rotation (`lextune keys rotate --reencrypt`) re-seals the logs line by line with the active key
(`reseal_log`), and counts the keys they use (`log_key_ids`) so that a key still sealing a line is not
retired. A re-seal writes a new file and renames it over the old one, holding an exclusive lock (flock)
on it; appenders hold a shared one and append to the file that is at the path once they have it, so no
line is lost to the rename. Where there is no flock (Windows), a line appended during a re-seal may be.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from lextune.core import atomic
from lextune.core.records import utcnow

try:
    import fcntl
except ImportError:  # Windows: no locking (see the module's docstring)
    fcntl = None  # type: ignore[assignment]

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
        with _locked(folder / f"{week_of(ts)}.log", exclusive=False) as fd:
            os.write(fd, (sealed + "\n").encode("ascii"))


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (own.st_dev, own.st_ino) == (st.st_dev, st.st_ino)


@contextmanager
def _locked(path: Path, exclusive: bool) -> Iterator[int]:
    """A descriptor of the file now at `path`, locked: shared to append (created when absent), exclusive
    to replace it (FileNotFoundError when absent). A file renamed over `path` meanwhile is opened again."""
    flags = os.O_RDONLY if exclusive else os.O_WRONLY | os.O_APPEND | os.O_CREAT
    while True:
        fd = os.open(path, flags, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                if not _same_file(fd, path):
                    continue  # replaced (re-sealed) or deleted (pruned) while we waited: the one there now
            yield fd
            return
        finally:
            os.close(fd)  # releases the lock


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


# ---- key rotation ------------------------------------------------------------------------------------

def log_files(store: Any) -> list[Path]:
    """The weekly logs of the store (temp files of a re-seal in progress left out)."""
    folder = log_dir(store)
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.glob("*.log")) if p.is_file() and not p.name.startswith(".")]


def _key_of(keyring: Any, line: str) -> str | None:
    try:
        return keyring.text_key_of(line)
    except (ValueError, UnicodeEncodeError):  # not base64: a damaged line
        return None


def log_key_ids(path: Path, keyring: Any) -> set[str]:
    """The data keys that seal lines of the log at `path`."""
    kids = {_key_of(keyring, raw.strip()) for raw in path.read_text(encoding="ascii", errors="replace").splitlines()}
    return {k for k in kids if k}


def _reseal_lines(data: bytes, keyring: Any, where: str, counts: Counter) -> bytes:
    """The lines of `data` each sealed with the active key; lines that do not open are kept as they are."""
    from lextune.security.keyring import CiphertextError

    out = []
    for raw in data.split(b"\n"):
        line = raw.strip().decode("ascii", "replace")
        if not line:
            continue
        if _key_of(keyring, line) == keyring.active:
            counts["current"] += 1
            out.append(line)
            continue
        try:
            plain = keyring.open_text(line, AAD, where=where)
        except CiphertextError:
            counts["unreadable"] += 1
            out.append(line)
            continue
        counts["resealed"] += 1
        out.append(keyring.seal_text(plain, AAD))
    return "".join(f"{line}\n" for line in out).encode("ascii")


def reseal_log(path: Path, keyring: Any) -> Counter:
    """Every line of the log at `path` sealed with the keyring's active key; counts of lines "current",
    "resealed" and "unreadable" (kept as they are). The file is replaced atomically under the exclusive
    lock; the work is done before taking it, so appenders wait only for the lines added meanwhile."""
    path = Path(path)
    blob = path.read_bytes()
    done = blob[: blob.rfind(b"\n") + 1]  # whole lines: one being appended is read again under the lock
    counts: Counter = Counter()
    head = _reseal_lines(done, keyring, str(path), counts)
    if not counts["resealed"] and len(done) == len(blob):
        return counts
    with _locked(path, exclusive=True) as fd:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        now = b"".join(chunks)
        if not now.startswith(done):  # rewritten meanwhile (another re-seal): all of it again, now
            done, head, counts = b"", b"", Counter()
        tail = _reseal_lines(now[len(done):], keyring, str(path), counts)
        if counts["resealed"]:
            atomic.write_bytes(path, head + tail, os.fstat(fd).st_mode & 0o777)
    return counts
