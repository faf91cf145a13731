"""Errors the training backends raise; each carries a stable `code` the CLI and API can match on."""

from __future__ import annotations

from lextune.core.errors import ConfigError, LextuneError


class BackendError(LextuneError):
    """A remote training backend refused, failed or could not be reached; the message says which and why."""

    code = "backend_error"


class UnknownBackendError(ConfigError):
    """The backend name is not one lextune knows (usually a typo)."""

    code = "unknown_backend"


class BackendNotSupportedError(BackendError):
    """A backend lextune names but does not implement yet; raised before any upload."""

    code = "backend_not_supported_yet"

    def __init__(self, name: str, hint: str = ""):
        self.backend = name
        super().__init__(
            f"backend_not_supported_yet: training backend '{name}' is not supported yet"
            + (f"; {hint}" if hint else "")
        )


class BackendCredentialsError(BackendError):
    """No credentials were found where the backend looks for them (environment, config file)."""

    code = "backend_credentials_missing"


class RemoteJobError(BackendError):
    """The provider's job did not produce a model (failed, cancelled, still running, or timed out)."""

    code = "remote_job_failed"
