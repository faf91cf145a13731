"""Alert thresholds: sensible defaults, overridden by a YAML mapping whose every key is checked.

A threshold set to null turns that alert off. Rates are shares (0..1); "increase" thresholds are absolute
(0.10 = ten percentage points over the earlier weeks); ratios compare the latest week with the earlier ones.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lextune.core.errors import ConfigError
from lextune.core.yaml_config import describe_validation, read_yaml_mapping


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_answers: int = Field(20, ge=1, description="answers needed in the latest week and in the earlier weeks")
    min_reviews: int = Field(10, ge=1, description="review decisions needed for the correction-rate alert")
    input_length_ratio: float | None = Field(1.5, gt=1, description="mean input chars: latest / earlier (or inverse)")
    output_length_ratio: float | None = Field(None, gt=1, description="mean output tokens: latest / earlier")
    topic_js: float | None = Field(0.10, ge=0, le=1, description="Jensen-Shannon divergence (bits) of topic mixture")
    novel_topic_share: float | None = Field(0.20, ge=0, le=1, description="share of questions unlike every cluster")
    refusal_rate_increase: float | None = Field(0.10, ge=0, le=1)
    not_in_documents_rate_increase: float | None = Field(0.10, ge=0, le=1)
    correction_rate_increase: float | None = Field(0.15, ge=0, le=1)
    latency_p95_ratio: float | None = Field(1.5, gt=1)
    latency_p50_ratio: float | None = Field(None, gt=1)
    clusters: int = Field(8, ge=1, le=64, description="k of k-means over the earlier weeks' questions")
    realert_margin: float = Field(0.25, ge=0, description="an alert already raised for its week fires again once "
                                  "its value is this much worse (relative) than when it was last raised")


def load_thresholds(path: Path | None) -> Thresholds:
    if path is None:
        return Thresholds()
    data = read_yaml_mapping(Path(path), "thresholds")
    try:
        return Thresholds(**data)
    except ValidationError as e:
        msg = describe_validation(e, str(path), "thresholds")
        unknown = [k for k in data if k not in Thresholds.model_fields]
        hints = [f"'{k}' -> did you mean '{m[0]}'?" for k in unknown
                 if (m := difflib.get_close_matches(k, Thresholds.model_fields, n=1))]
        raise ConfigError(msg + (" (" + "; ".join(hints) + ")" if hints else "")) from None
