"""Settings: where lextune keeps its state (LEXTUNE_HOME) and the paths derived from it."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
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
    audit_key: SecretStr | None = Field(
        default=None,
        description="Key of the audit trail's HMAC (hex or base64, at least 16 bytes); wins over "
        "audit_key_file. Never written to the database, the anchor or logs.",
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="File holding the audit HMAC key; default home/keys/audit.key, created (0600) at the "
        "first audited action. Keep it off the database's volume (a secrets mount).",
    )
    audit_anchor_file: Path | None = Field(
        default=None,
        description="Signed anchor of the audit trail's head (count, last id, last MAC); default "
        "home/audit.anchor. Keep it where whoever can write the database cannot (WORM storage).",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Master key (32 bytes, hex or base64) wrapping each store's data keys; wins over "
        "master_key_file. Never written to the database, the audit trail or logs.",
    )
    master_key_file: Path | None = Field(
        default=None,
        description="File holding the master key; default home/keys/master.key, created (0600) with a new "
        "store. Keep it off the database's volume (a secrets mount, a KMS: key_provider).",
    )
    key_provider: str | None = Field(
        default=None,
        description="'module:factory' of a KMS hook wrapping data keys instead of a local master key "
        "(docs/security.md).",
    )
    database_schema: str | None = Field(
        default=None,
        description="PostgreSQL schema of this store (each tenant has its own); default: the URL's.",
    )
    tenant: str = Field(
        default="default",
        description="The tenant (firm) the CLI acts for; 'default' is LEXTUNE_HOME's own store.",
    )
    user: str | None = Field(
        default=None,
        description="The user the CLI acts as (its role is checked); default: the local admin.",
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

    @property
    def audit_key_path(self) -> Path:
        return Path(self.audit_key_file).expanduser() if self.audit_key_file else self.home / "keys" / "audit.key"

    @property
    def audit_anchor_path(self) -> Path:
        return Path(self.audit_anchor_file).expanduser() if self.audit_anchor_file else self.home / "audit.anchor"

    @property
    def master_key_path(self) -> Path:
        return Path(self.master_key_file).expanduser() if self.master_key_file else self.home / "keys" / "master.key"

    def ensure_dirs(self) -> None:
        for d in (self.home, self.datasets_dir, self.models_dir, self.versions_dir):
            d.mkdir(parents=True, exist_ok=True)


DEFAULT_TENANT = "default"
# Caches under the home whose entries can quote documents (erasure deletes them: vault/forget.py).
EVAL_CACHE = "eval_cache.sqlite"  # evaluation results, values sealed (evals/result_cache.py)
TEACHER_CACHE = "teacher_cache.jsonl"  # the teacher's default answer cache (data/teacher.py)


def root_settings() -> Settings:
    """The deployment's own settings (the default tenant's store holds the control plane)."""
    settings = Settings()
    settings.home = Path(os.path.expanduser(str(settings.home))).resolve()
    return settings


def tenant_settings(root: Settings, tenant: str) -> Settings:
    """The settings of one tenant's store: its own folder (tenants/<slug>) and database (a SQLite file
    there, or its own schema on PostgreSQL), under the deployment's master and audit keys."""
    if tenant == DEFAULT_TENANT:
        return root
    home = root.home / "tenants" / tenant
    postgres = bool(root.database_url) and not root.database_url.startswith("sqlite")
    return root.model_copy(update={
        "home": home, "tenant": tenant,
        "database_url": root.database_url if postgres else None,
        # Named after the deployment's own schema, so two deployments sharing a database stay apart.
        "database_schema": f"{root.database_schema or 'lextune'}_t_{tenant.replace('-', '_')}" if postgres else None,
        "master_key_file": root.master_key_path, "audit_key_file": root.audit_key_path,
        "audit_anchor_file": (root.audit_anchor_path.with_name(f"{tenant}.{root.audit_anchor_path.name}")
                              if root.audit_anchor_file else None),
    })


def get_settings() -> Settings:
    """Settings as the environment says now (not cached: tests and the CLI switch homes); with
    LEXTUNE_TENANT set, that tenant's store."""
    root = root_settings()
    return tenant_settings(root, root.tenant)


def child_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process that must open exactly the store of `settings` (a tenant's
    included): every location spelled out, acting as that store's own local admin."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in ("LEXTUNE_USER",)}
    env.update({"LEXTUNE_HOME": str(settings.home), "LEXTUNE_TENANT": DEFAULT_TENANT,
                "LEXTUNE_MASTER_KEY_FILE": str(settings.master_key_path),
                "LEXTUNE_AUDIT_KEY_FILE": str(settings.audit_key_path),
                "LEXTUNE_AUDIT_ANCHOR_FILE": str(settings.audit_anchor_path)})
    for name, value in (("LEXTUNE_DATABASE_URL", settings.database_url),
                        ("LEXTUNE_DATABASE_SCHEMA", settings.database_schema)):
        if value:
            env[name] = value
        else:
            env.pop(name, None)
    return env
