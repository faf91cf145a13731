"""Drift monitoring of the served model: week-over-week metrics of served traffic, alerts, report.

facts.py      what each served answer records (lengths, latency, refusal), beside its audit row
questions.py  the questions themselves, sealed, in a log outside the audit trail (for topic mixture)
collect.py    served rows, questions and reviewer decisions bucketed by ISO week
topics.py     k-means over question embeddings, mixture and Jensen-Shannon divergence
thresholds.py alert thresholds (defaults; a YAML override, every key checked)
drift.py      the report: per-week metrics, latest week against the earlier ones, alerts
alerts.py     log line, audit row (`monitor.alert`), webhook POST: once per (metric, week, direction)
html.py       the offline HTML page (inline SVG, no external resources)
export.py     optional MLflow export
"""
