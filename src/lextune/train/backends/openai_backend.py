"""The `openai` backend: fine-tuning jobs on OpenAI or any service speaking its fine-tuning API.

Uses the official `openai` SDK (an optional dependency, imported when the backend is built).
Credentials come from the environment or lextune's config file, never from a command-line argument,
so they stay out of shell history and job records. Lookup order, first found wins:
LEXTUNE_OPENAI_API_KEY, the config's `api_key`, OPENAI_API_KEY (and the same for BASE_URL/`base_url`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lextune.core.errors import ConfigError, DatasetError
from lextune.data.exporters import OPENAI_MIN_EXAMPLES, validate_openai_chat
from lextune.security.sealed_files import DATASET, read_sealed_bytes
from lextune.train.backends.base import JobEvent, RemoteJob, TrainingBackend
from lextune.train.backends.errors import BackendCredentialsError, BackendError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
CONFIG_KEYS = {"api_key", "base_url", "timeout", "max_retries"}
HYPERPARAMETERS = {"n_epochs", "batch_size", "learning_rate_multiplier"}
_HYPERPARAMETER_ALIASES = {"epochs": "n_epochs"}  # lextune recipes say epochs
MAX_SUFFIX = 64  # the API rejects longer suffixes; checking here fails before the upload
_SHOWN_PROBLEMS = 5

# OpenAI's states map to themselves; the rest are the words other compatible services use.
_STATES = {
    "validating_files": "validating_files", "validating": "validating_files",
    "queued": "queued", "pending": "queued", "created": "queued",
    "running": "running", "in_progress": "running", "training": "running", "cancelling": "running",
    "succeeded": "succeeded", "completed": "succeeded",
    "failed": "failed", "error": "failed",
    "cancelled": "cancelled", "canceled": "cancelled",
}


def _import_openai() -> Any:
    try:
        import openai
    except ImportError:
        raise BackendError(
            "the openai backend needs the official openai SDK: pip install 'lextune[openai]' (or pip install openai)"
        ) from None
    return openai


def _setting(key: str, config: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    return env.get(f"LEXTUNE_OPENAI_{key.upper()}") or config.get(key) or env.get(f"OPENAI_{key.upper()}")


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None


def check_chat_jsonl(path: Path, min_examples: int = OPENAI_MIN_EXAMPLES) -> None:
    """DatasetError naming the file and the first bad lines unless `path` is OpenAI chat fine-tuning JSONL."""
    problems = validate_openai_chat(path, min_examples=min_examples)
    if not problems:
        return
    shown = "; ".join(p if p.startswith(("file:", str(path))) else f"line {p}" for p in problems[:_SHOWN_PROBLEMS])
    more = f" (and {len(problems) - _SHOWN_PROBLEMS} more)" if len(problems) > _SHOWN_PROBLEMS else ""
    raise DatasetError(f"{path}: not OpenAI chat fine-tuning JSONL: {shown}{more}")


def normalize_hyperparameters(hyperparameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """The hyperparameters the API takes (None values dropped); ConfigError naming any other key."""
    out: dict[str, Any] = {}
    for key, value in (hyperparameters or {}).items():
        name = _HYPERPARAMETER_ALIASES.get(key, key)
        if name not in HYPERPARAMETERS:
            raise ConfigError(
                f"openai backend: unknown hyperparameter '{key}'; it takes {', '.join(sorted(HYPERPARAMETERS))}"
            )
        if value is None:
            continue
        number_ok = isinstance(value, int) if name != "learning_rate_multiplier" else isinstance(value, int | float)
        if value != "auto" and (isinstance(value, bool) or not number_ok or value <= 0):
            raise ConfigError(f"openai backend: hyperparameter '{key}' must be a positive number or 'auto', got {value!r}")
        out[name] = value
    return out


class OpenAIBackend(TrainingBackend):
    """Fine-tuning through the OpenAI API (or a compatible service at another base URL)."""

    name = "openai"

    def __init__(self, config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None):
        """`config` is the backend's section of lextune's config file; `env` defaults to os.environ."""
        config = dict(config or {})
        env = os.environ if env is None else env
        unknown = set(config) - CONFIG_KEYS
        if unknown:
            raise ConfigError(
                f"openai backend config: unknown key(s) {sorted(unknown)}; it takes {', '.join(sorted(CONFIG_KEYS))}"
            )
        api_key = _setting("api_key", config, env)
        if not api_key:
            raise BackendCredentialsError(
                "openai backend: no API key; set OPENAI_API_KEY (or LEXTUNE_OPENAI_API_KEY) in the environment"
                " or api_key under the openai backend in the config file"
            )
        self.base_url = str(_setting("base_url", config, env) or DEFAULT_BASE_URL).rstrip("/")
        openai = _import_openai()
        self._openai = openai
        # The SDK retries connection errors, 408/409/429 and 5xx with backoff; the timeout bounds each request.
        self._client = openai.OpenAI(
            api_key=api_key, base_url=self.base_url,
            timeout=float(config.get("timeout", 120.0)), max_retries=int(config.get("max_retries", 3)),
        )

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        """Turn the SDK's exceptions into one-line BackendErrors that say what was being done, and where."""
        o = self._openai
        try:
            yield
        except o.AuthenticationError as e:
            raise BackendCredentialsError(
                f"openai backend: {self.base_url} rejected the API key while trying to {what}: {_message(e)}"
            ) from None
        except o.APIStatusError as e:
            raise BackendError(
                f"openai backend: {what} failed at {self.base_url} (HTTP {e.status_code}): {_message(e)}"
            ) from None
        except o.APIConnectionError as e:
            raise BackendError(f"openai backend: could not reach {self.base_url} to {what}: {e}") from None

    def submit(
        self, train_jsonl: Path, validation_jsonl: Path | None, base_model: str,
        hyperparameters: dict[str, Any] | None = None, suffix: str | None = None,
    ) -> RemoteJob:
        """Check everything locally, upload the JSONL file(s), create the job; uploads are removed if that fails."""
        if not base_model or not base_model.strip():
            raise ConfigError("openai backend: base_model is empty; name the provider's model to fine-tune")
        if suffix is not None and len(suffix) > MAX_SUFFIX:
            raise ConfigError(f"openai backend: suffix is {len(suffix)} characters; at most {MAX_SUFFIX} are allowed")
        hp = normalize_hyperparameters(hyperparameters)
        check_chat_jsonl(Path(train_jsonl))
        if validation_jsonl is not None:
            check_chat_jsonl(Path(validation_jsonl), min_examples=1)

        file_ids: dict[str, str] = {}
        try:
            file_ids["training"] = self._upload(Path(train_jsonl))
            if validation_jsonl is not None:
                file_ids["validation"] = self._upload(Path(validation_jsonl))
            params: dict[str, Any] = {"model": base_model, "training_file": file_ids["training"]}
            if "validation" in file_ids:
                params["validation_file"] = file_ids["validation"]
            if hp:
                params["method"] = {"type": "supervised", "supervised": {"hyperparameters": hp}}
            if suffix:
                params["suffix"] = suffix
            with self._call("create the fine-tuning job"):
                ft = self._client.fine_tuning.jobs.create(**params)
        except BaseException:
            # Client data should not linger at the provider when no job will use it.
            self._delete_files(file_ids.values())
            raise
        return self._to_job(ft, RemoteJob(
            backend=self.name, provider_job_id=ft.id, provider_file_ids=file_ids, base_model=base_model,
            state="validating_files", raw_status="", endpoint=self.base_url,
        ))

    def _upload(self, path: Path) -> str:
        # A snapshot lextune keeps sealed at rest is opened in memory: the provider gets the plaintext.
        data = read_sealed_bytes(path, None, DATASET)
        with self._call(f"upload {path}"):
            return self._client.files.create(file=(path.name, data), purpose="fine-tune").id

    def _delete_files(self, file_ids: Any) -> None:
        for file_id in file_ids:
            try:
                self._client.files.delete(file_id)
            except self._openai.OpenAIError:
                pass  # best effort: the original error is the one worth reporting

    def poll(self, job: RemoteJob) -> RemoteJob:
        with self._call(f"read job {job.provider_job_id}"):
            ft = self._client.fine_tuning.jobs.retrieve(job.provider_job_id)
        return self._to_job(ft, job)

    def cancel(self, job: RemoteJob) -> RemoteJob:
        """Cancel the job; one that already ended is returned as it ended rather than as an error."""
        try:
            with self._call(f"cancel job {job.provider_job_id}"):
                ft = self._client.fine_tuning.jobs.cancel(job.provider_job_id)
        except BackendError:
            current = self.poll(job)
            if current.done:
                return current
            raise
        return self._to_job(ft, job)

    def events(self, job: RemoteJob, after: str | None = None) -> list[JobEvent]:
        """Events newer than `after`, oldest first. The API lists newest first and its `after` cursor
        pages towards older events, so this reads pages until it meets the last event already seen.
        If the provider no longer lists that event, every listed event is returned (repeats over gaps)."""
        newer: list[JobEvent] = []
        with self._call(f"list events of job {job.provider_job_id}"):
            for ev in self._client.fine_tuning.jobs.list_events(job.provider_job_id, limit=100):
                if after is not None and ev.id == after:
                    break
                newer.append(_to_event(ev))
        newer.reverse()
        return newer

    def _to_job(self, ft: Any, template: RemoteJob) -> RemoteJob:
        raw = str(ft.status)
        state = _STATES.get(raw.lower())
        if state is None:
            raise BackendError(
                f"openai backend: job {ft.id} at {self.base_url} reports status '{raw}', which lextune does not"
                f" know; known: {', '.join(sorted(_STATES))}"
            )
        err = getattr(ft, "error", None)
        message = getattr(err, "message", None) if err is not None else None
        code = getattr(err, "code", None) if err is not None else None
        error = (f"{message} ({code})" if code else message) if message else None
        if state == "failed" and not error:
            error = "the provider gave no reason"
        return template.model_copy(update={
            "provider_job_id": ft.id, "state": state, "raw_status": raw,
            "fine_tuned_model": getattr(ft, "fine_tuned_model", None), "error": error,
            "trained_tokens": getattr(ft, "trained_tokens", None),
            "created_at": _timestamp(getattr(ft, "created_at", None)),
            "finished_at": _timestamp(getattr(ft, "finished_at", None)),
            "updated_at": datetime.now(UTC),
        })


def _to_event(ev: Any) -> JobEvent:
    data = getattr(ev, "data", None)
    metrics = data if getattr(ev, "type", None) == "metrics" and isinstance(data, dict) else None
    return JobEvent(
        provider_event_id=ev.id, created_at=_timestamp(ev.created_at) or datetime.now(UTC),
        level=str(getattr(ev, "level", None) or "info"), message=str(ev.message), metrics=metrics,
    )


def _message(e: Any) -> str:
    """The provider's own error text (the SDK puts OpenAI's {"error": {...}} object in body)."""
    body = getattr(e, "body", None)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(getattr(e, "message", e))
