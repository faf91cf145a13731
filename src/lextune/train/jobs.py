"""Training jobs: rows in the store with the OpenAI job states, events, checkpoints; resumable, cancellable.

A job moves validating_files -> queued -> running -> succeeded | failed | cancelled. Its events
(level, message, metrics) are its log; its checkpoints (step, metrics) are folders under the
job's run folder, written whole or not at all. A job whose process died (SIGKILL, power cut)
still says `running` in the store until someone looks: `refresh_liveness` marks it failed, and
`lextune train --resume JOB` continues it from its newest checkpoint.
"""

from __future__ import annotations

import json
import os
import socket
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from lextune import __version__
from lextune.core import audit
from lextune.core.atomic import atomic_dir
from lextune.core.errors import ConfigError, DatasetError, NotFoundError
from lextune.core.records import DatasetInfo, ModelVersion, utcnow
from lextune.core.store import Store
from lextune.core.tables import JobCheckpointRow, JobEventRow, TrainingJobRow
from lextune.data.dataset import get_dataset, read_rows, split_path
from lextune.security.sealed_files import ADAPTER, write_sealed_text
from lextune.train.local import StepCallback, TrainHooks, TrainingCancelled, TrainResult, save_adapter
from lextune.train.recipe import Recipe

JOB_STATES = ("validating_files", "queued", "running", "succeeded", "failed", "cancelled")
TERMINAL = ("succeeded", "failed", "cancelled")
EVENT_EVERY = 5  # a step event every this many steps (and the first and last)


# ---- the job row -------------------------------------------------------------------------------

def _update_job(store: Store, job_id: str, **fields) -> None:
    with store.session() as s:
        job = s.get(TrainingJobRow, job_id)
        for k, v in fields.items():
            setattr(job, k, v)


def add_event(store: Store, job_id: str, message: str, level: str = "info", metrics: dict | None = None) -> None:
    with store.session() as s:
        s.add(JobEventRow(job_id=job_id, level=level, message=message, metrics=metrics))


def get_job(store: Store, ref: str) -> TrainingJobRow:
    with store.session() as s:
        row = s.get(TrainingJobRow, ref)
        if row is None:
            known = s.scalars(select(TrainingJobRow.id).order_by(TrainingJobRow.started_at.desc()).limit(5)).all()
            raise NotFoundError(f"no training job '{ref}'; newest: {', '.join(known) or 'none (run lextune train)'}")
        s.expunge(row)
        return row


def list_jobs(store: Store) -> list[TrainingJobRow]:
    refresh_liveness(store)
    with store.session() as s:
        rows = list(s.scalars(select(TrainingJobRow).order_by(TrainingJobRow.started_at)))
        for r in rows:
            s.expunge(r)
        return rows


def job_events(store: Store, job_id: str, after: int = 0) -> list[JobEventRow]:
    with store.session() as s:
        rows = list(s.scalars(select(JobEventRow).where(JobEventRow.job_id == job_id, JobEventRow.id > after)
                              .order_by(JobEventRow.id)))
        for r in rows:
            s.expunge(r)
        return rows


def job_checkpoints(store: Store, job_id: str) -> list[JobCheckpointRow]:
    """Checkpoints whose folder is still there (older ones are pruned as training goes)."""
    with store.session() as s:
        rows = list(s.scalars(select(JobCheckpointRow).where(JobCheckpointRow.job_id == job_id)
                              .order_by(JobCheckpointRow.step)))
        for r in rows:
            s.expunge(r)
    return [r for r in rows if Path(r.path).is_dir()]


def _alive(pid: int | None, host: str | None) -> bool:
    if pid is None or host != socket.gethostname():
        return True  # another machine's process: cannot tell from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def refresh_liveness(store: Store) -> None:
    """Mark failed the local jobs whose process is gone without a word (killed, crashed, power cut)."""
    with store.session() as s:
        for job in s.scalars(select(TrainingJobRow).where(TrainingJobRow.status.in_(("queued", "running")),
                                                          TrainingJobRow.backend == "local")):
            if not _alive(job.pid, job.host):
                job.status, job.finished_at = "failed", utcnow()
                job.error = (f"the training process (pid {job.pid}) ended without a word (killed?); "
                             f"continue it with: lextune train --resume {job.id}")
                s.add(JobEventRow(job_id=job.id, level="error", message=job.error))


def job_summary(store: Store, job: TrainingJobRow) -> dict[str, Any]:
    """What `lextune jobs show --json` prints."""
    from lextune.core.tables import ModelVersionRow

    version = None
    if job.model_version_id:
        with store.session() as s:
            row = s.get(ModelVersionRow, job.model_version_id)
            version = row.name if row else job.model_version_id
    return {
        "id": job.id, "state": job.status, "backend": job.backend, "dataset_id": job.dataset_id,
        "base_model": job.base_model, "step": job.step, "total_steps": job.total_steps,
        "last_loss": job.last_loss, "final_loss": job.final_loss, "model_version": version,
        "model_version_id": job.model_version_id, "error": job.error, "run_dir": job.run_dir,
        "cancel_requested": bool(job.cancel_requested), "pid": job.pid,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "checkpoints": [{"step": c.step, "path": c.path, "metrics": c.metrics,
                         "created_at": c.created_at.isoformat()} for c in job_checkpoints(store, job.id)],
        "remote": job.remote, "recipe": job.recipe,
    }


def request_cancel(store: Store, job_id: str) -> str:
    """Ask a job to stop; a running local job stops before its next step. Returns the state after asking."""
    refresh_liveness(store)
    job = get_job(store, job_id)
    if job.status in TERMINAL:
        return job.status
    if job.backend != "local" and job.remote:
        from lextune.train.remote import cancel_remote

        return cancel_remote(store, job)
    with store.session() as s:
        row = s.get(TrainingJobRow, job_id)
        row.cancel_requested = True
        if row.status in ("validating_files", "queued") and not _alive(row.pid, row.host):
            row.status, row.finished_at = "cancelled", utcnow()
        s.add(JobEventRow(job_id=job_id, level="warning", message="cancellation requested"))
        audit.record(s, "train.cancel", job_id, {})
        return row.status


# ---- running -----------------------------------------------------------------------------------

def _rows_for(store: Store, dataset: DatasetInfo, recipe: Recipe):
    rows = read_rows(split_path(dataset, "train"), store.keyring)
    dev_path = split_path(dataset, "dev")
    dev = read_rows(dev_path, store.keyring) if dev_path.is_file() else []
    if recipe.tasks:
        rows = [r for r in rows if r.task in recipe.tasks]
        dev = [r for r in dev if r.task in recipe.tasks]
    if len(rows) < recipe.min_rows:
        raise DatasetError(
            f"dataset {dataset.id} has {len(rows)} training rows{' for ' + str(recipe.tasks) if recipe.tasks else ''};"
            f" at least {recipe.min_rows} are needed to fine-tune (add labelled documents)"
        )
    return rows, dev


def run_training(
    store: Store, dataset: DatasetInfo, recipe: Recipe, name: str | None = None,
    on_step: StepCallback | None = None, on_status: Callable[[str], None] | None = None,
) -> ModelVersion:
    """Train a LoRA adapter on the dataset's train split and register it as a model version.

    The name is checked and the rows validated before any model is loaded. The adapter folder
    appears only when training succeeded (atomic rename), so an error or Ctrl-C leaves no
    half-written version; the job row and its events record how it ended.
    """
    from lextune.registry.versions import check_version_name

    if name:
        check_version_name(store, name)
    rows, dev = _rows_for(store, dataset, recipe)
    job_id = "job-" + uuid.uuid4().hex[:12]
    run_dir = store.settings.home / "jobs" / job_id
    with store.session() as s:
        s.add(TrainingJobRow(id=job_id, status="validating_files", dataset_id=dataset.id, base_model=recipe.base_model,
                             recipe=recipe.model_dump(), version_name=name, run_dir=str(run_dir),
                             pid=os.getpid(), host=socket.gethostname()))
        audit.record(s, "train.start", job_id, {"dataset": dataset.id, "rows": len(rows)})
    add_event(store, job_id, f"validated {len(rows)} training rows and {len(dev)} dev rows of {dataset.id}")
    return _run(store, job_id, dataset, recipe, rows, dev, resume=False, on_step=on_step, on_status=on_status)


def resume_training(store: Store, job_id: str, on_step: StepCallback | None = None,
                    on_status: Callable[[str], None] | None = None) -> ModelVersion:
    """Continue a job that failed, was killed or cancelled, from its newest checkpoint."""
    refresh_liveness(store)
    job = get_job(store, job_id)
    if job.status == "succeeded":
        raise ConfigError(f"job {job_id} already succeeded (model version {job.model_version_id})")
    if job.status in ("queued", "running", "validating_files"):
        raise ConfigError(f"job {job_id} is still {job.status} (pid {job.pid}); cancel it first or wait")
    if job.backend != "local":
        raise ConfigError(f"job {job_id} ran on {job.backend}: resume it there")
    recipe = Recipe.model_validate(job.recipe)
    dataset = get_dataset(store, job.dataset_id)
    rows, dev = _rows_for(store, dataset, recipe)
    _update_job(store, job_id, status="validating_files", error=None, finished_at=None, cancel_requested=False,
                pid=os.getpid(), host=socket.gethostname())
    from lextune.train.local import checkpoint_dirs

    latest = checkpoint_dirs(Path(job.run_dir))[-1:] if job.run_dir else []
    add_event(store, job_id, f"resuming from {latest[0].name if latest else 'the start (no checkpoint yet)'}")
    return _run(store, job_id, dataset, recipe, rows, dev, resume=True, on_step=on_step, on_status=on_status)


def run_created_job(store: Store, job_id: str, on_step: StepCallback | None = None,
                    on_status: Callable[[str], None] | None = None) -> ModelVersion:
    """Run a local job whose row was created but not started (by POST /v1/fine_tuning/jobs)."""
    job = get_job(store, job_id)
    if job.backend != "local" or job.status != "validating_files" or job.step:
        raise ConfigError(f"job {job_id} is {job.status} on {job.backend}; only a new local job can be "
                          f"started (continue others with lextune train --resume {job_id})")
    recipe = Recipe.model_validate(job.recipe)
    dataset = get_dataset(store, job.dataset_id)
    rows, dev = _rows_for(store, dataset, recipe)
    _update_job(store, job_id, pid=os.getpid(), host=socket.gethostname())
    return _run(store, job_id, dataset, recipe, rows, dev, resume=False, on_step=on_step, on_status=on_status)


def _run(store: Store, job_id: str, dataset: DatasetInfo, recipe: Recipe, rows, dev, resume: bool,
         on_step: StepCallback | None, on_status: Callable[[str], None] | None) -> ModelVersion:
    from lextune.models.loading import load_base_model
    from lextune.train.local import train_lora
    from lextune.train.tracking import Trackers

    job = get_job(store, job_id)
    run_dir = Path(job.run_dir)
    trackers = Trackers(recipe.report_to, job_id, {"recipe": recipe.model_dump(), "dataset": dataset.id},
                        store.settings.home, lambda m: add_event(store, job_id, m, level="warning"))

    def step_cb(step: int, total: int, loss: float) -> None:
        trackers.log({"loss": loss}, step)
        if step == 1 or step % EVENT_EVERY == 0 or step == total:
            _update_job(store, job_id, step=step, total_steps=total, last_loss=loss)
            add_event(store, job_id, f"step {step}/{total}", metrics={"step": step, "loss": loss})
        if on_step:
            on_step(step, total, loss)

    def checkpoint_cb(step: int, folder: Path, metrics: dict) -> None:
        with store.session() as s:
            s.add(JobCheckpointRow(job_id=job_id, step=step, path=str(folder), metrics=metrics))
            s.add(JobEventRow(job_id=job_id, message=f"checkpoint at step {step}", metrics={"step": step, **metrics}))

    def eval_cb(step: int, val_loss: float) -> None:
        trackers.log({"val_loss": val_loss}, step)
        add_event(store, job_id, f"validation loss {val_loss:.4f} at step {step}",
                  metrics={"step": step, "val_loss": val_loss})

    def should_stop() -> bool:
        with store.session() as s:
            return bool(s.scalar(select(TrainingJobRow.cancel_requested).where(TrainingJobRow.id == job_id)))

    hooks = TrainHooks(on_step=step_cb, on_eval=eval_cb, on_checkpoint=checkpoint_cb, should_stop=should_stop)
    try:
        _update_job(store, job_id, status="queued")
        if on_status:
            on_status("loading base model")
        model, tokenizer, resolved = load_base_model(recipe.base_model, store.settings,
                                                     quantization=recipe.quantization)
        _update_job(store, job_id, status="running")
        add_event(store, job_id, f"training {resolved.name} on {len(rows)} rows")
        if on_status:
            on_status(f"training on {len(rows)} rows")
        peft_model, result = train_lora(model, tokenizer, rows, recipe, dev_rows=dev, run_dir=run_dir,
                                        resume=resume, hooks=hooks, keyring=store.keyring)
        if result.skipped_rows:
            add_event(store, job_id, f"{len(result.skipped_rows)} rows left out", level="warning",
                      metrics={"skipped": result.skipped_reasons})
        version = _save_version(store, dataset, recipe, resolved.name, job.version_name, peft_model, result, job_id)
    except (KeyboardInterrupt, TrainingCancelled) as e:
        why = "Ctrl-C" if isinstance(e, KeyboardInterrupt) else "a cancel request"
        # The last event before the final state: a poller that sees the state has all the events.
        add_event(store, job_id, f"cancelled by {why}; checkpoints are kept (lextune train --resume {job_id})",
                  level="warning")
        _update_job(store, job_id, status="cancelled", finished_at=utcnow(), pid=None)
        trackers.end("cancelled")
        raise
    except Exception as e:
        add_event(store, job_id, f"failed: {type(e).__name__}: {e}", level="error",
                  metrics={"traceback": traceback.format_exc(limit=8)})
        _update_job(store, job_id, status="failed", error=f"{type(e).__name__}: {e}", finished_at=utcnow(), pid=None)
        trackers.end("failed")
        raise
    trackers.end("succeeded")
    final = result.loss_curve[-1][1] if result.loss_curve else None
    add_event(store, job_id, f"succeeded: model version {version.name} ({version.id})",
              metrics={"final_loss": final, "steps": result.steps, "seconds": round(result.seconds, 1)})
    _update_job(store, job_id, status="succeeded", model_version_id=version.id, finished_at=utcnow(),
                final_loss=final, pid=None)
    return version


def _save_version(store: Store, dataset: DatasetInfo, recipe: Recipe, base_name: str, name: str | None,
                  peft_model, result: TrainResult, job_id: str) -> ModelVersion:
    from sqlalchemy.exc import IntegrityError

    from lextune.registry.versions import next_version_name, register_version

    version_id = "mv-" + uuid.uuid4().hex[:12]
    final = store.settings.versions_dir / version_id
    training = {"job_id": job_id, "steps": result.steps, "seconds": round(result.seconds, 1),
                "train_tokens": result.train_tokens, "skipped_rows": result.skipped_rows,
                "skipped_reasons": result.skipped_reasons, "cut_rows": result.cut_rows,
                "final_loss": result.loss_curve[-1][1] if result.loss_curve else None,
                "loss_curve": result.loss_curve, "val_curve": result.val_curve, "best_step": result.best_step,
                "stopped_early": result.stopped_early, "resumed_from": result.resumed_from}
    version = ModelVersion(
        id=version_id, name=name or next_version_name(store, dataset.name), base_model=base_name,
        adapter_path=str(final), dataset_id=dataset.id, dataset_sha256=dataset.sha256,
        recipe=recipe.model_dump(), metrics={"training": training},
    )
    # Sealed at rest: the weights carry what training saw, the cards name the version and its data.
    card = {**version.model_dump(mode="json"), "lextune_version": __version__}
    with atomic_dir(final) as tmp:
        save_adapter(peft_model, tmp, store.keyring)
        write_sealed_text(tmp / "model_card.json", json.dumps(card, indent=2, ensure_ascii=False, default=str) + "\n",
                          store.keyring, ADAPTER)
        write_sealed_text(tmp / "README.md", _card_markdown(version), store.keyring, ADAPTER)
    for _ in range(3):  # an automatic name another job took meanwhile: take the next one
        try:
            return register_version(store, version)
        except IntegrityError:
            if name:
                raise ConfigError(f"model version name '{name}' was taken while training; the adapter is at "
                                  f"{final}") from None
            version = version.model_copy(update={"name": next_version_name(store, dataset.name)})
    raise ConfigError(f"could not register the version (adapter kept at {final})")  # pragma: no cover


def _card_markdown(v: ModelVersion) -> str:
    t = v.metrics.get("training", {})
    return (
        f"# {v.name}\n\nLoRA adapter trained by lextune.\n\n"
        f"- version id: `{v.id}`\n- base model: `{v.base_model}`\n"
        f"- dataset: `{v.dataset_id}` (sha256 `{v.dataset_sha256}`)\n"
        f"- steps: {t.get('steps')}, seconds: {t.get('seconds')}, final loss: {t.get('final_loss')}\n\n"
        "The full recipe and metrics are in `model_card.json`.\n"
    )
