"""Alerts fire once per (metric, week, direction): again only when worse by the margin, or after clearing."""

from __future__ import annotations

import copy
import json

import pytest
from monitor_synth import NOW, fake_embed, plant, webhook_server
from sqlalchemy import select
from test_drift import SHIFT_ALERTS
from typer.testing import CliRunner

from lextune.cli import app
from lextune.core import audit
from lextune.core.tables import AuditEventRow
from lextune.monitor import drift
from lextune.monitor.alerts import ALERT, CLEARED, alert_key, raise_alerts, worse
from lextune.monitor.drift import drift_report


@pytest.fixture()
def webhook():
    with webhook_server() as hook:
        yield hook


@pytest.fixture()
def report(store):
    plant(store, shift=True)
    return drift_report(store, weeks=4, now=NOW, embed=fake_embed)


def _rows(store, action: str = ALERT) -> list:
    with store.session() as s:
        return [(r.target, dict(r.details)) for r in
                s.scalars(select(AuditEventRow).where(AuditEventRow.action == action).order_by(AuditEventRow.id))]


def _again(report: dict, **values: float) -> dict:
    """The same report as a later run would make it, with some alert values changed (others as they were)."""
    r = copy.deepcopy(report)
    for a in r["alerts"]:
        a.pop("new", None)
        a.pop("last_value", None)
        if a["metric"] in values:
            a["value"] = values[a["metric"]]
    return r


def test_two_runs_raise_once_and_the_second_marks_repeats(store, report, webhook, caplog):
    url, received = webhook
    assert raise_alerts(store, report, url) is None
    assert all(a["new"] and a["last_value"] is None for a in report["alerts"])
    second = _again(report)
    caplog.clear()
    with caplog.at_level("WARNING", logger="lextune.monitor"):
        assert raise_alerts(store, second, url) is None
    assert not any("drift alert" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert len(received) == 1 and {a["metric"] for a in received[0]["alerts"]} == SHIFT_ALERTS
    assert sorted(t for t, _ in _rows(store)) == sorted(SHIFT_ALERTS)  # one audit row per alert, not two
    assert {a["metric"] for a in second["alerts"]} == SHIFT_ALERTS  # the state is still reported
    assert not any(a["new"] for a in second["alerts"]) and second["cleared"] == []
    assert all(a["last_value"] == a["value"] for a in second["alerts"])
    from lextune.monitor.html import render_html

    assert render_html(second).count("raised already, not again") == len(SHIFT_ALERTS)
    assert "raised already" not in render_html(report)


def test_worsening_beyond_the_margin_raises_again(store, report, webhook):
    url, received = webhook
    raise_alerts(store, report, url)
    rate = next(a["value"] for a in report["alerts"] if a["metric"] == "refusal_rate")
    slightly = _again(report, refusal_rate=rate * 1.1)  # worse, but within the 25% margin
    raise_alerts(store, slightly, url)
    assert not any(a["new"] for a in slightly["alerts"]) and len(received) == 1
    much = _again(report, refusal_rate=rate * 1.3)
    raise_alerts(store, much, url)
    assert [a["metric"] for a in much["alerts"] if a["new"]] == ["refusal_rate"]
    assert len(received) == 2 and [a["metric"] for a in received[1]["alerts"]] == ["refusal_rate"]
    rows = [d for t, d in _rows(store) if t == "refusal_rate"]
    assert [d["value"] for d in rows] == [rate, rate * 1.3]
    # The margin counts from the value last raised: 1.3x is the new baseline, 1.4x is not 25% beyond it.
    third = _again(report, refusal_rate=rate * 1.4)
    raise_alerts(store, third, url)
    assert not any(a["new"] for a in third["alerts"]) and len(received) == 2


def test_cleared_then_crossed_again_raises_again(store, report, webhook):
    url, received = webhook
    raise_alerts(store, report, url)
    calm = _again(report)
    calm["alerts"] = [a for a in calm["alerts"] if a["metric"] != "latency_p95"]
    raise_alerts(store, calm, url)
    assert calm["cleared"] == [{"metric": "latency_p95", "week": "2025-W11", "direction": "up"}]
    assert [t for t, _ in _rows(store, CLEARED)] == ["latency_p95"] and len(received) == 1
    calm_again = _again(calm)
    raise_alerts(store, calm_again, url)
    assert calm_again["cleared"] == [] and len(_rows(store, CLEARED)) == 1  # cleared once
    back = _again(report)
    raise_alerts(store, back, url)
    assert [a["metric"] for a in back["alerts"] if a["new"]] == ["latency_p95"]
    assert len(received) == 2 and [a["metric"] for a in received[1]["alerts"]] == ["latency_p95"]


def test_realert_forces_and_another_week_or_direction_is_another_alert(store, report, webhook):
    url, received = webhook
    raise_alerts(store, report, url)
    forced = _again(report)
    raise_alerts(store, forced, url, realert=True)
    assert all(a["new"] for a in forced["alerts"]) and len(received) == 2
    assert len(_rows(store)) == 2 * len(SHIFT_ALERTS)
    next_week = _again(report)
    for a in next_week["alerts"]:
        a["week"] = "2025-W12"
    next_week["latest_week"] = "2025-W12"
    raise_alerts(store, next_week, url)
    assert all(a["new"] for a in next_week["alerts"])
    down = _again(report)
    length = next(a for a in down["alerts"] if a["metric"] == "input_length")
    length.update(direction="down", value=length["reference"] / 2)
    raise_alerts(store, down, url)
    assert [a["metric"] for a in down["alerts"] if a["new"]] == ["input_length"]
    assert down["cleared"] == [{"metric": "input_length", "week": "2025-W11", "direction": "up"}]


def test_rows_audited_before_directions_count_as_raised(store, report):
    with store.session() as s:  # as an earlier lextune recorded them: no direction
        for a in report["alerts"]:
            audit.record(s, ALERT, a["metric"], {k: a[k] for k in ("metric", "week", "value", "reference",
                                                                     "threshold")} | {"source": "drift"})
    raise_alerts(store, report)
    assert not any(a["new"] for a in report["alerts"])
    assert alert_key({"metric": "m", "week": "w", "value": 1.0, "reference": 2.0}) == ("m", "w", "down")


def test_worse_is_relative_to_the_value_last_raised():
    assert worse(0.5, 0.4, "up", 0.25) and not worse(0.49, 0.4, "up", 0.25)
    assert worse(60.0, 80.0, "down", 0.25) and not worse(70.0, 80.0, "down", 0.25)
    assert worse(0.41, 0.4, "up", 0.0) and not worse(0.4, 0.4, "up", 0.0)
    assert worse(0.1, None, "up", 0.25)


def test_cli_twice_posts_once_marks_repeats_in_json_and_realert_forces(store, webhook, monkeypatch):
    plant(store, shift=True)
    monkeypatch.setattr(drift, "default_embed", fake_embed)
    url, received = webhook
    args = ["monitor", "drift", "--weeks", "4", "--until", NOW.date().isoformat(), "--json", "--webhook", url]

    def run(*extra: str) -> dict:
        result = CliRunner().invoke(app, args + list(extra))
        assert result.exit_code == 0, (result.output, result.exception)
        return json.loads(result.stdout[result.stdout.index("{"):])

    first, second = run(), run()
    assert all(a["new"] for a in first["alerts"]) and {a["metric"] for a in first["alerts"]} == SHIFT_ALERTS
    assert {a["metric"] for a in second["alerts"]} == SHIFT_ALERTS and not any(a["new"] for a in second["alerts"])
    assert len(received) == 1 and len(_rows(store)) == len(SHIFT_ALERTS)
    forced = run("--realert")
    assert all(a["new"] for a in forced["alerts"]) and len(received) == 2
    table = CliRunner().invoke(app, args[:-3])  # the table: repeats named as such
    assert table.exit_code == 0 and "raised already, not again" in table.output and len(received) == 2


def test_alerts_the_webhook_did_not_take_are_raised_again_with_a_webhook(store, report, webhook):
    url, received = webhook
    assert "webhook" in raise_alerts(store, report, "http://127.0.0.1:9/none")
    assert {d["delivered"] for _, d in _rows(store)} == {False}
    without = _again(report)
    raise_alerts(store, without)  # no webhook given: nothing to retry
    assert not any(a["new"] for a in without["alerts"])
    retry = _again(report)
    assert raise_alerts(store, retry, url) is None
    assert all(a["new"] for a in retry["alerts"]) and len(received) == 1
    after = _again(report)
    raise_alerts(store, after, url)
    assert not any(a["new"] for a in after["alerts"]) and len(received) == 1
    assert [d["delivered"] for _, d in _rows(store)] == [False] * len(SHIFT_ALERTS) + [True] * len(SHIFT_ALERTS)


def test_state_from_the_audit_trail_on_each_backend(db_store):
    plant(db_store, shift=True)
    first = drift_report(db_store, weeks=4, now=NOW, embed=fake_embed)
    raise_alerts(db_store, first)
    second = _again(first)
    raise_alerts(db_store, second)
    assert not any(a["new"] for a in second["alerts"]) and len(_rows(db_store)) == len(SHIFT_ALERTS)
