"""`lextune monitor drift` end to end, and the optional MLflow export."""

from __future__ import annotations

import json
import sys
import types

import pytest
from monitor_synth import NOW, fake_embed, plant, webhook_server
from test_drift import SHIFT_ALERTS
from typer.testing import CliRunner

from lextune.cli import app
from lextune.monitor import drift, export


@pytest.fixture()
def webhook():
    with webhook_server() as hook:
        yield hook


def test_cli_writes_json_html_and_posts_alerts(store, webhook, tmp_path, monkeypatch):
    plant(store, shift=True)
    monkeypatch.setattr(drift, "default_embed", fake_embed)
    url, received = webhook
    page = tmp_path / "drift.html"
    result = CliRunner().invoke(app, ["monitor", "drift", "--weeks", "4", "--until", NOW.date().isoformat(),
                                      "--json", "--html", str(page), "--webhook", url])
    assert result.exit_code == 0, (result.output, result.exception)
    out = result.stdout
    report = json.loads(out[out.index("{"):])
    assert {a["metric"] for a in report["alerts"]} == SHIFT_ALERTS
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert len(received) == 1


def test_cli_table_without_alerts_and_bad_thresholds(store, tmp_path, monkeypatch):
    plant(store, shift=False)
    monkeypatch.setattr(drift, "default_embed", fake_embed)
    result = CliRunner().invoke(app, ["monitor", "drift", "--weeks", "4", "--until", NOW.date().isoformat()])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "no alert for 2025-W11" in result.output and "latency p95" in result.output
    bad = tmp_path / "t.yaml"
    bad.write_text("refusal_rate_increse: 0.2\n")
    result = CliRunner().invoke(app, ["monitor", "drift", "--thresholds", str(bad)])
    assert result.exit_code != 0 and "refusal_rate_increse" in str(result.exception) + result.output


def test_mlflow_export_skips_cleanly_and_logs_when_present(monkeypatch):
    report = {"latest_week": "2025-W11", "alerts": [{}],
              "weeks": [{"week": "2025-W10", "answers": 40, "refusal_rate": 0.05, "topic_js": None},
                        {"week": "2025-W11", "answers": 40, "refusal_rate": 0.3, "topic_js": 0.4}]}
    monkeypatch.setattr(export, "mlflow_available", lambda: False)
    assert export.export_mlflow(report) is None
    logged: list = []

    class Run:
        info = types.SimpleNamespace(run_id="run-1")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    fake = types.SimpleNamespace(set_experiment=lambda name: None, start_run=lambda run_name: Run(),
                                 log_params=lambda p: None, log_metric=lambda k, v: logged.append((k, v, None)),
                                 log_metrics=lambda m, step: logged.extend((k, v, step) for k, v in m.items()))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setattr(export, "mlflow_available", lambda: True)
    assert export.export_mlflow(report) == "run-1"
    assert ("refusal_rate", 0.3, 1) in logged and ("alerts", 1.0, None) in logged
    assert not any(k == "topic_js" and s == 0 for k, _, s in logged)
