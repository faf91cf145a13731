"""Running tasks: example selection, the training-document refusal, stored runs and predictions, the
dataset's row tasks mapped to scorers (an unknown one fails), forgetting and reference tasks, the gate
at activation."""

from __future__ import annotations

import json

import pytest

from lextune.core.errors import DatasetError
from lextune.core.records import DatasetRow, ModelVersion
from lextune.evals.dataset_tasks import tasks_for_file
from lextune.evals.records import Example, Generation
from lextune.evals.run import (
    TrainingDocumentsError,
    data_hash,
    list_runs,
    load_predictions,
    overlap_with_training,
    run_task,
    select_examples,
)
from lextune.evals.tasks import make_task
from lextune.evals.tasks.reference import rouge_l, token_f1


class FakeScorer:
    """Answers "Yes" to everything and prefers the first choice; KL grows with the prompt's length."""

    key = "fake"

    def __init__(self):
        self.calls = 0

    def loglik(self, prompts, choices, progress=None):
        self.calls += 1
        return [[(-1.0 - i, 1) for i, _ in enumerate(cs)] for cs in choices]

    def generate(self, prompts, max_new_tokens, progress=None):
        return [Generation(text="Yes", logprob=-0.5, tokens=1) for _ in prompts]

    def kl_from_base(self, prompts, max_new_tokens, progress=None):
        return [len(p[-1]["content"]) / 100 for p in prompts]


def _row(i: int, task: str, answer: str, doc: str, choices=None) -> DatasetRow:
    return DatasetRow(id=f"r{i}", task=task, split="test", document_id=doc, answer=answer, label=answer,
                      choices=choices, messages=[{"role": "user", "content": f"Question {i}?"},
                                                 {"role": "assistant", "content": answer}])


def _write(path, rows):
    path.write_text("".join(r.model_dump_json() + "\n" for r in rows))
    return path


def _examples(golds, docs):
    return [Example(id=f"e{i}", task="t", prompt="p", gold=g, doc_id=d) for i, (g, d) in enumerate(zip(golds, docs))]


def test_stratified_sample_keeps_label_shares_and_is_deterministic():
    ex = _examples(["Yes"] * 80 + ["No"] * 20, [f"d{i % 10}" for i in range(100)])
    picked = select_examples(ex, sample=10)
    assert len(picked) == 10
    assert sum(e.gold == "No" for e in picked) == 2
    assert [e.id for e in picked] == [e.id for e in select_examples(ex, sample=10)]
    assert [e.id for e in select_examples(ex, sample=10, limit=3)] == [e.id for e in picked[:3]]
    rare = _examples(["Yes"] * 99 + ["No"], ["d"] * 100)
    assert any(e.gold == "No" for e in select_examples(rare, sample=5))  # every label kept when there is room


def test_overlap_with_training_by_id_and_by_title():
    ex = _examples(["Yes", "No", "Yes"], ["doc-a", "ACME_License Agreement.pdf", "doc-z"])
    train = {"doc-a": "Something", "doc-b": "acme_license agreement.txt"}
    assert overlap_with_training(ex, train) == {"doc-a": ["e0"], "ACME_License Agreement.pdf": ["e1"]}
    # Titles keep their own dots: exhibit 10.4 is not exhibit 10.5 of the same filing.
    cuad = _examples(["Yes", "No"], ["DYNAMEXINC_06_06_1996-EX-10.4-TRANSPORTATION AGREEMENT",
                                     "DYNAMEXINC_06_06_1996-EX-10.5-LEASE"])
    assert list(overlap_with_training(cuad, {"d1": "DYNAMEXINC_06_06_1996-EX-10.4-TRANSPORTATION AGREEMENT.pdf"})) \
        == ["DYNAMEXINC_06_06_1996-EX-10.4-TRANSPORTATION AGREEMENT"]


def test_run_task_refuses_training_documents_then_allows_and_stores(store, tmp_path):
    path = _write(tmp_path / "test.jsonl", [_row(i, "clause_question", "Yes" if i % 2 else "No", f"doc-{i % 3}",
                                                 ["Yes", "No"]) for i in range(6)])
    task = make_task(f"clause_question:{path}", generate=False)
    with pytest.raises(TrainingDocumentsError) as err:
        run_task(store, task, FakeScorer(), model_label="m", train_docs={"doc-1": "t"})
    assert "doc-1" in str(err.value) and "--allow-train-docs" in str(err.value)
    run, preds = run_task(store, task, FakeScorer(), model_label="m", train_docs={"doc-1": "t"}, allow_train_docs=True)
    assert run.notes["train_docs_allowed"]["examples"] == 2
    assert run.n == 6 and run.n_docs == 3 and run.kind == "classification"
    # The fake always prefers the first choice ("Yes"): half right, balanced accuracy 0.5.
    assert run.metrics["balanced_accuracy"] == pytest.approx(0.5)
    assert run.headline_value() == pytest.approx(0.5)
    stored = list_runs(store)[-1]
    assert stored.id == run.id and stored.data_hash == run.data_hash == data_hash(task.load())
    assert stored.headline == "balanced_accuracy" and stored.code_version
    again = load_predictions(store, run.id)
    assert [p.example_id for p in again] == [p.example_id for p in preds]
    assert task.score(again)["balanced_accuracy"] == run.metrics["balanced_accuracy"]  # recomputed from storage


def test_dataset_rows_map_to_scorers_and_unknown_tasks_fail(tmp_path):
    rows = [_row(0, "clause_question", "Yes", "d", ["Yes", "No"]), _row(1, "summarize", "A summary.", "d"),
            _row(2, "general", "An answer.", "d")]
    tasks = tasks_for_file(_write(tmp_path / "a.jsonl", rows))
    assert sorted(t.name for t in tasks) == ["clause_question", "reference"]
    ref = next(t for t in tasks if t.name == "reference")
    assert {e.meta["row_task"] for e in ref.load()} == {"summarize", "general"}
    bad = _write(tmp_path / "b.jsonl", [*rows, _row(3, "made_up_task", "x", "d")])
    with pytest.raises(DatasetError, match="made_up_task"):
        tasks_for_file(bad)


def test_reference_scores_by_hand():
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(2 * (2 / 2) * (2 / 3) / (1 + 2 / 3))
    assert rouge_l("cat sat mat", "cat on mat") == pytest.approx(2 / 3)
    assert rouge_l("", "") == 1.0 and token_f1("x", "") == 0.0


def test_forgetting_task_averages_kl(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "a", "prompt": "x" * 10, "category": "w"}) + "\n"
                       + json.dumps({"id": "b", "prompt": "y" * 30, "category": "m"}) + "\n")
    task = make_task(f"forgetting:{prompts}")
    preds = task.predict(FakeScorer(), task.load())
    m = task.score(preds)
    assert m["kl"] == pytest.approx(0.2) and m["kl_max"] == pytest.approx(0.3)
    assert m["kl_by_category"] == {"m": pytest.approx(0.3), "w": pytest.approx(0.1)}
    assert task.higher_is_better is False
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(DatasetError, match="bad.jsonl:1"):
        make_task(f"forgetting:{tmp_path / 'bad.jsonl'}").load()
    assert len(make_task("forgetting").load()) == 24  # the shipped MT-Bench first turns


def test_unknown_task_name_lists_known_ones():
    from lextune.evals.tasks import UnknownTaskError

    with pytest.raises(UnknownTaskError, match="legalbench"):
        make_task("legalbnch:/x")


def test_activation_consults_the_gate(store, home):
    """`models activate` refuses a version whose latest comparison failed the gate; --force is logged."""
    from sqlalchemy import select
    from typer.testing import CliRunner

    from lextune.cli import app
    from lextune.core.tables import AuditEventRow
    from lextune.evals.promotion import latest_comparison, save_comparison
    from lextune.registry.versions import register_version

    v = register_version(store, ModelVersion(id="mv-1", name="firm-v1", base_model="b", adapter_path="/x",
                                             dataset_id="ds", dataset_sha256="h", recipe={}))
    runner = CliRunner()
    no_comparison = runner.invoke(app, ["models", "activate", "firm-v1"])
    assert no_comparison.exit_code != 0 and "eval compare" in no_comparison.output
    report = {"a": {"label": "stock", "version_id": None}, "b": {"label": "firm-v1", "version_id": v.id},
              "tasks": [], "verdict": {"passed": False, "checks": [{"name": "legal tasks improve", "passed": False,
                                                                     "detail": "no task improved"}]}}
    save_comparison(store, report)
    failed = runner.invoke(app, ["models", "activate", "firm-v1"])
    assert failed.exit_code != 0 and "no task improved" in failed.output
    assert runner.invoke(app, ["models", "activate", "firm-v1", "--force"]).exit_code == 0
    with store.session() as s:
        assert s.scalars(select(AuditEventRow).where(AuditEventRow.action == "model.activate.forced")).first()
    report2 = {**report, "verdict": {"passed": True, "checks": []}}
    save_comparison(store, report2)
    assert latest_comparison(store, v.id)["verdict"]["passed"] is True
    ok = runner.invoke(app, ["models", "activate", "firm-v1"])
    assert ok.exit_code == 0 and "active: firm-v1" in ok.output


def test_cli_scores_a_legalbench_folder_by_its_protocol(home, tiny_model_dir):
    """`lextune eval --model stock --task legalbench:DIR --json`: balanced accuracy under its own key."""
    from importlib import resources

    from typer.testing import CliRunner

    from lextune.cli import app

    folder = resources.files("lextune") / "demo_data" / "eval_samples" / "legalbench_hearsay_sample"
    result = CliRunner().invoke(app, ["eval", "--model", "stock", "--base-model", str(tiny_model_dir), "--task",
                                      f"legalbench:{folder}", "--option", "generate=false", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["task"] == "legalbench:legalbench_hearsay_sample" and run["n"] == 8
    assert 0.0 <= run["balanced_accuracy"] <= 1.0
    assert run["balanced_accuracy"] == run["metrics"]["balanced_accuracy"]
    assert run["baselines"]["majority_class"]["balanced_accuracy"] == 0.5  # 4 Yes, 4 No: always one label


def test_legalbench_calibrated_view_subtracts_the_blank_template_prior():
    """Raw log-likelihood always says " No"; against the "N/A" template's prior " Yes" rises more."""
    from importlib import resources

    class PriorScorer(FakeScorer):
        def loglik(self, prompts, choices, progress=None):
            out = []
            for p, cs in zip(prompts, choices):
                blank = "N/A" in p
                out.append([(-1.0 if c.strip() == "No" else (-3.0 if blank else -2.5), 1)
                            for c in cs])
            return out

    folder = resources.files("lextune") / "demo_data" / "eval_samples" / "legalbench_hearsay_sample"
    task = make_task(f"legalbench:{folder}", generate=False)
    examples = task.load()
    assert "N/A" in examples[0].meta["content_free"] and "{{" not in examples[0].meta["content_free"]
    m = task.score(task.predict(PriorScorer(), examples))
    assert m["loglik"]["confusion"]["matrix"] != m["loglik_calibrated"]["confusion"]["matrix"]
    assert m["balanced_accuracy"] == m["loglik"]["balanced_accuracy"] == 0.5  # the protocol's view is the headline
    assert m["loglik_calibrated"]["per_label"]["Yes"]["recall"] == 1.0
