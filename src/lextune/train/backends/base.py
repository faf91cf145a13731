"""The training-backend interface: submit a job to a provider, poll it, mirror its events, cancel it.

Remote providers own the job; lextune keeps a `RemoteJob` record (provider job and file ids, state,
resulting model id) so a job can be resumed, mirrored or cancelled from another process later.
States follow OpenAI's fine-tuning job states, which other providers' states are mapped onto.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from lextune.core.records import utcnow
from lextune.train.backends.errors import RemoteJobError

JobState = Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class RemoteJob(BaseModel):
    """A fine-tuning job as the provider last reported it; holds ids, never credentials."""

    backend: str
    provider_job_id: str
    # Which uploaded file plays which part: {"training": "file-...", "validation": "file-..."}.
    provider_file_ids: dict[str, str] = Field(default_factory=dict)
    base_model: str
    state: JobState
    raw_status: str  # the provider's own word for the state, kept for diagnosis
    fine_tuned_model: str | None = None  # the provider's model id, once succeeded
    error: str | None = None
    endpoint: str | None = None  # base URL the job lives at, so a later process polls the same service
    # The newest event already mirrored; wait() resumes after it, so restarts do not repeat events.
    last_event_id: str | None = None
    trained_tokens: int | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES


class JobEvent(BaseModel):
    """One provider event (log line or metrics point) of a remote job."""

    provider_event_id: str
    created_at: datetime
    level: str  # info, warn, error
    message: str
    metrics: dict[str, Any] | None = None  # e.g. {"step": 3, "train_loss": 1.2}, for metrics events


EventCallback = Callable[[JobEvent], None]


class TrainingBackend(ABC):
    """A place fine-tuning jobs run. Subclasses talk to one provider; wait() and result() are shared."""

    name: str

    @abstractmethod
    def submit(
        self, train_jsonl: Path, validation_jsonl: Path | None, base_model: str,
        hyperparameters: dict[str, Any] | None = None, suffix: str | None = None,
    ) -> RemoteJob:
        """Validate and upload the data, create the job, and return it as first reported."""

    @abstractmethod
    def poll(self, job: RemoteJob) -> RemoteJob:
        """The job as the provider reports it now."""

    @abstractmethod
    def events(self, job: RemoteJob, after: str | None = None) -> list[JobEvent]:
        """Events newer than the event id `after` (all when None), oldest first."""

    @abstractmethod
    def cancel(self, job: RemoteJob) -> RemoteJob:
        """Ask the provider to stop the job; returns the job's state afterwards."""

    def close(self) -> None:
        """Release connections; a no-op unless the backend holds any."""

    def result(self, job: RemoteJob) -> str:
        """The provider's id of the tuned model; RemoteJobError unless the job succeeded."""
        if not job.done:
            job = self.poll(job)
        if job.state != "succeeded":
            reason = f": {job.error}" if job.error else ""
            raise RemoteJobError(
                f"{self.name} job {job.provider_job_id} is {job.state}{reason}; it produced no model"
            )
        if not job.fine_tuned_model:
            raise RemoteJobError(
                f"{self.name} job {job.provider_job_id} succeeded but the provider reported no model id"
            )
        return job.fine_tuned_model

    def wait(
        self, job: RemoteJob, on_event: EventCallback | None = None, interval: float = 5.0,
        max_interval: float = 60.0, timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RemoteJob:
        """Poll until the job ends, passing each new event to `on_event` in order; returns the final job.

        The wait between polls doubles while nothing changes (capped at `max_interval`) and drops
        back to `interval` when something does, so a quiet hour-long job costs few requests.
        A timeout raises RemoteJobError but leaves the job running at the provider.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = interval
        while True:
            before = (job.state, job.last_event_id)
            # The provider reports the state; how far events were mirrored is ours to keep.
            job = self.poll(job).model_copy(update={"last_event_id": job.last_event_id})
            job = self._mirror(job, on_event)
            if job.done:
                # Providers may log the last lines just after the state flips; catch them too.
                return self._mirror(job, on_event)
            delay = interval if (job.state, job.last_event_id) != before else min(delay * 2, max_interval)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RemoteJobError(
                        f"{self.name} job {job.provider_job_id} still {job.state} after {timeout:g}s;"
                        " it keeps running at the provider (cancel it or wait again)"
                    )
                delay = min(delay, left)
            sleep(delay)

    def _mirror(self, job: RemoteJob, on_event: EventCallback | None) -> RemoteJob:
        new = self.events(job, after=job.last_event_id)
        for event in new:
            if on_event:
                on_event(event)
        if new:
            job = job.model_copy(update={"last_event_id": new[-1].provider_event_id})
        return job
