"""Drift over synthetic served weeks: a planted shift shows in the report and fires alerts; no shift, no alert."""

from __future__ import annotations

import re

import pytest
from monitor_synth import NOW, fake_embed, plant, webhook_server
from sqlalchemy import select

from lextune.core.errors import ConfigError
from lextune.core.tables import AuditEventRow
from lextune.monitor.alerts import ALERT, raise_alerts
from lextune.monitor.drift import drift_report
from lextune.monitor.html import render_html
from lextune.monitor.questions import log_dir, prune
from lextune.monitor.thresholds import load_thresholds
from lextune.monitor.topics import js_divergence, kmeans

SHIFT_ALERTS = {"input_length", "topic_js", "novel_topic_share", "refusal_rate", "not_in_documents_rate",
                "latency_p95", "correction_rate"}


@pytest.fixture()
def webhook():
    with webhook_server() as hook:
        yield hook


@pytest.fixture()
def shifted(store):
    plant(store, shift=True)
    return store


def test_planted_shift_shows_in_the_report_and_fires_alerts(shifted):
    report = drift_report(shifted, weeks=4, now=NOW, embed=fake_embed)
    assert report["latest_week"] == "2025-W11"
    assert report["reference_weeks"] == ["2025-W08", "2025-W09", "2025-W10"]
    latest, ref = report["weeks"][-1], report["reference"]
    assert latest["answers"] == ref["answers"] / 3 == 40
    assert latest["input_chars_mean"] > 2.5 * ref["input_chars_mean"]
    assert latest["refusal_rate"] > ref["refusal_rate"] + 0.15
    assert latest["latency_p95_ms"] > 3 * ref["latency_p95_ms"]
    assert latest["correction_rate"] == 0.5 and ref["correction_rate"] == 0.1
    assert latest["novel_topic_share"] >= 0.4 and ref["novel_topic_share"] < 0.05
    assert latest["topic_js"] > 0.2 and all(w["topic_js"] < 0.1 for w in report["weeks"][:-1])
    assert {a["metric"] for a in report["alerts"]} == SHIFT_ALERTS
    assert all(a["week"] == "2025-W11" for a in report["alerts"])


def test_no_shift_no_alert(store):
    plant(store, shift=False)
    report = drift_report(store, weeks=4, now=NOW, embed=fake_embed)
    assert report["alerts"] == [], report["alerts"]
    assert report["weeks"][-1]["topic_js"] < 0.1 and report["notes"] == []


def test_too_little_traffic_checks_only_what_it_can(store):
    plant(store, shift=True, per_week=8)
    report = drift_report(store, weeks=4, now=NOW, embed=fake_embed)
    assert {a["metric"] for a in report["alerts"]} == {"correction_rate"}
    assert any("fewer than 20 answers" in n for n in report["notes"])


def test_thresholds_yaml_overrides_and_names_a_typo(shifted, tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("latency_p95_ratio: 10\nrefusal_rate_increase: null\n")
    report = drift_report(shifted, weeks=4, now=NOW, embed=fake_embed, thresholds=load_thresholds(f))
    assert {a["metric"] for a in report["alerts"]} == SHIFT_ALERTS - {"latency_p95", "refusal_rate"}
    f.write_text("latency_p59_ratio: 2\n")
    with pytest.raises(ConfigError, match=r"unknown key 'latency_p59_ratio'.*did you mean 'latency_p95_ratio'"):
        load_thresholds(f)
    f.write_text("topic_js: 3\n")
    with pytest.raises(ConfigError, match="'topic_js'"):
        load_thresholds(f)


def test_alerts_go_to_the_log_the_audit_trail_and_the_webhook(shifted, webhook, caplog):
    url, received = webhook
    report = drift_report(shifted, weeks=4, now=NOW, embed=fake_embed)
    with caplog.at_level("WARNING", logger="lextune.monitor"):
        assert raise_alerts(shifted, report, url) is None
    assert sum("drift alert" in r.getMessage() for r in caplog.records) == len(SHIFT_ALERTS)
    assert len(received) == 1 and received[0]["week"] == "2025-W11"
    assert {a["metric"] for a in received[0]["alerts"]} == SHIFT_ALERTS
    with shifted.session() as s:
        rows = s.scalars(select(AuditEventRow).where(AuditEventRow.action == ALERT)).all()
    assert {r.target for r in rows} == SHIFT_ALERTS
    for r in rows:  # numbers only: no message, no question text
        assert set(r.details) == {"metric", "week", "direction", "value", "reference", "threshold", "delivered",
                                  "source"} and r.details["delivered"] is True
    # A webhook that is down: reported, not raised (--realert: these alerts were raised already).
    assert "webhook" in raise_alerts(shifted, report, "http://127.0.0.1:9/none", realert=True)


def test_html_renders_offline(shifted):
    page = render_html(drift_report(shifted, weeks=4, now=NOW, embed=fake_embed))
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= 8
    assert "topic mixture" in page and "latency p95" in page and "2025-W11" in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    assert "visa" not in page and "tenant" not in page  # no question text


def test_questions_are_sealed_on_disk_and_pruned_by_week(shifted):
    files = sorted(log_dir(shifted).glob("*.log"))
    assert [f.stem for f in files] == ["2025-W08", "2025-W09", "2025-W10", "2025-W11"]
    assert "visa" not in files[-1].read_text() and "employee" not in files[0].read_text()
    assert prune(shifted, "2025-W10") == ["2025-W08", "2025-W09"]


def test_kmeans_and_js_basics():
    import numpy as np

    x = np.array([[1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99]], dtype=float)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    c = kmeans(x, 2)
    assert sorted(np.argmax(x @ c.T, axis=1).tolist()) == [0, 0, 1, 1]
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_divergence([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0)
