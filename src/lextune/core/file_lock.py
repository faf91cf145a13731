"""One exclusive lock between processes (and threads): an flock on a lock file beside what it guards.

Each open() is its own lock owner, so threads of one process exclude each other too. Where there is no
fcntl (Windows) the caller runs unlocked: each caller says what that costs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


@contextmanager
def exclusive(lock_path: Path, *, unlocked_if_unwritable: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (created, with its folder). `unlocked_if_unwritable`: a folder
    where the lock file cannot be made runs the block unlocked instead of failing."""
    if fcntl is None:
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        f = open(lock_path, "a")  # noqa: SIM115 - closed by the `with` below
    except OSError:
        if not unlocked_if_unwritable:
            raise
        yield
        return
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
