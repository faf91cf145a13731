"""Training backends: the openai backend against a real local HTTP server speaking OpenAI's fine-tuning API."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from fake_openai_server import FAILURE, FakeOpenAI, RunningServer

from lextune.core.errors import ConfigError, DatasetError, LextuneError
from lextune.train.backends import (
    BackendCredentialsError,
    BackendError,
    BackendNotSupportedError,
    JobEvent,
    RemoteJobError,
    UnknownBackendError,
    get_backend,
    known_backends,
)

KEY = "sk-test-from-env"


def chat_rows(n: int) -> list[dict]:
    return [{"messages": [
        {"role": "system", "content": "You are a careful legal assistant."},
        {"role": "user", "content": f"Which law governs contract {i}?"},
        {"role": "assistant", "content": f"The laws of the State of New York govern contract {i}."},
    ]} for i in range(n)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture()
def fake():
    server = RunningServer(FakeOpenAI(api_key=KEY))
    yield server
    server.stop()


@pytest.fixture()
def env(monkeypatch, fake):
    """Credentials and endpoint the way a user gives them: the environment."""
    for var in ("LEXTUNE_OPENAI_API_KEY", "LEXTUNE_OPENAI_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("LEXTUNE_OPENAI_BASE_URL", fake.base_url)


@pytest.fixture()
def backend(env):
    b = get_backend("openai", {"max_retries": 2, "timeout": 5})
    yield b
    b.close()


@pytest.fixture()
def data(tmp_path):
    return write_jsonl(tmp_path / "train.jsonl", chat_rows(12)), write_jsonl(tmp_path / "valid.jsonl", chat_rows(2))


def test_submit_wait_result_mirrors_events_in_order(backend, fake, data):
    train, valid = data
    job = backend.submit(train, valid, "gpt-4o-mini-2024-07-18",
                         {"epochs": 3, "batch_size": "auto", "learning_rate_multiplier": 0.5}, suffix="nda")
    assert job.backend == "openai" and job.state == "validating_files" and job.endpoint == fake.base_url
    assert set(job.provider_file_ids) == {"training", "validation"}

    # What reached the provider: the exact file bytes, the key from the environment, the job parameters.
    uploaded = {f["filename"]: f for f in fake.fake.files.values()}
    assert uploaded["train.jsonl"]["content"] == train.read_bytes()
    assert uploaded["valid.jsonl"]["content"] == valid.read_bytes()
    assert all(f["purpose"] == "fine-tune" for f in uploaded.values())
    assert {r.headers["authorization"] for r in fake.fake.requests} == {f"Bearer {KEY}"}
    create = next(r.body for r in fake.fake.requests if r.path == "/v1/fine_tuning/jobs")
    assert create["model"] == "gpt-4o-mini-2024-07-18" and create["suffix"] == "nda"
    assert create["training_file"] == job.provider_file_ids["training"]
    assert create["validation_file"] == job.provider_file_ids["validation"]
    assert create["method"] == {"type": "supervised", "supervised": {"hyperparameters": {
        "n_epochs": 3, "batch_size": "auto", "learning_rate_multiplier": 0.5}}}

    seen: list[JobEvent] = []
    sleeps: list[float] = []
    done = backend.wait(job, on_event=seen.append, interval=0.001, sleep=sleeps.append)

    assert done.state == "succeeded" and done.raw_status == "succeeded" and done.trained_tokens == 1234
    assert backend.result(done) == done.fine_tuned_model == f"ft:gpt-4o-mini-2024-07-18:org-test:nda:{job.provider_job_id}"
    # Every provider event exactly once, oldest first, although the server pages two at a time, newest first.
    assert [e.message for e in seen] == fake.fake.event_messages(job.provider_job_id)
    assert len(seen) == 7 and done.last_event_id == seen[-1].provider_event_id
    metrics = [e.metrics for e in seen if e.metrics]
    assert [m["step"] for m in metrics] == [1, 2] and metrics[1]["train_loss"] == 1.0
    assert all(s <= 0.001 for s in sleeps)  # something changed on every poll, so no backoff
    # A later mirror from where this one stopped finds nothing new.
    assert backend.events(done, after=done.last_event_id) == []


def test_wait_backs_off_while_nothing_changes_and_times_out(backend, fake, data):
    fake.fake.scenario = "stuck"
    job = backend.submit(data[0], None, "gpt-4o-mini")
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    with pytest.raises(RemoteJobError, match=rf"{job.provider_job_id} still queued after 0.2s; it keeps running"):
        backend.wait(job, interval=0.01, max_interval=0.04, timeout=0.2, sleep=sleep)
    # The first poll sees queued (a change); after that nothing changes, so the wait doubles up to the cap.
    assert sleeps[:3] == [0.01, 0.02, 0.04] and max(sleeps) <= 0.04


def test_cancel_flow(backend, fake, data):
    job = backend.poll(backend.submit(data[0], None, "gpt-4o-mini"))
    assert job.state == "queued"
    cancelled = backend.cancel(job)
    assert cancelled.state == "cancelled" and fake.fake.jobs[job.provider_job_id]["status"] == "cancelled"
    assert any(r.path.endswith("/cancel") and r.method == "POST" for r in fake.fake.requests)
    # Cancelling again: the provider answers 400 "already completed"; the job comes back as it ended.
    assert backend.cancel(cancelled).state == "cancelled"
    with pytest.raises(RemoteJobError, match="is cancelled; it produced no model"):
        backend.result(cancelled)


def test_failed_job_surfaces_the_providers_error(backend, fake, data):
    fake.fake.scenario = "fail"
    seen: list[JobEvent] = []
    done = backend.wait(backend.submit(data[0], None, "gpt-4o-mini"), on_event=seen.append, interval=0)
    assert done.state == "failed"
    assert done.error == f"{FAILURE['message']} ({FAILURE['code']})"
    assert seen[-1].level == "error" and seen[-1].message == FAILURE["message"]
    with pytest.raises(RemoteJobError, match="is failed: Training file has 3 examples with too many tokens"):
        backend.result(done)


def test_rejected_job_reports_the_provider_message_and_removes_the_uploads(backend, fake, data):
    fake.fake.reject_model = "no-such-model"
    with pytest.raises(BackendError, match=r"create the fine-tuning job failed at .*\(HTTP 400\): Model no-such-model"):
        backend.submit(data[0], data[1], "no-such-model")
    assert len([r for r in fake.fake.requests if r.path == "/v1/files"]) == 2
    assert fake.fake.files == {}  # client data does not linger at the provider


def test_transient_server_errors_are_retried(backend, fake, data):
    job = backend.submit(data[0], None, "gpt-4o-mini")
    fake.fake.fail_once("GET", r"/v1/fine_tuning/jobs/[\w-]+", 503)
    assert backend.poll(job).state == "queued"
    assert [r.method for r in fake.fake.requests if r.path == f"/v1/fine_tuning/jobs/{job.provider_job_id}"] == \
        ["GET", "GET"]


@pytest.mark.parametrize(("line", "bad", "expected"), [
    (3, {"messages": [{"role": "user", "content": "Hi?"}]}, "line 3: the last message must be the assistant's"),
    (2, {"messages": [{"role": "judge", "content": "x"}, {"role": "assistant", "content": "y"}]},
     "line 2: message 0 has role 'judge'"),
    (5, {"prompt": "old completion format", "completion": "x"}, "line 5: unexpected key(s) ['completion', 'prompt']"),
])
def test_malformed_jsonl_fails_before_any_request(backend, fake, tmp_path, line, bad, expected):
    rows = chat_rows(12)
    rows[line - 1] = bad
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DatasetError, match="not OpenAI chat fine-tuning JSONL") as e:
        backend.submit(path, None, "gpt-4o-mini")
    assert str(path) in str(e.value) and expected in str(e.value)
    assert fake.fake.requests == []


def test_bad_parameters_fail_before_any_request(backend, fake, data, tmp_path):
    with pytest.raises(ConfigError, match="unknown hyperparameter 'lora_rank'; it takes batch_size"):
        backend.submit(data[0], None, "gpt-4o-mini", {"lora_rank": 8})
    with pytest.raises(ConfigError, match="'n_epochs' must be a positive number or 'auto', got 0"):
        backend.submit(data[0], None, "gpt-4o-mini", {"n_epochs": 0})
    with pytest.raises(ConfigError, match="suffix is 65 characters; at most 64"):
        backend.submit(data[0], None, "gpt-4o-mini", suffix="x" * 65)
    with pytest.raises(DatasetError, match="2 example\\(s\\); OpenAI fine-tuning needs at least 10"):
        backend.submit(write_jsonl(tmp_path / "small.jsonl", chat_rows(2)), None, "gpt-4o-mini")
    with pytest.raises(DatasetError, match="missing.jsonl: no such file"):
        backend.submit(tmp_path / "missing.jsonl", None, "gpt-4o-mini")
    assert fake.fake.requests == []


@pytest.mark.parametrize("name", ["anthropic", "bedrock", "azure-openai"])
def test_unsupported_backends_fail_fast(name, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(BackendNotSupportedError, match=f"backend_not_supported_yet: training backend '{name}'") as e:
        get_backend(name, {"api_key": "anything"})
    assert e.value.code == "backend_not_supported_yet" and isinstance(e.value, LextuneError)


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(UnknownBackendError, match="unknown backend 'opneai'; known: anthropic, azure-openai, bedrock, openai"):
        get_backend("opneai")
    with pytest.raises(UnknownBackendError, match="'local' trains in-process: use lextune train"):
        get_backend("local")
    assert known_backends() == ["anthropic", "azure-openai", "bedrock", "openai"]


def test_missing_api_key_is_a_precise_error(monkeypatch):
    for var in ("OPENAI_API_KEY", "LEXTUNE_OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(BackendCredentialsError, match="no API key; set OPENAI_API_KEY .* or api_key under the openai"):
        get_backend("openai")


def test_wrong_api_key_is_reported_as_a_credentials_problem(monkeypatch, fake, data):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    b = get_backend("openai", {"base_url": fake.base_url})
    with pytest.raises(BackendCredentialsError, match="rejected the API key while trying to upload .*Incorrect API key"):
        b.submit(data[0], None, "gpt-4o-mini")
    b.close()


def test_credentials_and_endpoint_from_the_config_file_section(fake, data):
    fake.fake.api_key = "sk-from-config"
    b = get_backend("openai", {"api_key": "sk-from-config", "base_url": fake.base_url + "/"}, env={})
    job = b.submit(data[0], None, "gpt-4o-mini")
    assert job.endpoint == fake.base_url
    assert {r.headers["authorization"] for r in fake.fake.requests} == {"Bearer sk-from-config"}
    b.close()
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['apikey'\]; it takes api_key, base_url"):
        get_backend("openai", {"apikey": "sk"}, env={})


def test_unreachable_service_names_the_url(monkeypatch, data):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    b = get_backend("openai", {"base_url": "http://127.0.0.1:9/v1", "max_retries": 0, "timeout": 2})
    with pytest.raises(BackendError, match=r"could not reach http://127.0.0.1:9/v1 to upload"):
        b.submit(data[0], None, "gpt-4o-mini")
    b.close()


def test_missing_sdk_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)  # what `import openai` sees when it is not installed
    with pytest.raises(BackendError, match="pip install"):
        get_backend("openai", {"api_key": "sk"}, env={})
