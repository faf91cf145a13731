"""The training process behind POST /v1/fine_tuning/jobs: started in its own session, watched by the
server, and its body (`python -m lextune.serve.fine_tuning_worker JOB`)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path

from lextune.core.config import child_env
from lextune.core.records import utcnow
from lextune.core.store import Store
from lextune.core.tables import JobEventRow, TrainingJobRow
from lextune.serve.openai_errors import APIError
from lextune.train.jobs import TERMINAL

log = logging.getLogger("lextune.serve")
_WORKERS: dict[str, subprocess.Popen] = {}  # this process's training children, by job id


def api_dir(store: Store) -> Path:
    """Where the API keeps each job's request details and process log."""
    folder = store.settings.home / "fine_tuning"
    folder.mkdir(parents=True, exist_ok=True)
    return folder



def start_worker(store: Store, job_id: str) -> None:
    """Start the job's training process and a thread that records how it ended if it could not say so."""
    env = child_env(store.settings)  # the job's own tenant store, whatever this process's environment says
    log_path = api_dir(store) / f"{job_id}.log"
    try:
        with log_path.open("ab") as out:
            # Its own session: Ctrl-C or a restart of the server does not stop training.
            proc = subprocess.Popen([sys.executable, "-m", "lextune.serve.fine_tuning_worker", job_id],
                                    env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    except OSError as e:
        mark_failed(store, job_id, f"could not start the training process: {e}")
        raise APIError(500, f"could not start the training process: {e}", code="internal_error") from None
    _WORKERS[job_id] = proc
    with store.session() as s:
        row = s.get(TrainingJobRow, job_id)
        if row.pid is None:  # the process may already have written its own
            row.pid = proc.pid
    threading.Thread(target=_watch, args=(store, job_id, proc, log_path), daemon=True,
                     name=f"watch-{job_id}").start()


def _watch(store: Store, job_id: str, proc: subprocess.Popen, log_path: Path) -> None:
    code = proc.wait()  # also reaps it: a zombie would look alive to refresh_liveness
    _WORKERS.pop(job_id, None)
    try:
        with store.session() as s:
            status = s.get(TrainingJobRow, job_id).status
        if status not in TERMINAL:
            lines = [ln for ln in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
            mark_failed(store, job_id, f"the training process exited with code {code}"
                         + (f": {lines[-1][-500:]}" if lines else ""))
    except Exception:  # the store may be gone (server shut down): say so, do not crash the thread
        log.warning("could not record how the training process of %s ended", job_id, exc_info=True)


def mark_failed(store: Store, job_id: str, message: str) -> None:
    with store.session() as s:
        row = s.get(TrainingJobRow, job_id)
        row.status, row.error, row.finished_at, row.pid = "failed", message, utcnow(), None
        s.add(JobEventRow(job_id=job_id, level="error", message=message))


def running_workers() -> dict[str, subprocess.Popen]:
    """This process's training children still running, by job id (for shutdown and tests)."""
    return {k: p for k, p in list(_WORKERS.items()) if p.poll() is None}


def work(job_id: str) -> int:
    """Run one job created by the API to its end (the body of the training process); the exit code.

    A failure before training starts (a dataset gone meanwhile) is recorded by the server's watcher
    thread from the exit code and the log's last line; later ones by the job itself."""
    from lextune.train import jobs
    from lextune.train.local import TrainingCancelled

    def terminate(signum, frame):  # SIGTERM ends the job the way Ctrl-C does: cancelled, checkpoints kept
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    store = Store()
    try:
        version = jobs.run_created_job(store, job_id, on_status=lambda m: print(m, flush=True))
    except (KeyboardInterrupt, TrainingCancelled):
        print(f"job {job_id} cancelled", flush=True)
        return 130
    except Exception:  # noqa: BLE001 - recorded on the job (or by the watcher), which is what a client reads
        traceback.print_exc()
        return 1
    finally:
        store.close()
    print(f"job {job_id} succeeded: model version {version.name} ({version.id})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(work(sys.argv[1]))
