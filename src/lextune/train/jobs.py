"""A training job: rows in, model version out, with its state recorded in the store."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from lextune import __version__
from lextune.core import audit
from lextune.core.atomic import atomic_dir, write_json, write_text
from lextune.core.errors import DatasetError
from lextune.core.records import DatasetInfo, ModelVersion, utcnow
from lextune.core.store import Store
from lextune.core.tables import TrainingJobRow
from lextune.data.dataset import read_rows, split_path
from lextune.models.loading import load_base_model
from lextune.registry.versions import next_version_name, register_version
from lextune.train.local import StepCallback, TrainResult, save_adapter, train_lora
from lextune.train.recipe import Recipe


def _update_job(store: Store, job_id: str, **fields) -> None:
    with store.session() as s:
        job = s.get(TrainingJobRow, job_id)
        for k, v in fields.items():
            setattr(job, k, v)


def run_training(
    store: Store, dataset: DatasetInfo, recipe: Recipe, name: str | None = None,
    on_step: StepCallback | None = None, on_status: Callable[[str], None] | None = None,
) -> ModelVersion:
    """Train a LoRA adapter on the dataset's train split and register it as a model version.

    The adapter folder appears only when training succeeded (atomic rename), so an error or
    Ctrl-C leaves no half-written version; the job row records how it ended.
    """
    rows = read_rows(split_path(dataset, "train"))
    if recipe.tasks:
        rows = [r for r in rows if r.task in recipe.tasks]
    if len(rows) < recipe.min_rows:
        raise DatasetError(
            f"dataset {dataset.id} has {len(rows)} training rows{' for ' + str(recipe.tasks) if recipe.tasks else ''};"
            f" at least {recipe.min_rows} are needed to fine-tune (add labelled documents)"
        )
    job_id = "job-" + uuid.uuid4().hex[:12]
    with store.session() as s:
        s.add(TrainingJobRow(id=job_id, status="running", dataset_id=dataset.id,
                             base_model=recipe.base_model, recipe=recipe.model_dump()))
        audit.record(s, "train.start", job_id, {"dataset": dataset.id, "rows": len(rows)})

    def step_cb(step: int, total: int, loss: float) -> None:
        if step == 1 or step % 5 == 0 or step == total:
            _update_job(store, job_id, step=step, total_steps=total, last_loss=loss)
        if on_step:
            on_step(step, total, loss)

    try:
        if on_status:
            on_status("loading base model")
        model, tokenizer, resolved = load_base_model(recipe.base_model, store.settings)
        if on_status:
            on_status(f"training on {len(rows)} rows")
        peft_model, result = train_lora(model, tokenizer, rows, recipe, step_cb)
        version = _save_version(store, dataset, recipe, resolved.name, name, peft_model, result)
    except KeyboardInterrupt:
        _update_job(store, job_id, status="cancelled", finished_at=utcnow())
        raise
    except Exception as e:
        _update_job(store, job_id, status="failed", error=f"{type(e).__name__}: {e}", finished_at=utcnow())
        raise
    _update_job(store, job_id, status="succeeded", model_version_id=version.id, finished_at=utcnow())
    return version


def _save_version(store: Store, dataset: DatasetInfo, recipe: Recipe, base_name: str,
                  name: str | None, peft_model, result: TrainResult) -> ModelVersion:
    version_id = "mv-" + uuid.uuid4().hex[:12]
    final = store.settings.versions_dir / version_id
    version = ModelVersion(
        id=version_id, name=name or next_version_name(store, dataset.name), base_model=base_name,
        adapter_path=str(final), dataset_id=dataset.id, dataset_sha256=dataset.sha256,
        recipe=recipe.model_dump(),
        metrics={"training": {"steps": result.steps, "seconds": round(result.seconds, 1),
                              "train_tokens": result.train_tokens,
                              "skipped_rows": result.skipped_rows,
                              "final_loss": result.loss_curve[-1][1] if result.loss_curve else None,
                              "loss_curve": result.loss_curve}},
    )
    with atomic_dir(final) as tmp:
        save_adapter(peft_model, tmp)
        card = {**version.model_dump(mode="json"), "lextune_version": __version__}
        write_json(tmp / "model_card.json", card)
        write_text(tmp / "README.md", _card_markdown(version))
    return register_version(store, version)


def _card_markdown(v: ModelVersion) -> str:
    t = v.metrics.get("training", {})
    return (
        f"# {v.name}\n\nLoRA adapter trained by lextune.\n\n"
        f"- version id: `{v.id}`\n- base model: `{v.base_model}`\n"
        f"- dataset: `{v.dataset_id}` (sha256 `{v.dataset_sha256}`)\n"
        f"- steps: {t.get('steps')}, seconds: {t.get('seconds')}, final loss: {t.get('final_loss')}\n\n"
        "The full recipe and metrics are in `model_card.json`.\n"
    )
