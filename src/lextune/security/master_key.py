"""The master key that wraps each store's data keys: a key file, the environment, or a KMS hook.

Only wrapped data keys are ever stored; the master key itself never touches the database, the logs or
the audit trail. A KMS (AWS KMS, GCP KMS, Vault transit...) plugs in through LEXTUNE_KEY_PROVIDER =
"module:factory": factory(settings) returns an object with `key_id` (str), `wrap(bytes) -> bytes` and
`unwrap(bytes) -> bytes`, so the master key never leaves the KMS (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import os
import secrets
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lextune.core.audit_key import _create_key_file, _parse
from lextune.core.config import Settings
from lextune.core.errors import ConfigError

_WRAP_AAD = b"lextune-data-key-v1"


class MasterKeyError(ConfigError):
    """The master key is missing, malformed, or not the one the data keys were wrapped with."""


class KeyProvider(Protocol):
    key_id: str

    def wrap(self, data_key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


class LocalMasterKey:
    """A 256-bit key held by this process (from a file or the environment); wraps with AES-GCM."""

    def __init__(self, key: bytes, source: str):
        if len(key) != 32:
            raise MasterKeyError(f"{source}: the master key has {len(key)} bytes; it needs 32 (AES-256)")
        self._aead = AESGCM(key)
        self.key_id = hmac.new(key, b"lextune-master-key-id", hashlib.sha256).hexdigest()[:16]
        self.source = source

    def wrap(self, data_key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, _WRAP_AAD)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], _WRAP_AAD)
        except InvalidTag:
            raise MasterKeyError(f"{self.source}: this master key cannot unwrap the store's data key "
                                 "(wrong key, or the wrapped key was altered)") from None


def _from_hook(spec: str, settings: Settings) -> KeyProvider:
    module, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr or "provider")
    except (ImportError, AttributeError) as e:
        raise MasterKeyError(f"LEXTUNE_KEY_PROVIDER={spec!r}: cannot import it ({e})") from None
    provider = factory(settings)
    for name in ("key_id", "wrap", "unwrap"):
        if not hasattr(provider, name):
            raise MasterKeyError(f"LEXTUNE_KEY_PROVIDER={spec!r}: the provider has no {name!r}")
    return provider


def load_master(settings: Settings, create: bool) -> KeyProvider | None:
    """The master key provider: KMS hook, LEXTUNE_MASTER_KEY, or the key file (created 0600 when
    `create` and absent: a new, empty store). None when there is none and `create` is False."""
    if settings.key_provider:
        return _from_hook(settings.key_provider, settings)
    if settings.master_key is not None:
        return LocalMasterKey(_parse(settings.master_key.get_secret_value(), "LEXTUNE_MASTER_KEY"),
                              "LEXTUNE_MASTER_KEY")
    path = settings.master_key_path
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    return LocalMasterKey(_parse(path.read_text(encoding="ascii", errors="replace"), str(path)), str(path))


def new_master_key_file(path) -> None:
    """A fresh random master key at `path` (0600); refuses to overwrite one."""
    if path.exists():
        raise MasterKeyError(f"{path}: a key file is already there; choose another path")
    _create_key_file(path)


def random_data_key() -> bytes:
    return secrets.token_bytes(32)
