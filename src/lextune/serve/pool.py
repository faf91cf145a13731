"""Which model answers a request, and the warm models that answer: one base in memory, many adapters.

A request's `model` field is resolved once, when the request arrives, to an immutable target (a
version id and its adapter folder, or the stock base). Activating another version changes which
target the *next* request resolves to; a request in flight keeps the one it resolved, so a switch
can never hand it half of one model and half of another.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from lextune.core.config import Settings
from lextune.core.errors import ModelError, NotFoundError
from lextune.core.records import ModelVersion
from lextune.core.store import Store
from lextune.core.tables import ActiveModelRow
from lextune.models.catalog import resolve_base_model
from lextune.models.loading import base_model_dir, load_base_model, load_tokenizer
from lextune.registry.versions import DEFAULT_SCOPE, active_version, get_version, list_versions

ACTIVE = "active"
STOCK = "stock"


class ModelNotFound(NotFoundError):
    """The `model` field names nothing served here; the message lists what is."""

    code = "model_not_found"


def base_label(spec: str | None) -> str:
    """The base model's catalog name, or the spec as given when it is not on this machine (a base
    that only a remote engine such as vLLM holds)."""
    try:
        return resolve_base_model(spec).name
    except ModelError:
        return spec or ""


@dataclass(frozen=True)
class Target:
    """What one request runs on, fixed at resolution time."""

    requested: str
    base: str  # base model spec (catalog name, GGUF path or HF folder)
    version: ModelVersion | None
    scope: str | None  # the scope whose active model this is, when asked by alias
    # While the scope runs a canary (lextune.registry.rollout): which arm answers ("active" or "canary"),
    # the canary's share, and what the arm was drawn by ("key": the caller's routing key; "random").
    arm: str | None = None
    canary_share: float | None = None
    routed_by: str | None = None

    @property
    def adapter(self) -> str | None:
        return self.version.id if self.version else None

    @property
    def name(self) -> str:
        return self.version.name if self.version else f"{STOCK}:{base_label(self.base)}"

    def trace(self) -> dict:
        return {"model_version": self.name, "model_version_id": self.adapter,
                "fine_tuned": self.version is not None, "scope": self.scope, "adapter": self.adapter,
                "base_model": base_label(self.base), "arm": self.arm,
                **({"canary_share": self.canary_share, "routed_by": self.routed_by} if self.arm else {})}


def scopes(store: Store) -> dict[str, str | None]:
    """Every scope with an activation row -> its active version id (None: stock)."""
    with store.session() as s:
        return {r.scope: r.model_version_id for r in s.scalars(select(ActiveModelRow))}


def resolve(store: Store, requested: str, default_base: str | None = None, key: str | None = None) -> Target:
    """`active`, a scope alias, `stock` (or the base's name), a version name or id -> a Target.

    An alias of a scope running a canary resolves to the canary's candidate for its share of routing
    keys (`key`: the request's user, else its id; one key always gets the same arm); without a key the
    arm is drawn at random for this request."""
    from lextune.registry.rollout import ARM_CANARY, arm_for, canaries

    base_name = resolve_base_model(default_base).name
    known_scopes = scopes(store)
    running = canaries(store)
    if requested in (ACTIVE, *known_scopes, *running):
        scope = DEFAULT_SCOPE if requested == ACTIVE else requested
        version = active_version(store, scope)
        if scope in running:
            candidate_id, share = running[scope]
            routed_by = "key" if key else "random"
            arm = arm_for(scope, candidate_id, key or uuid.uuid4().hex, share)
            if arm == ARM_CANARY:
                version = get_version(store, candidate_id)
            return Target(requested, version.base_model if version else (default_base or base_name), version,
                          scope, arm=arm, canary_share=share, routed_by=routed_by)
        return Target(requested, version.base_model if version else (default_base or base_name), version, scope)
    if requested in (STOCK, base_name, f"{STOCK}:{base_name}"):
        return Target(requested, default_base or base_name, None, None)
    for v in list_versions(store):
        if requested in (v.id, v.name):
            if v.kind != "local":
                raise ModelNotFound(f"model '{requested}' is a remote version (it lives at "
                                    f"{(v.remote or {}).get('backend', 'its provider')}); it is not served here")
            return Target(requested, v.base_model, v, None)
    raise ModelNotFound(f"no model '{requested}'; served here: {', '.join(served_names(store, default_base))}")


def served_names(store: Store, default_base: str | None = None) -> list[str]:
    names = [ACTIVE, STOCK, resolve_base_model(default_base).name]
    names += sorted(s for s in scopes(store) if s != DEFAULT_SCOPE)
    names += [v.name for v in list_versions(store) if v.kind == "local"]
    return names


@dataclass
class _Base:
    model: object  # a PeftModel once an adapter is loaded, else the plain model
    tokenizer: object
    adapters: OrderedDict  # adapter name -> None, least recently used first


class ModelPool:
    """Warm models: each base loaded once, its versions' LoRA adapters loaded into it (PEFT
    multi-adapter) and kept in an LRU of `max_adapters`.

    `prepare` mutates models and must only be called from the engine's single worker thread;
    `tokenizer` may be called from any thread (it loads only the tokenizer files).
    """

    def __init__(self, settings: Settings, max_adapters: int = 8):
        if max_adapters < 1:
            raise ModelError("max_adapters must be at least 1")
        self.settings = settings
        self.max_adapters = max_adapters
        self._bases: dict[str, _Base] = {}
        self._tokenizers: dict[str, object] = {}
        self._tok_lock = threading.Lock()
        self.loads = 0  # adapter loads so far (a test and the metrics read it)
        self.evictions = 0

    def tokenizer(self, base: str):
        with self._tok_lock:
            if base not in self._tokenizers:
                _, folder = base_model_dir(base, self.settings)
                self._tokenizers[base] = load_tokenizer(folder)
            return self._tokenizers[base]

    def encode_lock(self) -> threading.Lock:
        """Fast tokenizers are not safe to call from several threads at once."""
        return self._tok_lock

    def loaded_adapters(self, base: str) -> list[str]:
        b = self._bases.get(base)
        return list(b.adapters) if b else []

    def prepare(self, base: str, versions: list[ModelVersion]):
        """The model for `base` with every adapter of `versions` loaded (worker thread only)."""
        b = self._bases.get(base)
        if b is None:
            model, tok, _ = load_base_model(base, self.settings)
            b = self._bases[base] = _Base(model, tok, OrderedDict())
        needed = {v.id for v in versions}
        for v in versions:
            if v.id in b.adapters:
                b.adapters.move_to_end(v.id)
                continue
            self._load_adapter(b, v)
        while len(b.adapters) > self.max_adapters:
            victim = next((a for a in b.adapters if a not in needed), None)
            if victim is None:  # this round needs them all: over the limit until it ends
                break
            b.model.delete_adapter(victim)
            del b.adapters[victim]
            self.evictions += 1
        return b.model, b.tokenizer

    def _load_adapter(self, b: _Base, v: ModelVersion) -> None:
        from lextune.models.adapters import attach_adapter
        from lextune.security.sealed_files import keyring_for_file

        folder = Path(v.adapter_path)
        if not (folder / "adapter_config.json").is_file():
            raise ModelError(f"model version {v.name}: adapter files missing at {folder}")
        # Sealed at rest: opened in memory with the keyring of the store (tenant) that owns the version.
        b.model = attach_adapter(b.model, folder, keyring_for_file(folder, self.settings), adapter_name=v.id)
        b.adapters[v.id] = None
        self.loads += 1

    def is_multi_adapter(self, base: str) -> bool:
        from peft import PeftModel

        b = self._bases.get(base)
        return b is not None and isinstance(b.model, PeftModel)
