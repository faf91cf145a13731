"""Training metrics to experiment trackers (MLflow) when installed and asked for by the recipe.

A tracker never stops training: a missing package or a tracker error becomes a warning event.
MLflow writes where MLFLOW_TRACKING_URI points, else to LEXTUNE_HOME/mlruns (offline).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

Warn = Callable[[str], None]


def _flat(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else k, v, out)
    else:
        out[prefix] = value
    return out


class MlflowTracker:
    def __init__(self, mlflow, run_name: str, params: dict, home: Path):
        self.mlflow = mlflow
        mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or (home / "mlruns").as_uri())
        mlflow.set_experiment("lextune")
        self.run = mlflow.start_run(run_name=run_name)
        mlflow.log_params({k: str(v)[:500] for k, v in _flat("", params, {}).items()})

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics(metrics, step=step)

    def end(self, status: str) -> None:
        self.mlflow.end_run(status={"succeeded": "FINISHED", "cancelled": "KILLED"}.get(status, "FAILED"))


class Trackers:
    """Every tracker the recipe asked for, behind one call each; errors become warnings."""

    def __init__(self, names: list[str], run_name: str, params: dict, home: Path, warn: Warn):
        self.warn = warn
        self.active: list = []
        for name in names:
            if name != "mlflow":  # pragma: no cover - the recipe only allows mlflow
                continue
            try:
                import mlflow
            except ImportError:
                warn("report_to: mlflow asked for, but mlflow is not installed (pip install mlflow); not logged")
                continue
            try:
                self.active.append(MlflowTracker(mlflow, run_name, params, home))
            except Exception as e:  # noqa: BLE001 - a tracker must never stop training
                warn(f"mlflow: could not start a run: {e}")

    def log(self, metrics: dict[str, float], step: int) -> None:
        for t in list(self.active):
            try:
                t.log(metrics, step)
            except Exception as e:  # noqa: BLE001 - trackers fail in their own ways; training goes on
                self.warn(f"{type(t).__name__}: logging stopped: {e}")
                self.active.remove(t)

    def end(self, status: str) -> None:
        for t in self.active:
            try:
                t.end(status)
            except Exception as e:  # noqa: BLE001 - trackers fail in their own ways; training goes on
                self.warn(f"{type(t).__name__}: could not close the run: {e}")
        self.active = []
