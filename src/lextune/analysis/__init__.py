"""Contract analysis: clauses found by the model, a firm's YAML playbook applied, JSON and HTML reports."""

from lextune.analysis.analyze import (
    AnalyzeOptions,
    ModelRequest,
    analysis_steps,
    analyze_document,
    read_document,
    run_steps,
)
from lextune.analysis.html import render_html
from lextune.analysis.playbook import Playbook, default_playbook, load_playbook, playbook_from_dict
from lextune.analysis.records import Analysis, AnalysisError, Clause, Extracted, Flag, Span

__all__ = [
    "Analysis", "AnalysisError", "AnalyzeOptions", "Clause", "Extracted", "Flag", "ModelRequest", "Playbook",
    "Span", "analysis_steps", "analyze_document", "default_playbook", "load_playbook", "playbook_from_dict",
    "read_document", "render_html", "run_steps",
]
