"""The audit trail's HMAC key: kept outside the database (env or key file), never logged or recorded."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lextune.core.config import Settings
from lextune.core.errors import ConfigError

KEY_BYTES = 32
MIN_KEY_BYTES = 16
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")


class AuditKeyError(ConfigError):
    """The audit key is missing where the trail needs it, or is malformed."""


def _parse(text: str, where: str) -> bytes:
    """Hex (preferred when it reads as hex) or base64 (standard or URL-safe); messages never echo the key."""
    s = "".join(text.split())
    if _HEX.fullmatch(s):
        raw = bytes.fromhex(s)
    else:
        try:
            padded = s.replace("-", "+").replace("_", "/") + "=" * (-len(s) % 4)
            raw = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            raise AuditKeyError(f"{where}: the audit key is neither hex nor base64") from None
    if len(raw) < MIN_KEY_BYTES:
        raise AuditKeyError(f"{where}: the audit key has {len(raw)} bytes; it needs at least {MIN_KEY_BYTES}")
    return raw


def load_key(settings: Settings, create: bool = False) -> bytes | None:
    """The key from LEXTUNE_AUDIT_KEY or the key file; None when absent (a new file only if `create`)."""
    if settings.audit_key is not None:
        return _parse(settings.audit_key.get_secret_value(), "LEXTUNE_AUDIT_KEY")
    path = settings.audit_key_path
    try:
        return _parse(path.read_text(encoding="ascii", errors="replace"), str(path))
    except FileNotFoundError:
        if not create:
            return None
    _create_key_file(path)
    return _parse(path.read_text(encoding="ascii", errors="replace"), str(path))


def _create_key_file(path: Path) -> None:
    """Write a fresh random key to `path` (0600) unless one appears there first: the first writer wins."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(KEY_BYTES) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic and exclusive: a concurrent process's key is never replaced
        except FileExistsError:
            pass
    finally:
        Path(tmp).unlink(missing_ok=True)


def key_id(key: bytes) -> str:
    """A short public fingerprint of the key (tells which key signed what; reveals nothing of it)."""
    return hmac.new(key, b"lextune-audit-key-id", hashlib.sha256).hexdigest()[:16]


def mac(key: bytes, domain: str, payload: Any) -> str:
    """HMAC-SHA256 over canonical JSON of [domain, payload]; the domain keeps row and anchor MACs apart."""
    msg = json.dumps([domain, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()


ROW_DOMAIN = "lextune-audit-row-v1"


def ts_text(ts: datetime) -> str:
    """A timestamp as the MAC sees it: naive UTC ISO with microseconds (what any database gives back)."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.isoformat(timespec="microseconds")


def row_mac(key: bytes, prev: str, row_id: int, ts: datetime, actor: str, action: str, target: str,
            details: Any) -> str:
    """The MAC of one audit row: its id ties it to its position, `prev` to the row before it."""
    return mac(key, ROW_DOMAIN, [prev, row_id, ts_text(ts), actor, action, target, details])
