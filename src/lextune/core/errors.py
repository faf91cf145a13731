"""Errors lextune raises on bad input; the CLI prints their message on one line and exits 1."""

from __future__ import annotations

from pathlib import Path


class LextuneError(Exception):
    """Base class: a problem the user can fix, with a message that says what and where."""


class IngestError(LextuneError):
    """A file could not be read or parsed; the batch goes on without it."""

    def __init__(self, path: Path | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ConfigError(LextuneError):
    """A recipe or setting is invalid (unknown key, wrong type, impossible value)."""


class DatasetError(LextuneError):
    """A dataset file is missing, malformed or unusable for the requested step."""


class ModelError(LextuneError):
    """A base model or model version cannot be found or loaded."""


class NotFoundError(LextuneError):
    """A named record (document, dataset, model version, job) does not exist."""
