"""Remote training backends behind one interface (submit, poll, events, cancel, result, wait).

`get_backend(name, config)` builds one by name; `config` is that backend's section of lextune's
config file (credentials may live there or in the environment, never in command-line arguments).
The `local` engine is not in this registry: it trains in-process through `lextune train`
(lextune.train.jobs); whoever gives it this interface registers it with `register_backend`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lextune.train.backends.base import TERMINAL_STATES, JobEvent, JobState, RemoteJob, TrainingBackend
from lextune.train.backends.errors import (
    BackendCredentialsError,
    BackendError,
    BackendNotSupportedError,
    RemoteJobError,
    UnknownBackendError,
)
from lextune.train.backends.unsupported import UNSUPPORTED, UnsupportedBackend

BackendFactory = Callable[[Mapping[str, Any] | None, Mapping[str, str] | None], TrainingBackend]


def _openai(config: Mapping[str, Any] | None, env: Mapping[str, str] | None) -> TrainingBackend:
    from lextune.train.backends.openai_backend import OpenAIBackend  # keeps the SDK import lazy

    return OpenAIBackend(config, env)


def _unsupported(name: str) -> BackendFactory:
    return lambda config, env: UnsupportedBackend(name, config, env)


_REGISTRY: dict[str, BackendFactory] = {"openai": _openai, **{n: _unsupported(n) for n in UNSUPPORTED}}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make `name` buildable by get_backend (how the local engine joins once it has this interface)."""
    _REGISTRY[name] = factory


def known_backends() -> list[str]:
    """Every backend name get_backend accepts, including those not supported yet."""
    return sorted(_REGISTRY)


def get_backend(
    name: str, config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> TrainingBackend:
    """The backend called `name`, built from its config section and the environment (os.environ by default)."""
    factory = _REGISTRY.get(name)
    if factory is None:
        local = " ('local' trains in-process: use lextune train)" if name == "local" else ""
        raise UnknownBackendError(f"unknown backend '{name}'{local}; known: {', '.join(known_backends())}")
    return factory(config, env)


__all__ = [
    "TERMINAL_STATES", "BackendCredentialsError", "BackendError", "BackendNotSupportedError", "JobEvent",
    "JobState", "RemoteJob", "RemoteJobError", "TrainingBackend", "UnknownBackendError", "get_backend",
    "known_backends", "register_backend",
]
