"""Settings: where lextune keeps its state (LEXTUNE_HOME) and the paths derived from it."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings, read from LEXTUNE_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="LEXTUNE_", extra="forbid")

    home: Path = Field(
        default_factory=lambda: Path("~/.lextune").expanduser(),
        description="Directory holding the database, datasets, model cache and adapters.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is a SQLite file lextune.db under home.",
    )
    threads: int | None = Field(
        default=None, description="CPU threads for torch; default lets torch decide."
    )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'lextune.db'}"

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def models_dir(self) -> Path:
        """Converted base-model weights (safetensors cache of GGUF files)."""
        return self.home / "models"

    @property
    def versions_dir(self) -> Path:
        """Trained adapters, one folder per model version."""
        return self.home / "versions"

    def ensure_dirs(self) -> None:
        for d in (self.home, self.datasets_dir, self.models_dir, self.versions_dir):
            d.mkdir(parents=True, exist_ok=True)


def get_settings() -> Settings:
    """Settings as the environment says now (not cached: tests and the CLI switch homes)."""
    settings = Settings()
    settings.home = Path(os.path.expanduser(str(settings.home))).resolve()
    return settings
