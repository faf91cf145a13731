"""Sign-in lockout for the review screen: a client that keeps presenting bad API keys is made to wait.

Failed sign-ins are counted per client address, and per key id as well when the presented text has the
shape of a key (`ltk_<id>_<secret>`: someone guessing one key's secret from many addresses). MAX_FAILURES
failures of either within WINDOW_S lock it out for LOCKOUT_S: sign-in answers 429 with Retry-After, and
the key presented meanwhile is not even checked (no oracle, no hashing cost). The answer is the same
whether or not the key exists. A successful sign-in clears the counts of its address and key id.

Each attempt is counted when it starts and forgotten if it succeeds, so concurrent guesses cannot slip
past the limit while their keys are being hashed.

The counts are kept in memory, per process (per app): simple, no writes on the hot path, and nothing
to clean up; the audit rows (review.login.failed, review.login.locked) are the durable record. The cost:
a restart forgets them, and N workers allow up to N x MAX_FAILURES guesses per window. Behind a reverse
proxy every client has the proxy's address: put the lockout at the proxy instead, or expect one
client's failures to lock everyone out.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_FAILURES = 5  # failed sign-ins ...
WINDOW_S = 15 * 60  # ... within this many seconds lock the address (or key id) out ...
LOCKOUT_S = 15 * 60  # ... for this long
MAX_TRACKED = 10_000  # addresses and key ids remembered at once (memory bound; the oldest idle go first)

Subject = tuple[str, str]  # ("client", address) | ("key", key id): only a key's public id, never its secret


def subjects(client: str, key_id: str | None) -> list[Subject]:
    return [("client", client)] + ([("key", key_id)] if key_id else [])


class LoginGuard:
    """The failure counts and lockouts of one app (one process)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._tries: dict[Subject, deque[float]] = {}  # attempts not known to have succeeded, oldest first
        self._locked: dict[Subject, float] = {}  # locked until (clock time)

    def begin(self, who: list[Subject]) -> float:
        """Before checking a key: the seconds left of a lockout (the attempt is refused), or 0 and the
        attempt is counted as a failure until `succeeded`."""
        with self._lock:
            now = self._clock()
            wait = self._wait(who, now)
            if wait > 0:
                return wait
            for s in who:
                self._tries_of(s, now).append(now)
            return 0.0

    def failed(self, who: list[Subject]) -> tuple[int, float]:
        """After a failed attempt: (the most failures any of `who` has in the window, the lockout in seconds
        this failure started, 0 if none)."""
        with self._lock:
            now = self._clock()
            counts = [len(self._tries_of(s, now)) for s in who]
            locking = [s for s, n in zip(who, counts, strict=True) if n >= MAX_FAILURES]
            for s in locking:
                self._locked[s] = now + LOCKOUT_S
                self._tries.pop(s, None)  # a fresh count once the lockout ends
            return max(counts), (float(LOCKOUT_S) if locking else 0.0)

    def succeeded(self, who: list[Subject]) -> None:
        with self._lock:
            for s in who:
                self._tries.pop(s, None)
                self._locked.pop(s, None)

    def _wait(self, who: list[Subject], now: float) -> float:
        wait = 0.0
        for s in who:
            until = self._locked.get(s)
            if until is not None and until <= now:
                del self._locked[s]
            elif until is not None:
                wait = max(wait, until - now)
            tries = self._tries_of(s, now, create=False)
            if tries is not None and len(tries) >= MAX_FAILURES:  # attempts still being checked fill the limit
                wait = max(wait, tries[len(tries) - MAX_FAILURES] + WINDOW_S - now)
        return wait

    def _tries_of(self, s: Subject, now: float, create: bool = True) -> deque[float] | None:
        tries = self._tries.get(s)
        if tries is None:
            if not create:
                return None
            if len(self._tries) + len(self._locked) >= MAX_TRACKED:
                self._forget(now)
            tries = self._tries[s] = deque()
        while tries and tries[0] <= now - WINDOW_S:
            tries.popleft()
        return tries

    def _forget(self, now: float) -> None:
        """Make room: drop expired entries, then the idle ones whose last attempt is oldest (never a lockout
        still running, unless nothing else is left)."""
        for s in [s for s, until in self._locked.items() if until <= now]:
            del self._locked[s]
        for s in [s for s, t in self._tries.items() if not t or t[-1] <= now - WINDOW_S]:
            del self._tries[s]
        excess = len(self._tries) + len(self._locked) - MAX_TRACKED + 1
        if excess > 0:
            for s in sorted(self._tries, key=lambda s: self._tries[s][-1])[:excess]:
                del self._tries[s]
        excess = len(self._tries) + len(self._locked) - MAX_TRACKED + 1
        if excess > 0:
            for s in sorted(self._locked, key=self._locked.__getitem__)[:excess]:
                del self._locked[s]


_GUARDS_LOCK = threading.Lock()


def guard_of(app) -> LoginGuard:
    """The app's LoginGuard, made on first use."""
    with _GUARDS_LOCK:
        guard = getattr(app.state, "review_login_guard", None)
        if guard is None:
            guard = app.state.review_login_guard = LoginGuard()
        return guard
