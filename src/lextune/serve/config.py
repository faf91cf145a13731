"""`lextune serve --config FILE`: batching, adapter cache, and per-scope retrieval, validated."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lextune.core.errors import ConfigError
from lextune.core.yaml_config import describe_validation, read_yaml_mapping
from lextune.review.policy import ReviewPolicy


class ScopeConfig(BaseModel):
    """How requests for one scope (practice area, client) are answered."""

    model_config = ConfigDict(extra="forbid")

    retrieve: bool = Field(False, description="Answer from retrieved vault passages with verified citations.")
    k: int = Field(3, ge=1, le=20, description="Passages retrieved per question.")
    mode: Literal["hybrid", "bm25"] = Field("hybrid", description="BM25 alone, or BM25 + MiniLM vectors fused.")
    review: ReviewPolicy = Field(default_factory=ReviewPolicy, description="Which of the scope's cited answers, "
                                 "clause extractions and contract analyses go to the lawyers' review queue.")


class ServeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_model: str | None = Field(None, description="Base of the stock model (default: the bundled one).")
    max_batch: int = Field(16, ge=1, description="Requests decoded together in one batch.")
    batch_window_ms: float = Field(10.0, ge=0, description="How long the engine waits for more requests "
                                   "after the first before it starts a batch.")
    max_adapters: int = Field(8, ge=1, description="LoRA adapters kept loaded (least recently used leave).")
    max_request_bytes: int = Field(1_000_000, ge=1024, description="Larger request bodies get 413.")
    max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1024, description="Limit for /v1/files uploads "
                                  "(training data).")
    rate_limit_per_minute: int = Field(600, ge=1, description="Requests per minute per API key (429 beyond).")
    rate_limit_burst: int = Field(60, ge=1, description="Requests an API key may send at once before the "
                                  "per-minute rate applies.")
    scopes: dict[str, ScopeConfig] = Field(default_factory=dict, description="Per-scope settings; the "
                                           "'default' scope is what `model: active` uses.")

    def scope(self, name: str | None) -> ScopeConfig:
        """The settings of the scope a request was resolved through; a request naming a version or
        `stock` directly belongs to no scope and gets the defaults."""
        return self.scopes.get(name, ScopeConfig()) if name else ScopeConfig()


def load_serve_config(path: Path | None) -> ServeConfig:
    if path is None:
        return ServeConfig()
    data = read_yaml_mapping(path, "serve config")
    try:
        return ServeConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(describe_validation(e, str(path), "serve config")) from None
