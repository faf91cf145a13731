"""Optional: the drift metrics to MLflow (one run, a step per week). MLflow is not a dependency of lextune."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

EXPORTED = ("answers", "input_chars_mean", "input_tokens_mean", "output_tokens_mean", "refusal_rate",
            "not_in_documents_rate", "latency_p50_ms", "latency_p95_ms", "correction_rate", "topic_js",
            "novel_topic_share")


def mlflow_available() -> bool:
    return importlib.util.find_spec("mlflow") is not None


def export_mlflow(report: dict[str, Any], experiment: str = "lextune-drift") -> str | None:
    """Log the weekly metrics in a new MLflow run (tracking URI from MLFLOW_TRACKING_URI); its run id,
    or None when MLflow is not installed."""
    if not mlflow_available():
        return None
    import mlflow

    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"drift {report['latest_week']}") as run:
        mlflow.log_params({"latest_week": report["latest_week"], "weeks": len(report["weeks"])})
        for step, week in enumerate(report["weeks"]):
            metrics = {k: float(week[k]) for k in EXPORTED
                       if isinstance(week.get(k), int | float) and math.isfinite(week[k])}
            if metrics:
                mlflow.log_metrics(metrics, step=step)
        mlflow.log_metric("alerts", float(len(report["alerts"])))
        return run.info.run_id
