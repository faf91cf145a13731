"""A result cache in front of any `Scorer`: the same question to the same model is answered from disk.

Every loglik / generate / kl_from_base result is stored in a SQLite file under the key
(scorer key, method, sha256 of the JSON of (prompt, choices or max_new_tokens)), so re-running an
evaluation, or running a second task that asks some of the same things, costs no model time. Only
the misses of a batch go to the inner scorer, in one call (duplicates asked once). The file is in
WAL mode so several processes can read and write it; each CachedScorer holds one connection,
guarded by a lock for use from several threads.

Values (generations quote client text) are sealed with the store's keyring when one is given; keys are
hashes. A value that does not open (a data key gone, a damaged row) is a miss: the cache is rebuilt,
never trusted blindly. Rows written before sealing (plain JSON) still read; `reseal_cache` seals them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

from lextune.evals.records import Generation, Prompt
from lextune.evals.tasks.base import Progress, Scorer
from lextune.security.keyring import TEXT_PREFIX, CiphertextError, Keyring

_SQL_VARIABLES = 500  # digests per SELECT ... IN (...), well under SQLite's limit
VALUE_AAD = "eval_cache.value"


def _open_value(value: str, keyring: Keyring | None) -> Any:
    if value.startswith(TEXT_PREFIX):
        if keyring is None:
            raise CiphertextError(f"{VALUE_AAD}: a sealed value and no keyring to open it")
        value = keyring.open_text(value, VALUE_AAD)
    return json.loads(value)


def _seal_value(value: Any, keyring: Keyring | None) -> str:
    text = json.dumps(value)
    return text if keyring is None else keyring.seal_text(text, VALUE_AAD)


def reseal_cache(path: Path, keyring: Keyring, batch: int = 500) -> dict[str, int]:
    """Seal every value with the active data key (plain ones too), a batch per transaction;
    rows that do not open are dropped (a cache: they are asked again). Counts by outcome."""
    counts = {"current": 0, "resealed": 0, "sealed": 0, "dropped": 0}
    if not Path(path).is_file():
        return counts
    db = sqlite3.connect(str(path), timeout=60)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'results'").fetchone():
            return counts
        last = -1
        while True:
            rows = db.execute("SELECT rowid, value FROM results WHERE rowid > ? ORDER BY rowid LIMIT ?",
                              (last, batch)).fetchall()
            if not rows:
                return counts
            with db:
                for rowid, value in rows:
                    if value.startswith(TEXT_PREFIX) and keyring.text_key_of(value) == keyring.active:
                        counts["current"] += 1
                        continue
                    try:
                        fresh = _seal_value(_open_value(value, keyring), keyring)
                    except (CiphertextError, ValueError):
                        db.execute("DELETE FROM results WHERE rowid = ?", (rowid,))
                        counts["dropped"] += 1
                        continue
                    db.execute("UPDATE results SET value = ? WHERE rowid = ? AND value = ?", (fresh, rowid, value))
                    counts["resealed" if value.startswith(TEXT_PREFIX) else "sealed"] += 1
            last = rows[-1][0]
    finally:
        db.close()


def cache_key_counts(path: Path, keyring: Keyring) -> dict[str | None, int]:
    """Values per data key id (None: plaintext), for `lextune keys status`."""
    out: dict[str | None, int] = {}
    if not Path(path).is_file():
        return out
    db = sqlite3.connect(str(path), timeout=60)
    try:
        for (value,) in db.execute("SELECT value FROM results"):
            kid = keyring.text_key_of(value)
            out[kid] = out.get(kid, 0) + 1
    except sqlite3.OperationalError:
        pass  # a file without the table: nothing cached yet
    finally:
        db.close()
    return out


def request_digest(prompt: Prompt, detail: Any) -> str:
    """sha256 of the canonical JSON of (prompt, choices or max_new_tokens)."""
    text = json.dumps([prompt, detail], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedScorer:
    """A `Scorer` that answers from `path` what it has seen before and asks `inner` the rest.

    `hits` and `misses` count rows answered from the file and rows sent to the inner scorer.
    Other attributes (e.g. ModelScorer.truncated) are read from the inner scorer.
    """

    def __init__(self, inner: Scorer, path: Path, keyring: Keyring | None = None):
        self.inner = inner
        self.keyring = keyring
        self.key = inner.key
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS results (model TEXT NOT NULL, method TEXT NOT NULL, "
                         "digest TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (model, method, digest))")
        self._db.commit()

    def __getattr__(self, name: str):  # only called for attributes CachedScorer itself lacks
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- the Scorer protocol -------------------------------------------------------------------

    def loglik(self, prompts: Sequence[Prompt], choices: Sequence[Sequence[str]],
               progress: Progress | None = None) -> list[list[tuple[float, int]]]:
        if len(prompts) != len(choices):
            raise ValueError(f"{len(prompts)} prompts but {len(choices)} choice lists")
        return self._cached(
            "loglik", prompts, [list(c) for c in choices],
            lambda idx, tick: self.inner.loglik([prompts[i] for i in idx], [choices[i] for i in idx], tick),
            encode=lambda v: [[float(lp), int(n)] for lp, n in v],
            decode=lambda v: [(lp, n) for lp, n in v], progress=progress)

    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int,
                 progress: Progress | None = None) -> list[Generation]:
        return self._cached(
            "generate", prompts, [max_new_tokens] * len(prompts),
            lambda idx, tick: self.inner.generate([prompts[i] for i in idx], max_new_tokens, tick),
            encode=lambda g: g.model_dump(), decode=Generation.model_validate, progress=progress)

    def kl_from_base(self, prompts: Sequence[Prompt], max_new_tokens: int,
                     progress: Progress | None = None) -> list[float]:
        return self._cached(
            "kl_from_base", prompts, [max_new_tokens] * len(prompts),
            lambda idx, tick: self.inner.kl_from_base([prompts[i] for i in idx], max_new_tokens, tick),
            encode=float, decode=float, progress=progress)

    # ---- storage -------------------------------------------------------------------------------

    def _cached(self, method: str, prompts: Sequence[Prompt], details: list, ask: Callable,
                encode: Callable, decode: Callable, progress: Progress | None) -> list:
        digests = [request_digest(p, d) for p, d in zip(prompts, details)]
        stored = self._load(method, digests)
        results: list = [None] * len(prompts)
        first_of: dict[str, int] = {}  # each missing request is asked once, even if it repeats
        for i, digest in enumerate(digests):
            if digest in stored:
                results[i] = decode(stored[digest])
            else:
                first_of.setdefault(digest, i)
        missing = sum(1 for d in digests if d not in stored)
        self.hits += len(prompts) - missing
        if progress and len(prompts) > missing:
            progress(len(prompts) - missing)
        if first_of:
            idx = list(first_of.values())
            fresh = ask(idx, progress)
            if len(fresh) != len(idx):
                raise RuntimeError(f"{method}: the inner scorer answered {len(fresh)} of {len(idx)} requests")
            self.misses += len(idx)
            by_digest = {digests[i]: value for i, value in zip(idx, fresh)}
            self._store(method, {d: encode(v) for d, v in by_digest.items()})
            for i, digest in enumerate(digests):
                if results[i] is None:
                    results[i] = by_digest[digest]
            if progress and missing > len(idx):
                progress(missing - len(idx))  # the repeats, answered with their first copy
        return results

    def _load(self, method: str, digests: list[str]) -> dict[str, Any]:
        unique = list(dict.fromkeys(digests))
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(unique), _SQL_VARIABLES):
                chunk = unique[start: start + _SQL_VARIABLES]
                rows = self._db.execute(
                    f"SELECT digest, value FROM results WHERE model = ? AND method = ? "
                    f"AND digest IN ({','.join('?' * len(chunk))})", [self.key, method, *chunk]).fetchall()
                for d, v in rows:
                    try:
                        found[d] = _open_value(v, self.keyring)
                    except (CiphertextError, ValueError):
                        continue  # a miss: asked again and stored afresh
        return found

    def _store(self, method: str, values: dict[str, Any]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO results (model, method, digest, value) VALUES (?, ?, ?, ?)",
                                 [(self.key, method, d, _seal_value(v, self.keyring)) for d, v in values.items()])
