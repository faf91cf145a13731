"""Backends lextune names but does not implement yet: building one fails at once, before any upload.

They are listed so a recipe naming them gets `backend_not_supported_yet` instead of "unknown
backend", which would wrongly suggest a typo.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from lextune.train.backends.base import JobEvent, RemoteJob, TrainingBackend
from lextune.train.backends.errors import BackendNotSupportedError

UNSUPPORTED = ("anthropic", "bedrock", "azure-openai")
_HINT = "use the openai backend (any OpenAI-compatible fine-tuning service) or train locally"


class UnsupportedBackend(TrainingBackend):
    """A named placeholder: constructing it raises BackendNotSupportedError."""

    def __init__(self, name: str, config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None):
        self.name = name
        self._fail()

    def _fail(self) -> NoReturn:
        raise BackendNotSupportedError(self.name, _HINT)

    # Unreachable through the constructor; kept so the class satisfies the interface.
    def submit(self, train_jsonl: Path, validation_jsonl: Path | None, base_model: str,
               hyperparameters: dict[str, Any] | None = None, suffix: str | None = None) -> RemoteJob:
        self._fail()

    def poll(self, job: RemoteJob) -> RemoteJob:
        self._fail()

    def events(self, job: RemoteJob, after: str | None = None) -> list[JobEvent]:
        self._fail()

    def cancel(self, job: RemoteJob) -> RemoteJob:
        self._fail()
