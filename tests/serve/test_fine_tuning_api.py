"""`/v1/fine_tuning/jobs` through the official `openai` client on a real uvicorn, training a tiny model.

The server trains in its own processes like `lextune train`; the tests poll as a client would. Last,
lextune's own `openai` training backend drives a second lextune's server end to end.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import openai
import pytest
from fastapi import FastAPI

from lextune.core.config import Settings
from lextune.core.store import Store
from lextune.data.dataset import get_dataset, read_rows, split_path
from lextune.registry.versions import get_version
from lextune.serve import routes_files, routes_fine_tuning
from lextune.serve.background import live_server
from lextune.train.jobs import get_job, job_events
from lextune.train.recipe import Recipe
from lextune.train.remote import run_remote_training

TERMINAL = ("succeeded", "failed", "cancelled")
# The server's base recipe: hyperparameters from requests are applied on top of it.
TINY = Recipe(batch_size=4, learning_rate=1e-2, warmup_ratio=0.0, max_seq_len=128, micro_batch_tokens=512)


def chat_jsonl(n: int) -> bytes:
    rows = [{"messages": [
        {"role": "system", "content": "You are a careful legal assistant."},
        {"role": "user", "content": f"Which law governs contract {i}?"},
        {"role": "assistant", "content": f"The laws of the State of New York govern contract {i}."},
    ]} for i in range(n)]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def make_app(store: Store) -> FastAPI:
    app = FastAPI()
    app.state.store = store
    app.state.fine_tuning_recipe = TINY
    app.include_router(routes_files.router)
    app.include_router(routes_fine_tuning.router)
    return app


def stop_workers() -> None:
    """End training processes a failing test left behind (SIGTERM: they record themselves cancelled)."""
    for proc in routes_fine_tuning.running_workers().values():
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except Exception:  # noqa: BLE001
            proc.kill()


@pytest.fixture()
def client(store, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the training processes share two cores with the test
    with live_server(make_app(store)) as server, openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0,
                                                    timeout=30) as c:
        yield c
    stop_workers()


def wait_for(client: openai.OpenAI, job_id: str, until, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if until(job):
            return job
        if job.status in TERMINAL:
            raise AssertionError(f"job ended {job.status} first: {job.error}")
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} still {job.status} after {timeout:g}s")


def wait_for_exit(job_id: str, timeout: float = 30.0) -> None:
    """Until the job's process is gone: its last events are written just after its state."""
    deadline = time.monotonic() + timeout
    while job_id in routes_fine_tuning.running_workers() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_job_trains_to_a_registered_version(client, store, home, tiny_model_dir):
    train = client.files.create(file=("train.jsonl", chat_jsonl(12)), purpose="fine-tune")
    valid = client.files.create(file=("valid.jsonl", chat_jsonl(3)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=str(tiny_model_dir), training_file=train.id, validation_file=valid.id, suffix="nda", seed=7,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 3}}},
        metadata={"matter": "m-1"})
    assert job.object == "fine_tuning.job" and job.status in ("validating_files", "queued", "running")
    assert job.training_file == train.id and job.validation_file == valid.id and job.fine_tuned_model is None
    assert job.hyperparameters.n_epochs == 2 and job.hyperparameters.batch_size == 3
    assert job.hyperparameters.learning_rate_multiplier == 1 and job.seed == 7 and job.error is None

    done = wait_for(client, job.id, lambda j: j.status in TERMINAL)
    assert done.status == "succeeded", done.error
    wait_for_exit(job.id)
    assert done.fine_tuned_model == "nda-v1" and done.finished_at >= done.created_at and done.trained_tokens > 0
    version = get_version(store, "nda-v1")
    assert Path(version.adapter_path, "adapter_config.json").is_file()
    assert version.recipe["epochs"] == 2 and version.recipe["batch_size"] == 3 and version.recipe["seed"] == 7
    # lineage: the dataset's rows name the uploaded files as their documents
    dataset = get_dataset(store, version.dataset_id)
    assert {r.document_id for r in read_rows(split_path(dataset, "train"))} == {train.id}
    assert {r.document_id for r in read_rows(split_path(dataset, "dev"))} == {valid.id}

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=3))  # the SDK follows `after` pages
    assert events[0].message.startswith("succeeded: model version nda-v1")
    assert [e.message for e in events] == [e.message for e in reversed(job_events(store, job.id))]
    steps = [e for e in events if e.type == "metrics" and "train_loss" in e.data]
    assert steps and steps[0].data == {"step": 8, "train_loss": steps[0].data["train_loss"], "total_steps": 8}
    assert any(e.type == "metrics" and "valid_loss" in e.data for e in events)
    assert all(e.object == "fine_tuning.job.event" and e.level in ("info", "warn", "error") for e in events)

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints and checkpoints[0].step_number == 8 and checkpoints[0].fine_tuning_job_id == job.id
    assert checkpoints[0].metrics.train_loss is not None and checkpoints[0].metrics.valid_loss is not None
    assert [c.step_number for c in checkpoints] == sorted((c.step_number for c in checkpoints), reverse=True)

    listed = client.fine_tuning.jobs.list()
    assert [j.id for j in listed] == [job.id] and listed.data[0].status == "succeeded"
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"matter": "m-1"})] == [job.id]
    assert list(client.fine_tuning.jobs.list(metadata={"matter": "other"})) == []
    assert get_job(store, job.id).status == "succeeded"  # the same job `lextune jobs show` reads
    with pytest.raises(openai.BadRequestError, match="already completed"):
        client.fine_tuning.jobs.cancel(job.id)


def test_cancel_stops_a_running_job(client, store, tiny_model_dir):
    train = client.files.create(file=("train.jsonl", chat_jsonl(12)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=str(tiny_model_dir), training_file=train.id,
                                         hyperparameters={"n_epochs": 500, "batch_size": 1})
    wait_for(client, job.id, lambda j: j.status == "running" and get_job(store, j.id).step > 0)
    asked = client.fine_tuning.jobs.cancel(job.id)
    assert asked.id == job.id and asked.status in ("running", "cancelled")
    done = wait_for(client, job.id, lambda j: j.status in TERMINAL, timeout=30)
    assert done.status == "cancelled" and done.fine_tuned_model is None and done.error is None
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert "cancellation requested" in messages
    assert any(m.startswith("cancelled by a cancel request") for m in messages)
    assert get_job(store, job.id).step < 6000


def test_a_killed_training_process_fails_the_job(client, store, tiny_model_dir):
    train = client.files.create(file=("train.jsonl", chat_jsonl(12)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=str(tiny_model_dir), training_file=train.id,
                                         hyperparameters={"n_epochs": 500, "batch_size": 1})
    wait_for(client, job.id, lambda j: j.status == "running")
    routes_fine_tuning.running_workers()[job.id].kill()  # SIGKILL: the process cannot say a word
    done = wait_for(client, job.id, lambda j: j.status in TERMINAL, timeout=30)
    assert done.status == "failed" and done.error.code == "training_failed"
    assert "exited with code -9" in done.error.message
    assert get_job(store, job.id).pid is None  # a failed local job: `lextune train --resume JOB` continues it


def test_bad_requests_get_openai_errors_naming_the_field(client, store, tiny_model_dir):
    with pytest.raises(openai.NotFoundError) as e:
        client.fine_tuning.jobs.retrieve("job-nope")
    assert e.value.body == {"message": "No fine-tuning job 'job-nope'", "type": "invalid_request_error",
                            "param": "fine_tuning_job_id", "code": "job_not_found"}
    for call in (client.fine_tuning.jobs.cancel, client.fine_tuning.jobs.list_events,
                 client.fine_tuning.jobs.checkpoints.list):
        with pytest.raises(openai.NotFoundError):
            call("job-nope")

    train = client.files.create(file=("train.jsonl", chat_jsonl(12)), purpose="fine-tune")
    small = client.files.create(file=("small.jsonl", chat_jsonl(3)), purpose="fine-tune")
    notes = client.files.create(file=("notes.txt", b"hello"), purpose="user_data")
    model = str(tiny_model_dir)

    def refused(error, param: str, text: str, **kwargs) -> None:
        with pytest.raises(error) as e:
            client.fine_tuning.jobs.create(**{"model": model, "training_file": train.id, **kwargs})
        assert e.value.body["param"] == param and text in e.value.body["message"], e.value.body

    refused(openai.NotFoundError, "training_file", "no file 'file-0000'", training_file="file-0000")
    refused(openai.NotFoundError, "validation_file", "no file", validation_file="file-0000")
    refused(openai.UnprocessableEntityError, "training_file", "purpose 'user_data'", training_file=notes.id)
    refused(openai.UnprocessableEntityError, "training_file", "3 example(s); at least 10", training_file=small.id)
    refused(openai.UnprocessableEntityError, "model", "unknown base model 'no-such-model'", model="no-such-model")
    refused(openai.UnprocessableEntityError, "hyperparameters.n_epochs", "must be 'auto' or a positive number",
            hyperparameters={"n_epochs": 0})
    refused(openai.UnprocessableEntityError, "hyperparameters.batch_size", "positive integer, got 2.5",
            hyperparameters={"batch_size": 2.5})
    refused(openai.UnprocessableEntityError, "hyperparameters.lora_rank", "unknown field",
            hyperparameters={"lora_rank": 8})
    refused(openai.UnprocessableEntityError, "method.type", "supervised", method={"type": "dpo"})
    refused(openai.UnprocessableEntityError, "suffix", "letters, digits", suffix="no spaces please")
    refused(openai.UnprocessableEntityError, "integrations", "unknown field",
            integrations=[{"type": "wandb", "wandb": {"project": "p"}}])
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.post("/fine_tuning/jobs", cast_to=object, content=b'{"model": ',
                    options={"headers": {"Content-Type": "application/json"}})
    assert "not valid JSON" in e.value.body["message"]
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.post("/fine_tuning/jobs", cast_to=object, body={"model": model})
    assert e.value.body["param"] == "training_file" and "Field required" in e.value.body["message"]
    assert list(client.fine_tuning.jobs.list()) == []  # nothing was created by any of these


def test_lextune_openai_backend_drives_a_lextune_server(store, dataset, tiny_model_dir, tmp_path, monkeypatch):
    """`lextune train --backend openai` at a firm, pointed at another machine's `lextune serve`."""
    server_store = Store(Settings(home=tmp_path / "gpu-box"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for var in ("LEXTUNE_OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-firm")
    try:
        with live_server(make_app(server_store)) as server:
            monkeypatch.setenv("LEXTUNE_OPENAI_BASE_URL", server.base_url)
            version = run_remote_training(store, dataset, Recipe(epochs=1, batch_size=8, min_rows=4), "openai",
                                          str(tiny_model_dir), "firm-tuned", "firm", poll_interval=0.2)
    finally:
        stop_workers()
    # the firm's store: a remote version naming the server's model version
    assert version.kind == "remote" and version.remote["fine_tuned_model"] == "firm-v1"
    assert version.remote["endpoint"] == server.base_url
    job = get_job(store, version.metrics["training"]["job_id"])
    assert job.status == "succeeded" and job.remote["trained_tokens"] > 0
    mirrored = [e.message for e in job_events(store, job.id)]
    assert any(m.startswith("step 3/3") for m in mirrored)
    assert mirrored[-1] == "succeeded: model version firm-tuned is firm-v1"
    # the server's store: a local job and an adapter, trained on the uploaded train and dev splits
    served = get_version(server_store, "firm-v1")
    assert Path(served.adapter_path, "adapter_config.json").is_file()
    served_job = get_job(server_store, job.remote["provider_job_id"])
    assert served_job.status == "succeeded" and served_job.backend == "local"
    served_data = get_dataset(server_store, served.dataset_id)
    assert served_data.counts == {"train": {"chat": 24}, "dev": {"chat": 6}, "test": {}}
    server_store.close()


def test_a_tenants_job_trains_in_its_own_store(store, tiny_model_dir, monkeypatch):
    """A job created with a tenant's API key trains in a child process on that tenant's store, under the
    deployment's master key; the version is the tenant's alone."""
    from lextune.core.config import tenant_settings
    from lextune.security import tenancy

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    tenancy.create_tenant(store, "acme")
    tenancy.add_user(store, "acme", "eve", "engineer")
    _, key = tenancy.create_api_key(store, "acme", "eve")
    with live_server(make_app(store)) as server, openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0,
                                                                timeout=30) as client:
        try:
            train = client.files.create(file=("train.jsonl", chat_jsonl(12)), purpose="fine-tune")
            job = client.fine_tuning.jobs.create(
                model=str(tiny_model_dir), training_file=train.id, suffix="acme",
                method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 4}}})
            done = wait_for(client, job.id, lambda j: j.status in TERMINAL, timeout=120)
            assert done.status == "succeeded", done.error
            wait_for_exit(job.id)
        finally:
            stop_workers()
    acme = Store(tenant_settings(store.settings, "acme"))
    assert get_version(acme, "acme-v1").name == "acme-v1"
    with pytest.raises(Exception, match="acme-v1"):
        get_version(store, "acme-v1")  # not in the default tenant's registry
    acme.close()
