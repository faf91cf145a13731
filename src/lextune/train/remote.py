"""Fine-tuning on a provider's API (the `openai` backend and any OpenAI-compatible service).

The per-firm flow of a hosted service: snapshot the dataset's splits as chat JSONL, upload,
create the job, poll until it ends while mirroring its events into the job's log, and register
the provider's model as a model version of kind "remote" (it lives there, not in an adapter
folder). Credentials come from the environment or LEXTUNE_HOME/config.yaml (`backends:` then
the backend's name), never from command-line arguments.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable

from lextune.core import audit
from lextune.core.errors import ConfigError
from lextune.core.records import DatasetInfo, ModelVersion, utcnow
from lextune.core.store import Store
from lextune.core.tables import TrainingJobRow
from lextune.core.yaml_config import read_yaml_mapping
from lextune.data.dataset import read_rows, split_path
from lextune.train.jobs import _rows_for, _update_job, add_event, get_job
from lextune.train.recipe import Recipe


def backend_config(store: Store, name: str) -> dict:
    """The backend's section of LEXTUNE_HOME/config.yaml ({} when there is none)."""
    path = store.settings.home / "config.yaml"
    if not path.is_file():
        return {}
    section = (read_yaml_mapping(path, "config").get("backends") or {}).get(name) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: backends.{name} must be a mapping")
    return section


def _hyperparameters(recipe: Recipe) -> dict:
    """The recipe's knobs that providers understand (the rest is local-engine only)."""
    return {"n_epochs": max(1, round(recipe.epochs)), "batch_size": recipe.batch_size}


def run_remote_training(store: Store, dataset: DatasetInfo, recipe: Recipe, backend_name: str,
                        base_model: str | None, name: str | None, suffix: str | None,
                        on_status: Callable[[str], None] | None = None, poll_interval: float = 5.0) -> ModelVersion:
    from lextune.registry.versions import check_version_name
    from lextune.train.backends import RemoteJob, get_backend

    if name:
        check_version_name(store, name)
    if not base_model:
        raise ConfigError(f"--base-model is required with --backend {backend_name}: the provider's model to tune")
    backend = get_backend(backend_name, backend_config(store, backend_name))  # fails fast if unsupported
    _rows_for(store, dataset, recipe)  # the same row checks as a local run
    job_id = "job-" + uuid.uuid4().hex[:12]
    snapshot = store.settings.home / "jobs" / job_id
    snapshot.mkdir(parents=True, exist_ok=True)
    train_file, dev_file = _snapshot(store, dataset, recipe, snapshot)
    with store.session() as s:
        s.add(TrainingJobRow(id=job_id, status="validating_files", dataset_id=dataset.id, base_model=base_model,
                             recipe=recipe.model_dump(), version_name=name, run_dir=str(snapshot),
                             backend=backend_name, pid=os.getpid(), host=socket.gethostname()))
        audit.record(s, "train.start", job_id, {"dataset": dataset.id, "backend": backend_name})
    try:
        if on_status:
            on_status(f"uploading to {backend_name}")
        job: RemoteJob = backend.submit(train_file, dev_file, base_model, _hyperparameters(recipe), suffix)
        _update_job(store, job_id, status=job.state, remote=job.model_dump(mode="json"))
        add_event(store, job_id, f"{backend_name} job {job.provider_job_id} created")

        def mirror(event) -> None:
            level = {"warn": "warning"}.get(event.level, event.level)  # OpenAI says "warn"
            add_event(store, job_id, event.message, level=level if level in ("info", "warning", "error") else "info",
                      metrics=event.metrics)
            if on_status:
                on_status(f"{backend_name}: {event.message}")

        job = backend.wait(job, on_event=mirror, interval=poll_interval)
        _update_job(store, job_id, status=job.state, remote=job.model_dump(mode="json"))
        provider_model = backend.result(job)
    except KeyboardInterrupt:
        _update_job(store, job_id, status="cancelled", finished_at=utcnow(), pid=None)
        add_event(store, job_id, "stopped waiting (Ctrl-C); the provider's job may still run: "
                  f"lextune jobs cancel {job_id}", level="warning")
        raise
    except Exception as e:
        state = "cancelled" if get_job(store, job_id).status == "cancelled" else "failed"
        _update_job(store, job_id, status=state, error=f"{type(e).__name__}: {e}", finished_at=utcnow(), pid=None)
        add_event(store, job_id, f"{state}: {e}", level="warning" if state == "cancelled" else "error")
        raise
    finally:
        backend.close()
    version = _register_remote(store, dataset, recipe, base_model, name, job, provider_model, job_id)
    _update_job(store, job_id, status="succeeded", model_version_id=version.id, finished_at=utcnow(), pid=None)
    add_event(store, job_id, f"succeeded: model version {version.name} is {provider_model}")
    return version


def _snapshot(store: Store, dataset: DatasetInfo, recipe: Recipe, folder):
    """The train (and dev) split frozen as OpenAI chat JSONL: what was sent is kept beside the job,
    sealed at rest like the dataset (the backend opens it to upload it)."""
    from lextune.data.exporters import write_openai_chat

    def rows(split: str):
        path = split_path(dataset, split)
        found = read_rows(path, store.keyring) if path.is_file() else []
        return [r for r in found if not recipe.tasks or r.task in recipe.tasks]

    train_file = folder / "train.openai.jsonl"
    write_openai_chat(rows("train"), train_file, keyring=store.keyring)
    dev = rows("dev")
    dev_file = None
    if dev:
        dev_file = folder / "dev.openai.jsonl"
        write_openai_chat(dev, dev_file, keyring=store.keyring)
    return train_file, dev_file


def _register_remote(store: Store, dataset: DatasetInfo, recipe: Recipe, base_model: str, name: str | None,
                     job, provider_model: str, job_id: str) -> ModelVersion:
    from lextune.registry.versions import next_version_name, register_version

    version = ModelVersion(
        id="mv-" + uuid.uuid4().hex[:12], name=name or next_version_name(store, dataset.name), base_model=base_model,
        adapter_path="", dataset_id=dataset.id, dataset_sha256=dataset.sha256, recipe=recipe.model_dump(),
        metrics={"training": {"job_id": job_id, "trained_tokens": job.trained_tokens, "skipped_rows": []}},
        kind="remote",
        remote={"backend": job.backend, "endpoint": job.endpoint, "provider_job_id": job.provider_job_id,
                "provider_file_ids": job.provider_file_ids, "fine_tuned_model": provider_model},
    )
    return register_version(store, version)


def cancel_remote(store: Store, job_row) -> str:
    """Cancel the provider's job; returns the state it reports."""
    from lextune.train.backends import RemoteJob, get_backend

    backend = get_backend(job_row.backend, backend_config(store, job_row.backend))
    try:
        job = backend.cancel(RemoteJob.model_validate(job_row.remote))
    finally:
        backend.close()
    _update_job(store, job_row.id, status=job.state, remote=job.model_dump(mode="json"),
                finished_at=utcnow() if job.done else None)
    add_event(store, job_row.id, f"cancel sent to {job_row.backend}: {job.state}", level="warning")
    return job.state

