"""`lextune train --backend openai`: a job row, mirrored events and a remote model version, end to end."""

from __future__ import annotations

import pytest
from fake_openai_server import FakeOpenAI, RunningServer

from lextune.core.errors import ConfigError
from lextune.registry.versions import get_version
from lextune.security.sealed_files import DATASET, is_sealed, read_sealed_text
from lextune.train.backends import BackendNotSupportedError
from lextune.train.jobs import get_job, job_events, job_summary, request_cancel
from lextune.train.recipe import Recipe
from lextune.train.remote import run_remote_training

KEY = "sk-firm-key"


@pytest.fixture()
def server(monkeypatch):
    running = RunningServer(FakeOpenAI(api_key=KEY))
    for var in ("LEXTUNE_OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LEXTUNE_OPENAI_BASE_URL", running.base_url)
    yield running
    running.stop()


def test_remote_job_registers_a_remote_version(store, dataset, home, server):
    # credentials from the config file, the way a firm's admin sets them (never an argument)
    (home / "config.yaml").write_text(f"backends:\n  openai:\n    api_key: {KEY}\n    max_retries: 1\n")
    version = run_remote_training(store, dataset, Recipe(min_rows=4), "openai", "gpt-4o-mini-2024-07-18",
                                  "firm-remote", "firm", poll_interval=0.01)
    assert version.kind == "remote" and version.adapter_path == ""
    assert version.remote["fine_tuned_model"].startswith("ft:gpt-4o-mini-2024-07-18")
    assert get_version(store, "firm-remote").remote["provider_job_id"] == version.remote["provider_job_id"]
    job = job_summary(store, get_job(store, version.metrics["training"]["job_id"]))
    assert job["state"] == "succeeded" and job["backend"] == "openai" and job["model_version"] == "firm-remote"
    assert job["remote"]["provider_job_id"] == version.remote["provider_job_id"]
    messages = [e.message for e in job_events(store, job["id"])]
    assert any("created" in m for m in messages) and messages[-1].startswith("succeeded")
    # what was uploaded is the snapshot kept beside the job: the dataset's train split in chat format
    uploads = [r for r in server.fake.requests if r.path == "/v1/files"]
    assert len(uploads) == 2  # train + dev
    assert uploads[0].body["files"]["file"][1].startswith(b'{"messages"')  # the provider gets the plaintext
    snapshot = home / "jobs" / job["id"] / "train.openai.jsonl"
    assert is_sealed(snapshot) and read_sealed_text(snapshot, None, DATASET).count("\n") == 24  # sealed at rest
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in server.fake.requests)


def test_remote_needs_a_provider_model_and_a_supported_backend(store, dataset, server):
    with pytest.raises(ConfigError, match="--base-model is required"):
        run_remote_training(store, dataset, Recipe(min_rows=4), "openai", None, None, None)
    with pytest.raises(BackendNotSupportedError, match="backend_not_supported_yet"):
        run_remote_training(store, dataset, Recipe(min_rows=4), "bedrock", "m", None, None)
    assert server.fake.requests == []  # nothing sent before the checks


def test_cancel_reaches_the_provider(store, dataset, home, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.fake.scenario = "stuck"
    from lextune.train import backends

    real_wait = backends.TrainingBackend.wait

    def wait_then_cancel(self, job, **kwargs):  # the user runs `lextune jobs cancel` while it waits
        from lextune.core.tables import TrainingJobRow

        with store.session() as s:
            job_id = s.query(TrainingJobRow).one().id
        assert request_cancel(store, job_id) == "cancelled"
        return real_wait(self, job, **kwargs)

    monkeypatch.setattr(backends.TrainingBackend, "wait", wait_then_cancel)
    with pytest.raises(Exception, match="cancelled"):
        run_remote_training(store, dataset, Recipe(min_rows=4), "openai", "gpt-4o-mini-2024-07-18", None, None,
                            poll_interval=0.01)
    assert any(r.path.endswith("/cancel") for r in server.fake.requests)
