"""What the review screen's sessions need to outlive a process: the signing secret and the sessions signed out.

Both live under the root store's LEXTUNE_HOME, in `review/`, so a restarted server, or a second worker on
the same home, accepts the cookies the first one signed and honours its sign-outs:

- `review/session-secret`: 32 random bytes, made once and sealed at rest with the store's keyring like
  the other files under the home (sealed_files' format, kind "review-session": only ciphertext on disk).
  It is created from a private temp file with link(2), which fails when the file exists, so two
  processes starting at once agree on one secret (the loser reads the winner's). A secret that no longer
  opens (its data key gone) or that is not sealed is replaced: everyone signs in again.
- `review/ended-sessions.json`: sessions signed out before their expiry, as sha256 digests of their
  nonces with that expiry (nothing that could be replayed). Sign-out adds one under an flock; each
  request checks the set, re-read only when the file changes. Entries past their expiry are dropped as
  new ones are added, so the file holds at most a working day (the session length) of sign-outs.

Workers on different machines share sessions only when they share the home folder (the database alone is
not enough): these files are not in the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from pathlib import Path

from lextune.core import atomic
from lextune.core.file_lock import exclusive
from lextune.core.store import Store
from lextune.security.sealed_files import REVIEW_SESSION, CiphertextError, is_sealed, read_sealed_bytes

log = logging.getLogger(__name__)

SECRET_BYTES = 32
KIND = REVIEW_SESSION  # the sealed file's associated data; `keys rotate --reencrypt` re-seals it
FOLDER = "review"
SECRET_FILE = "session-secret"
ENDED_FILE = "ended-sessions.json"


def folder_of(store: Store) -> Path:
    return Path(store.settings.home).expanduser() / FOLDER


# ---------------------------------------------------------------- the signing secret

def session_secret(store: Store) -> bytes:
    """The review sessions' signing secret of the installation at `store` (its root store): read from its
    sealed file, made on first use."""
    path = folder_of(store) / SECRET_FILE
    for _ in range(3):
        if path.exists():
            secret = _open_secret(path, store)
            if secret is not None:
                return secret
            log.warning("%s does not open (or is not sealed); making a new review session secret: "
                        "open review sessions end", path)
            _write_secret(path, store, replace=True)
        else:
            _write_secret(path, store, replace=False)
    secret = _open_secret(path, store)
    if secret is None:
        raise RuntimeError(f"{path}: cannot keep a review session secret there")
    return secret


def _open_secret(path: Path, store: Store) -> bytes | None:
    try:
        if not is_sealed(path):
            return None
        secret = read_sealed_bytes(path, store.keyring, KIND)
    except FileNotFoundError:
        return None
    except CiphertextError:
        return None
    return secret if len(secret) == SECRET_BYTES else None


def _write_secret(path: Path, store: Store, replace: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    blob = store.keyring.seal_file_bytes(secrets.token_bytes(SECRET_BYTES), KIND)
    if replace:
        atomic.write_bytes(path, blob)  # 0600, through a temp file and os.replace
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another process made it first: then theirs is the secret
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: last writer wins, the loop re-reads
            if not path.exists():
                os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


# ---------------------------------------------------------------- sessions signed out

def _digest(nonce: str) -> str:
    return hashlib.sha256(b"lextune-review-session:" + nonce.encode()).hexdigest()


class EndedSessions:
    """The set of signed-out sessions of one home, shared through `ended-sessions.json`."""

    def __init__(self, folder: Path):
        self.path = folder / ENDED_FILE
        self._lock = threading.Lock()
        self._seen: tuple | None = None
        self._ended: dict[str, int] = {}

    def end(self, nonce: str, expires: int) -> None:
        """Sign the session with this nonce out until its expiry (after which its cookie is refused anyway)."""
        now = int(time.time())
        with self._lock, self._file_lock():
            ended = {d: exp for d, exp in self._read().items() if exp > now}
            ended[_digest(nonce)] = int(expires)
            atomic.write_bytes(self.path, json.dumps(ended, sort_keys=True).encode())
            self._ended, self._seen = ended, self._stat()

    def is_ended(self, nonce: str) -> bool:
        with self._lock:
            seen = self._stat()
            if seen != self._seen:
                self._ended, self._seen = self._read(), seen
            return _digest(nonce) in self._ended

    def _stat(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    def _read(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError:
            log.warning("%s is not valid JSON; treating it as empty", self.path)
            return {}
        return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _file_lock(self):
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return exclusive(self.path.parent / f".{ENDED_FILE}.lock")
