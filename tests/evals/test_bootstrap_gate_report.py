from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from lextune.core.errors import ConfigError
from lextune.evals.bootstrap import (
    cluster_bootstrap_ci,
    cluster_indices,
    paired_cluster_bootstrap,
)
from lextune.evals.comparison import compare_task, default_correct, resolve
from lextune.evals.gate import Gate, evaluate_gate, load_gate, parse_gate
from lextune.evals.records import Example, Prediction
from lextune.evals.report_compare import (
    render_comparison_html,
    render_comparison_terminal,
    write_comparison_html,
)
from lextune.evals.tasks.base import EvalTask

HOSTILE = "<script>alert('x')</script>"


def _preds(right: list[bool], docs: list[str | None], prefix: str = "e") -> list[Prediction]:
    """One prediction per flag: generated equals gold ("Yes") when right, "No" otherwise."""
    return [
        Prediction(example_id=f"{prefix}{i}", task="toy", doc_id=doc, gold="Yes",
                   generated="Yes" if ok else "No")
        for i, (ok, doc) in enumerate(zip(right, docs))
    ]


def accuracy(preds: list[Prediction]) -> float:
    return sum(p.generated == p.gold for p in preds) / len(preds)


# ---------------------------------------------------------------- bootstrap


def test_cluster_indices_group_by_document_and_none_is_its_own_cluster() -> None:
    preds = _preds([True] * 5, ["d1", None, "d2", "d1", None])
    assert [c.tolist() for c in cluster_indices(preds)] == [[0, 3], [1], [2], [4]]


def test_identical_systems_have_zero_delta_and_p_value_one() -> None:
    preds = _preds([i % 3 == 0 for i in range(30)], [f"d{i // 3}" for i in range(30)])
    out = paired_cluster_bootstrap(preds, preds, accuracy, n_resamples=200, seed=1)
    # Same clusters drawn for both sides: every resampled delta is exactly 0, so both tails hold all mass.
    assert (out["delta"], out["low"], out["high"]) == (0.0, 0.0, 0.0)
    assert out["p_value"] == 1.0
    assert out["p_better"] == 0.0


def test_cluster_ci_is_wider_than_row_ci_when_rows_of_a_document_agree() -> None:
    # 10 documents of 10 rows; a document's rows are all right or all wrong (perfectly correlated).
    right = [doc < 5 for doc in range(10) for _ in range(10)]
    by_doc = _preds(right, [f"d{i // 10}" for i in range(100)])
    by_row = _preds(right, [None] * 100)
    lo_c, hi_c = cluster_bootstrap_ci(by_doc, accuracy, n_resamples=400, seed=0)
    lo_r, hi_r = cluster_bootstrap_ci(by_row, accuracy, n_resamples=400, seed=0)
    # Standard errors: rows sqrt(.25/100) = 0.05 (95% width ~0.2); documents sqrt(.25/10) = 0.158 (~0.6).
    assert hi_r - lo_r < 0.3
    assert hi_c - lo_c > 0.45
    assert lo_c <= 0.5 <= hi_c


def test_same_seed_same_interval_and_other_seed_differs() -> None:
    preds = _preds([i % 4 != 0 for i in range(60)], [f"d{i // 2}" for i in range(60)])
    first = cluster_bootstrap_ci(preds, accuracy, n_resamples=150, seed=7)
    assert cluster_bootstrap_ci(preds, accuracy, n_resamples=150, seed=7) == first
    a = _preds([i % 2 == 0 for i in range(60)], [f"d{i // 2}" for i in range(60)])
    one = paired_cluster_bootstrap(a, preds, accuracy, n_resamples=150, seed=7)
    assert paired_cluster_bootstrap(a, preds, accuracy, n_resamples=150, seed=7) == one
    assert paired_cluster_bootstrap(a, preds, accuracy, n_resamples=150, seed=8) != one


def test_clear_improvement_reaches_the_p_value_floor() -> None:
    docs = [f"d{i // 4}" for i in range(80)]  # 20 documents of 4 rows
    a = _preds([(i // 4) % 2 == 0 for i in range(80)], docs)  # half the documents right
    b = _preds([True] * 80, docs)
    out = paired_cluster_bootstrap(a, b, accuracy, n_resamples=200, seed=0)
    assert out["delta"] == pytest.approx(0.5)
    # delta <= 0 needs all 20 drawn documents to be ones A gets right: 0.5**20, never in 200 draws.
    assert out["p_value"] == pytest.approx(1 / 200)
    assert out["p_better"] == 1.0
    assert 0 < out["low"] <= 0.5 <= out["high"] <= 1


def test_pairing_is_by_example_id_not_position() -> None:
    docs = [f"d{i // 2}" for i in range(20)]
    a = _preds([i % 2 == 0 for i in range(20)], docs)
    b = _preds([i % 3 == 0 for i in range(20)], docs)
    forward = paired_cluster_bootstrap(a, b, accuracy, n_resamples=100)
    assert paired_cluster_bootstrap(a, list(reversed(b)), accuracy, n_resamples=100) == forward


def test_paired_bootstrap_names_an_example_one_side_lacks() -> None:
    a = _preds([True, False, True], ["d", "d", "d"])
    with pytest.raises(ValueError, match="'e2'.*first system but not the second"):
        paired_cluster_bootstrap(a, a[:2], accuracy, n_resamples=10)
    with pytest.raises(ValueError, match="'e2'.*second system but not the first"):
        paired_cluster_bootstrap(a[:2], a, accuracy, n_resamples=10)
    with pytest.raises(ValueError, match="at least 1"):
        cluster_bootstrap_ci(a, accuracy, n_resamples=0)


# ---------------------------------------------------------------- comparison


class ToyTask(EvalTask):
    name = "toy"
    kind = "classification"
    headline = "accuracy"

    def load(self) -> list[Example]:
        return []

    def predict(self, scorer, examples, progress=None) -> list[Prediction]:
        return []

    def score(self, predictions: list[Prediction]) -> dict:
        acc = accuracy(predictions)
        return {"accuracy": acc, "nested": {"acc": acc}, "n": len(predictions)}

    def baselines(self, examples: list[Example]) -> dict[str, dict]:
        return {"always yes": {"accuracy": 0.5}}


def test_resolve_follows_dotted_paths_and_names_the_missing_part() -> None:
    metrics = {"loglik": {"balanced_accuracy": 0.7}, "n": 3}
    assert resolve(metrics, "loglik.balanced_accuracy") == 0.7
    with pytest.raises(KeyError, match="no 'balanced_acc' in loglik"):
        resolve(metrics, "loglik.balanced_acc")


def test_compare_task_entry() -> None:
    task = ToyTask()
    docs = ["d0", "d0", "d1", "d1", "d2", "d2"]
    a = _preds([True, False, False, True, False, False], docs)
    b = _preds([True, True, False, True, True, False], docs)
    entry = compare_task(task, a, b, task.score(a), task.score(b), ["accuracy", "nested.acc"], n_resamples=50,
                         examples=[])
    json.dumps(entry, allow_nan=False)  # plain JSON
    assert (entry["task"], entry["kind"], entry["headline"], entry["n"], entry["n_docs"]) == (
        "toy", "classification", "accuracy", 6, 3)
    assert entry["a"]["accuracy"] == pytest.approx(2 / 6) and entry["b"]["accuracy"] == pytest.approx(4 / 6)
    assert entry["ci"]["accuracy"]["delta"][0] == pytest.approx(2 / 6)
    assert entry["ci"]["nested.acc"]["delta"] == entry["ci"]["accuracy"]["delta"]
    assert entry["baselines"] == {"always yes": {"accuracy": 0.5, "nested.acc": None}}
    examples = entry["examples"]
    assert [r["id"] for r in examples["newly_right"]] == ["e1", "e4"]
    assert examples["newly_right"][0] == {"id": "e1", "doc_id": "d0", "gold": "Yes", "a": "No", "b": "Yes"}
    assert examples["newly_wrong"] == [] and examples["n_newly_right"] == 2


def test_compare_task_defaults_and_key_typos() -> None:
    task = ToyTask()
    a = _preds([True, False], ["d0", "d1"])
    entry = compare_task(task, a, a, task.score(a), task.score(a), n_resamples=20)
    assert entry["metric_keys"] == ["accuracy"]  # headline; n is an int count, nested dicts are not scalars
    assert entry["baselines"] == {}
    with pytest.raises(KeyError, match="accuracyy"):
        compare_task(task, a, a, task.score(a), task.score(a), ["accuracyy"], n_resamples=20)


def test_default_correct_reads_choices_before_generation_and_any_gold() -> None:
    pred = Prediction(example_id="x", task="t", gold=["B", "C"], choices=[" A", " C"], labels=["A", "C"],
                      choice_logprobs=[-3.0, -1.0], generated="A")
    assert default_correct(pred) is True
    assert default_correct(Prediction(example_id="y", task="t", gold="Yes", generated=" yes.")) is True
    assert default_correct(Prediction(example_id="z", task="t", gold="Yes")) is None


# ---------------------------------------------------------------- gate


def _entry(task: str, kind: str, a: float, b: float, p: float, metric: str = "accuracy",
           higher_is_better: bool = True) -> dict:
    return {"task": task, "kind": kind, "headline": metric, "higher_is_better": higher_is_better,
            "n_resamples": 1000, "a": {metric: a}, "b": {metric: b},
            "ci": {metric: {"delta": [b - a, b - a - 0.05, b - a + 0.05], "p_value": p}}}


def _comparison(legal_p: float = 0.01, mmlu_b: float = 0.49, kl: float = 0.2) -> dict:
    return {"tasks": [
        _entry("legalbench:hearsay", "classification", 0.6, 0.7, legal_p),
        _entry("mmlu:law", "multiple_choice", 0.5, mmlu_b, 0.5),
        _entry("forgetting", "forgetting", 0.0, kl, 0.001, metric="kl", higher_is_better=False),
    ]}


def test_default_gate_passes_a_good_candidate() -> None:
    verdict = evaluate_gate(load_gate(), _comparison())
    assert verdict.passed and verdict.missing == []
    assert all(c.passed for c in verdict.checks)


@pytest.mark.parametrize("change, failing", [
    ({"legal_p": 0.2}, "legal tasks: at least one better"),
    ({"mmlu_b": 0.47}, "mmlu:law: general ability holds up (accuracy)"),
    ({"kl": 0.7}, "forgetting: stays close to the base model (kl)"),
])
def test_default_gate_fails_on_each_rule(change: dict, failing: str) -> None:
    verdict = evaluate_gate(Gate(), _comparison(**change))
    assert not verdict.passed
    assert [c.name for c in verdict.checks if c.required and not c.passed] == [failing]


def test_a_drop_of_exactly_max_drop_passes() -> None:
    assert evaluate_gate(Gate(), _comparison(mmlu_b=0.48)).passed  # 0.50 -> 0.48: 2 points


def test_require_any_or_all_of_the_legal_tasks() -> None:
    comparison = _comparison()
    comparison["tasks"].append(_entry("cuad:sample", "span", 0.4, 0.41, 0.3, metric="overlap_f1"))
    verdict = evaluate_gate(Gate(), comparison)
    assert verdict.passed
    assert {c.name: (c.passed, c.required) for c in verdict.checks}["cuad:sample: better on overlap_f1"] == (
        False, False)
    strict = parse_gate({"target": {"require": "all"}})
    assert not evaluate_gate(strict, comparison).passed


def test_lower_is_better_target_and_mmlu_is_never_a_target() -> None:
    comparison = {"tasks": [_entry("mmlu:law", "multiple_choice", 0.5, 0.6, 0.001),
                            _entry("forgetting", "forgetting", 0.0, 0.1, 0.001, "kl", False)]}
    verdict = evaluate_gate(Gate(), comparison)
    assert not verdict.passed
    assert verdict.missing == ["target: no task in the comparison matches *"]
    errors = _entry("legal:errors", "cited_qa", 0.3, 0.2, 0.01, metric="error_rate", higher_is_better=False)
    comparison["tasks"].append(errors)
    assert evaluate_gate(Gate(), comparison).passed


def test_missing_tasks_fail_unless_allowed() -> None:
    comparison = {"tasks": [_comparison()["tasks"][0]]}
    verdict = evaluate_gate(Gate(), comparison)
    assert not verdict.passed
    assert verdict.missing == ["general: no task in the comparison matches mmlu*",
                               "forgetting: no task in the comparison matches *"]
    assert evaluate_gate(parse_gate({"allow_missing": True}), comparison).passed
    named = parse_gate({"general": {"tasks": ["mmlu:law", "mmlu:ethics"]}})
    missing = evaluate_gate(named, _comparison()).missing
    assert "general: task 'mmlu:ethics' is not in the comparison" in missing


def test_gate_yaml_errors_name_file_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text("alpha: 0.05\ngeneral:\n  tasks: [mmlu*]\n  max_dorp: 0.1\n", encoding="utf-8")
    where = re.escape(str(path))
    with pytest.raises(ConfigError, match=rf"^{where}: .*unknown key 'general.max_dorp'.*line 4"):
        load_gate(path)
    path.write_text("alpha: lots\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'alpha'.*'lots'.*line 1"):
        load_gate(path)
    path.write_text("target:\n  require: most\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'target.require'"):
        load_gate(path)


def test_shipped_gate_file_states_the_documented_defaults() -> None:
    assert load_gate() == Gate()


# ---------------------------------------------------------------- report


def _report(passed: bool = False) -> dict:
    comparison = _comparison(legal_p=0.01 if passed else 0.2)
    hostile = _entry(HOSTILE, "classification", 0.3, 0.35, 0.4)
    hostile["a"].update(confusion={"labels": ["Yes", "No"], "columns": ["Yes", "No", "(none)"],
                                   "matrix": [[3, 1, 0], [2, 4, 1]]},
                        per_label={"Yes & <No>": {"f1": 0.5}, "No": {"f1": 0.7}})
    hostile["b"].update(per_label={"Yes & <No>": {"f1": 0.6}, "No": {"f1": 0.75}})
    hostile["baselines"] = {"majority": {"accuracy": 0.5}}
    hostile["examples"] = {"newly_right": [{"id": "ex<1>", "gold": "Yes", "a": "No", "b": "Yes"}],
                           "newly_wrong": [], "n_newly_right": 1, "n_newly_wrong": 0}
    comparison["tasks"].append(hostile)
    verdict = evaluate_gate(Gate(), comparison).model_dump()
    return {"a": {"label": "stock"}, "b": {"label": "contracts-v3"}, "verdict": verdict,
            "tasks": comparison["tasks"], "created_at": "2025-01-01T00:00:00Z", "code_version": "abc123",
            "forgetting": {"kl": {"a": 0.0, "b": 0.2, "max_kl": 0.5, "per_prompt": [0.1, 0.2, 0.3]},
                           "mmlu": [{"task": "mmlu:law", "a": 0.5, "b": 0.49,
                                     "ci": {"delta": [-0.01, -0.04, 0.02]}, "max_drop": 0.02}]}}


def test_html_has_verdict_every_task_and_escapes_text() -> None:
    html = render_comparison_html(_report())
    assert "Do not promote contracts-v3" in html
    assert "legal tasks: at least one better" in html  # the failing check, in the verdict box
    for task in ("legalbench:hearsay", "mmlu:law", "forgetting"):
        assert f"<h2>{task}</h2>" in html
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "Yes &amp; &lt;No&gt;" in html  # a per-label name
    assert "ex&lt;1&gt;" in html
    assert "Promote: contracts-v3 may replace stock" in render_comparison_html(_report(passed=True))


def test_html_is_offline_and_well_formed() -> None:
    html = render_comparison_html(_report())
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "url(" not in html and "@import" not in html and "<link" not in html
    # Only the SVG namespace names an http URL, and a namespace is not fetched.
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}
    root = ET.fromstring(html.split("\n", 1)[1])  # XHTML-style markup parses as XML
    assert root.tag == "html"
    # Bar charts, F1 per label, the heat map and the KL histogram.
    assert len(root.findall(".//{http://www.w3.org/2000/svg}svg")) >= 4


def test_html_shows_numbers_with_units() -> None:
    html = render_comparison_html(_report())
    assert "60.0%" in html and "70.0%" in html  # hearsay A and B
    assert "+10.0 pts" in html
    assert "nats per token" in html
    assert "&#8804; 0.001" in html  # the KL p-value at the bootstrap floor of 1/1000


def test_terminal_render_and_file(tmp_path: Path) -> None:
    console = Console(record=True, width=220)
    console.print(render_comparison_terminal(_report()))
    text = console.export_text()
    assert "DO NOT PROMOTE contracts-v3" in text
    assert HOSTILE in text  # printed verbatim, not read as rich markup
    assert "+10.0 pts [+5.0 pts, +15.0 pts]" in text
    path = tmp_path / "out" / "report.html"
    write_comparison_html(_report(), path)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_end_to_end_from_predictions_to_page() -> None:
    task = ToyTask()
    docs = [f"d{i // 2}" for i in range(40)]
    a = _preds([i % 2 == 0 for i in range(40)], docs)
    b = _preds([i % 5 != 0 for i in range(40)], docs)
    entry = compare_task(task, a, b, task.score(a), task.score(b), n_resamples=100, examples=[])
    report = {"a": {"label": "A"}, "b": {"label": "B"}, "tasks": [entry]}
    report["verdict"] = evaluate_gate(parse_gate({"general": None, "forgetting": None}), report).model_dump()
    assert report["verdict"]["passed"] is (entry["ci"]["accuracy"]["p_value"] < 0.05)
    assert not math.isnan(entry["ci"]["accuracy"]["delta"][1])
    assert "toy" in render_comparison_html(report)


def test_gate_target_fails_when_a_trivial_baseline_beats_the_candidate():
    from lextune.evals.gate import evaluate_gate, parse_gate

    task = {"task": "clause_quote:test", "kind": "span", "headline": "overlap_f1", "higher_is_better": True,
            "a": {"overlap_f1": 0.08}, "b": {"overlap_f1": 0.38},
            "ci": {"overlap_f1": {"delta": [0.30, 0.07, 0.49], "p_value": 0.01}},
            "baselines": {"echo_excerpt": {"overlap_f1": 0.78}, "always_not_found": {"overlap_f1": 0.0}}}
    gate = parse_gate({"general": None, "forgetting": None})
    verdict = evaluate_gate(gate, {"tasks": [task]})
    assert not verdict.passed
    assert any("echo_excerpt" in c.detail for c in verdict.checks)
    assert evaluate_gate(parse_gate({"general": None, "forgetting": None, "target": {"beat_baselines": False}}),
                         {"tasks": [task]}).passed
    task["baselines"]["echo_excerpt"]["overlap_f1"] = 0.2
    assert evaluate_gate(gate, {"tasks": [task]}).passed


def test_summary_names_the_best_trivial_baseline_and_whether_b_beats_it() -> None:
    from lextune.evals.report_compare import best_baseline

    task = {"task": "clause_quote", "headline": "overlap_f1", "higher_is_better": True, "b": {"overlap_f1": 0.38},
            "baselines": {"echo_excerpt": {"overlap_f1": 0.78}, "always_not_found": {"overlap_f1": 0.0}}}
    assert best_baseline(task, "overlap_f1") == ("echo_excerpt", 0.78)
    report = _report()
    report["tasks"] = [{**report["tasks"][0], **task, "a": {"overlap_f1": 0.08}}]
    html = render_comparison_html(report)
    assert "best trivial baseline" in html and "not beaten by B" in html
