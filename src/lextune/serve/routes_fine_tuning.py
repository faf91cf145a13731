"""`/v1/fine_tuning/jobs`: OpenAI's fine-tuning API over lextune's own jobs and local training engine.

Creating a job turns the uploaded chat JSONL into a lextune dataset (rows name the file as their
document), writes the job row, and starts a training process of its own (`python -m
lextune.serve.fine_tuning_worker JOB`, in its own session): the request returns at once, training
survives a restart of the server, `lextune jobs cancel|show|logs` and `lextune train --resume JOB`
work on it as on any CLI job, and a crash of the process is caught and recorded. Every job in the
store (CLI ones included) is listed; the fine-tuned model is the registered model version's name.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select

from lextune.core import audit
from lextune.core.atomic import write_json
from lextune.core.errors import LextuneError, ModelError, NotFoundError
from lextune.core.store import Store
from lextune.core.tables import JobCheckpointRow, JobEventRow, ModelVersionRow, TrainingJobRow
from lextune.serve import files_store
from lextune.serve.auth import need, tenant_store
from lextune.serve.fine_tuning_worker import api_dir as _api_dir
from lextune.serve.fine_tuning_worker import mark_failed, running_workers, start_worker  # noqa: F401
from lextune.serve.openai_errors import APIError, OpenAIRoute
from lextune.train.jobs import TERMINAL, add_event, job_checkpoints, refresh_liveness, request_cancel
from lextune.train.recipe import Recipe

router = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["fine-tuning"], route_class=OpenAIRoute)

DEFAULT_LEARNING_RATE: float = Recipe.model_fields["learning_rate"].default
_SUFFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
log = logging.getLogger("lextune.serve")
_CREATE_LOCK = threading.Lock()  # a version name is reserved and its job row written in one go


# ---- the request ---------------------------------------------------------------------------------

def _positive(value: Any, integer: bool) -> Any:
    if value == "auto":
        return value
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        what = "a positive integer" if integer else "a positive number"
        raise PydanticCustomError("invalid_hyperparameter", "must be 'auto' or {what}, got {value}",
                                  {"what": what, "value": repr(value)})
    return value


class Hyperparameters(BaseModel):
    """OpenAI's hyperparameters; each maps onto the server's base recipe ('auto' keeps the recipe's value)."""

    model_config = ConfigDict(extra="forbid")
    n_epochs: Any = Field("auto", description="Recipe epochs (fractions allowed).")
    batch_size: Any = Field("auto", description="Recipe batch_size: rows per optimizer step.")
    learning_rate_multiplier: Any = Field("auto", description="Times the base recipe's learning rate.")

    @field_validator("n_epochs", "learning_rate_multiplier")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return _positive(v, integer=False)

    @field_validator("batch_size")
    @classmethod
    def _integer(cls, v: Any) -> Any:
        return _positive(v, integer=True)


class Supervised(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hyperparameters: Hyperparameters | None = None


class Method(BaseModel):
    """Only supervised fine-tuning: LoRA on the assistant's answers."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["supervised"]
    supervised: Supervised | None = None


class CreateJob(BaseModel):
    """The body of POST /v1/fine_tuning/jobs (fields OpenAI defines and lextune can honour)."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, description="Base model: catalog name, GGUF file or HF model folder.")
    training_file: str
    validation_file: str | None = None
    hyperparameters: Hyperparameters | None = None
    method: Method | None = None
    suffix: str | None = Field(None, description="The new model version is named SUFFIX-vN (default ft-vN).")
    seed: int | None = None
    metadata: dict[str, str] | None = None

    @field_validator("suffix")
    @classmethod
    def _suffix(cls, v: str | None) -> str | None:
        if v is not None and not _SUFFIX.fullmatch(v):
            raise PydanticCustomError("invalid_suffix", "must be 1 to 64 letters, digits, '.', '_' or '-', "
                                      "starting with a letter or digit")
        return v

    def hyperparameters_given(self) -> Hyperparameters:
        from_method = self.method.supervised.hyperparameters if self.method and self.method.supervised else None
        if from_method is not None and self.hyperparameters is not None:
            raise APIError(422, "hyperparameters: give them either at the top level or under "
                           "method.supervised, not both", param="hyperparameters", code="invalid_value")
        return from_method or self.hyperparameters or Hyperparameters()


# ---- the job object ------------------------------------------------------------------------------

def _store(request: Request) -> Store:
    return tenant_store(request)


def _api_info(store: Store, job_id: str) -> dict[str, Any]:
    """What the API request said (files, suffix, metadata); {} for a job started elsewhere (the CLI)."""
    path = _api_dir(store) / f"{job_id}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _ts(value: datetime | None) -> int | None:
    if value is None:
        return None
    # SQLite hands back naive datetimes; lextune stores them in UTC.
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def _resolved_hyperparameters(recipe: dict[str, Any], base_learning_rate: float) -> dict[str, Any]:
    """The values the job trains with, in OpenAI's terms (the multiplier is of the base recipe's rate)."""
    lr = recipe.get("learning_rate", DEFAULT_LEARNING_RATE)
    return {"n_epochs": _number(recipe.get("epochs", 1.0)), "batch_size": recipe.get("batch_size"),
            "learning_rate_multiplier": _number(round(lr / base_learning_rate, 8))}


def job_object(store: Store, row: TrainingJobRow) -> dict[str, Any]:
    """The job as OpenAI's FineTuningJob object."""
    info = _api_info(store, row.id)
    recipe = row.recipe or {}
    version, tokens = None, None
    if row.model_version_id and row.status == "succeeded":
        with store.session() as s:
            v = s.get(ModelVersionRow, row.model_version_id)
            if v is not None:
                training = (v.metrics or {}).get("training", {})
                version, tokens = v.name, training.get("train_tokens", training.get("trained_tokens"))
    hp = info.get("hyperparameters") or _resolved_hyperparameters(recipe, DEFAULT_LEARNING_RATE)
    error = None
    if row.status == "failed":
        error = {"code": "training_failed", "message": row.error or "the training process failed", "param": None}
    return {
        "id": row.id, "object": "fine_tuning.job", "created_at": _ts(row.started_at),
        "finished_at": _ts(row.finished_at), "model": row.base_model, "fine_tuned_model": version,
        "organization_id": "org-lextune", "result_files": [], "status": row.status,
        "training_file": info.get("training_file", row.dataset_id), "validation_file": info.get("validation_file"),
        "hyperparameters": hp, "trained_tokens": tokens, "error": error, "seed": recipe.get("seed", 0),
        "estimated_finish": None, "integrations": None, "metadata": info.get("metadata"),
        "method": {"type": "supervised", "supervised": {"hyperparameters": hp}},
        "user_provided_suffix": info.get("suffix"),
    }


def _row(store: Store, job_id: str) -> TrainingJobRow:
    with store.session() as s:
        row = s.get(TrainingJobRow, job_id)
        if row is None:
            raise APIError(404, f"No fine-tuning job '{job_id}'", param="fine_tuning_job_id", code="job_not_found")
        s.expunge(row)
        return row


def _page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """A cursor page: `after` is the id of the last item of the previous page (items already in order)."""
    if after is not None:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit}


# ---- routes --------------------------------------------------------------------------------------

@router.post("", dependencies=[Depends(need("train"))])
def create_job(request: Request, body: CreateJob) -> dict:
    """Validate the files and parameters, register the dataset, and start training in the background."""
    store = _store(request)
    hp = body.hyperparameters_given()
    files = {"training_file": body.training_file, "validation_file": body.validation_file}
    for field, file_id in files.items():
        if file_id is None:
            continue
        try:
            record = files_store.get_file(store.settings.home, file_id, keyring=store.keyring)
        except NotFoundError:
            raise APIError(404, f"{field}: no file '{file_id}'", param=field, code="file_not_found") from None
        if record.purpose != "fine-tune":
            raise APIError(422, f"{field}: file {file_id} has purpose '{record.purpose}'; upload it with "
                           "purpose 'fine-tune'", param=field, code="invalid_file")
    try:
        from lextune.models.catalog import resolve_base_model

        resolved = resolve_base_model(body.model)
    except ModelError as e:
        raise APIError(422, f"model: {e}", param="model", code="model_not_found") from None
    # A path is kept absolute: the training process must find it whatever its working folder.
    model = body.model if resolved.kind == "catalog" else str((resolved.directory / (resolved.gguf_file or "")).resolve())
    base = getattr(request.app.state, "fine_tuning_recipe", None) or Recipe()
    recipe = _recipe(base, body.model_copy(update={"model": model}), hp)
    try:
        dataset = files_store.register_chat_dataset(store, body.training_file, body.validation_file)
    except LextuneError as e:
        raise APIError(422, f"training_file: {e}", param="training_file", code="invalid_file") from None
    n_train, n_dev = dataset.counts["train"].get(files_store.CHAT_TASK, 0), dataset.counts["dev"].get(
        files_store.CHAT_TASK, 0)
    if n_train < recipe.min_rows:
        raise APIError(422, f"training_file: {body.training_file} has {n_train} example(s); at least "
                       f"{recipe.min_rows} are needed to fine-tune", param="training_file", code="invalid_file")

    job_id = "job-" + uuid.uuid4().hex[:12]
    info = {**files, "suffix": body.suffix, "metadata": body.metadata,
            "hyperparameters": _resolved_hyperparameters(recipe.model_dump(), base.learning_rate)}
    write_json(_api_dir(store) / f"{job_id}.json", info)
    with _CREATE_LOCK:
        name = _reserve_version_name(store, body.suffix or "ft")
        with store.session() as s:
            s.add(TrainingJobRow(id=job_id, status="validating_files", dataset_id=dataset.id,
                                 base_model=recipe.base_model, recipe=recipe.model_dump(), version_name=name,
                                 run_dir=str(store.settings.home / "jobs" / job_id), host=socket.gethostname()))
            audit.record(s, "train.start", job_id, {"dataset": dataset.id, "rows": n_train, "via": "api",
                                                    "training_file": body.training_file})
    add_event(store, job_id, f"validated {n_train} training rows and {n_dev} dev rows of {dataset.id} "
              f"(from {body.training_file}{' and ' + body.validation_file if body.validation_file else ''})")
    start_worker(store, job_id)
    return job_object(store, _row(store, job_id))


def _recipe(base: Recipe, body: CreateJob, hp: Hyperparameters) -> Recipe:
    update: dict[str, Any] = {"base_model": body.model, "tasks": None}
    if hp.n_epochs != "auto":
        update["epochs"] = float(hp.n_epochs)
    if hp.batch_size != "auto":
        update["batch_size"] = hp.batch_size
    if hp.learning_rate_multiplier != "auto":
        update["learning_rate"] = base.learning_rate * hp.learning_rate_multiplier
    if body.seed is not None:
        update["seed"] = body.seed
    try:
        return Recipe.model_validate({**base.model_dump(), **update})
    except ValidationError as e:
        err = e.errors()[0]
        field = {"epochs": "hyperparameters.n_epochs", "batch_size": "hyperparameters.batch_size",
                 "learning_rate": "hyperparameters.learning_rate_multiplier"}.get(str(err["loc"][0]), "seed")
        raise APIError(422, f"{field}: {err['msg']}", param=field, code="invalid_value") from None


def _reserve_version_name(store: Store, prefix: str) -> str:
    """PREFIX-vN with N one past any registered version and any job's reserved name."""
    pattern = f"{prefix}-v%"
    with store.session() as s:
        names = list(s.scalars(select(ModelVersionRow.name).where(ModelVersionRow.name.like(pattern))))
        names += s.scalars(select(TrainingJobRow.version_name).where(TrainingJobRow.version_name.like(pattern)))
    taken = [int(n[len(prefix) + 2:]) for n in names if n and n[len(prefix) + 2:].isdigit()]
    return f"{prefix}-v{max(taken, default=0) + 1}"


@router.get("", dependencies=[Depends(need("read"))])
def list_jobs(request: Request, after: str | None = None,
              limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    """Jobs, newest first; `metadata[KEY]=VALUE` query parameters keep the jobs whose metadata match."""
    store = _store(request)
    refresh_liveness(store)
    wanted = {k[len("metadata["):-1]: v for k, v in request.query_params.items()
              if k.startswith("metadata[") and k.endswith("]")}
    with store.session() as s:
        rows = list(s.scalars(select(TrainingJobRow).order_by(TrainingJobRow.started_at.desc(),
                                                              TrainingJobRow.id.desc())))
        for r in rows:
            s.expunge(r)
    jobs = [job_object(store, r) for r in rows]
    if wanted:
        jobs = [j for j in jobs if all((j["metadata"] or {}).get(k) == v for k, v in wanted.items())]
    return _page(jobs, after, limit)


@router.get("/{job_id}", dependencies=[Depends(need("read"))])
def retrieve_job(request: Request, job_id: str) -> dict:
    store = _store(request)
    refresh_liveness(store)
    return job_object(store, _row(store, job_id))


@router.post("/{job_id}/cancel", dependencies=[Depends(need("train"))])
def cancel_job(request: Request, job_id: str) -> dict:
    """Ask the job to stop before its next step (checkpoints are kept); it reads `cancelled` once stopped."""
    store = _store(request)
    refresh_liveness(store)
    row = _row(store, job_id)
    if row.status in TERMINAL:
        raise APIError(400, f"job {job_id} has already {'completed' if row.status == 'succeeded' else row.status}",
                       param="fine_tuning_job_id", code="job_already_finished")
    request_cancel(store, job_id)
    return job_object(store, _row(store, job_id))


def _event_object(e: JobEventRow, total_steps: int) -> dict[str, Any]:
    metrics = {k: v for k, v in (e.metrics or {}).items() if k != "traceback"}
    kind, data = "message", metrics or None
    # Step and validation events are metrics points (jobs.py writes them with these messages).
    if e.message.startswith("step ") and "loss" in metrics:
        kind, data = "metrics", {"step": metrics.get("step"), "train_loss": metrics["loss"],
                                 "total_steps": total_steps}
    elif e.message.startswith("validation loss") and "val_loss" in metrics:
        kind, data = "metrics", {"step": metrics.get("step"), "valid_loss": metrics["val_loss"]}
    return {"id": f"ftevent-{e.id}", "object": "fine_tuning.job.event", "created_at": _ts(e.created_at),
            "level": {"warning": "warn"}.get(e.level, e.level), "message": e.message, "data": data, "type": kind}


def _cursor(after: str | None, prefix: str) -> int | None:
    if after is None:
        return None
    if not after.startswith(prefix) or not after[len(prefix):].isdigit():
        raise APIError(422, f"after: '{after}' is not an id of this listing ({prefix}N)", param="after",
                       code="invalid_value")
    return int(after[len(prefix):])


@router.get("/{job_id}/events", dependencies=[Depends(need("read"))])
def list_events(request: Request, job_id: str, after: str | None = None,
                limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    """The job's log, newest first; `after` pages towards older events."""
    store = _store(request)
    row = _row(store, job_id)
    before = _cursor(after, "ftevent-")
    with store.session() as s:
        q = select(JobEventRow).where(JobEventRow.job_id == job_id)
        if before is not None:
            q = q.where(JobEventRow.id < before)
        events = list(s.scalars(q.order_by(JobEventRow.id.desc()).limit(limit + 1)))
    data = [_event_object(e, row.total_steps) for e in events[:limit]]
    return {"object": "list", "data": data, "has_more": len(events) > limit}


@router.get("/{job_id}/checkpoints", dependencies=[Depends(need("read"))])
def list_checkpoints(request: Request, job_id: str, after: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=100)] = 10) -> dict:
    """Checkpoints still on disk (older ones are pruned as training goes), newest first."""
    store = _store(request)
    _row(store, job_id)
    _cursor(after, "ftckpt-")
    items = [_checkpoint_object(job_id, c) for c in reversed(job_checkpoints(store, job_id))]
    return _page(items, after, limit)


def _checkpoint_object(job_id: str, c: JobCheckpointRow) -> dict[str, Any]:
    m = c.metrics or {}
    return {"id": f"ftckpt-{c.id}", "object": "fine_tuning.job.checkpoint", "created_at": _ts(c.created_at),
            "fine_tuned_model_checkpoint": f"{job_id}:ckpt-step-{c.step}", "fine_tuning_job_id": job_id,
            "metrics": {"step": c.step, "train_loss": m.get("loss"), "valid_loss": m.get("val_loss")},
            "step_number": c.step}
