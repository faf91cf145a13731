"""The whole flow on a tiny random Llama: ingest -> build -> train -> eval -> activate -> ask."""

from __future__ import annotations

import json

from conftest import sample_squad
from typer.testing import CliRunner

from lextune.cli import app


def test_cli_flow_end_to_end(home, tiny_model_dir, tmp_path):
    contracts = tmp_path / "cuad_small.json"
    squad = sample_squad()
    contracts.write_text(json.dumps({"data": squad["data"][:12]}))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"base_model: {tiny_model_dir}\nmax_steps: 4\nbatch_size: 4\nmax_seq_len: 256\n")
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    assert "ingested 12 documents" in ok("ingest", str(contracts))
    # Anonymization has its own tests (tests/data/test_dataset.py); here it would only add minutes.
    assert "dataset ds-" in ok("data", "build", "--name", "clauses", "--builder", "clauses",
                               "--builder", "instructions", "--builder", "cited_qa", "--no-anonymize",
                               "--export", "openai", "--export", "alpaca")
    # At rest the dataset's exports are sealed; `data export` gives a plaintext copy on request.
    assert "plaintext files" in ok("data", "export", "clauses", "--out", str(tmp_path / "plain"))
    from lextune.data.exporters import validate_openai_chat

    plain = tmp_path / "plain" / "exports" / "openai" / "train.jsonl"
    assert plain.read_text().startswith("{") and validate_openai_chat(plain) == []
    audit = ok("data", "audit", "--words")
    assert "audit page:" in audit
    replay = tmp_path / "replay.jsonl"
    assert "wrote 40 replay rows" in ok("data", "replay-answers", "--out", str(replay), "--base-model",
                                         str(tiny_model_dir), "--max-new-tokens", "4")
    assert len(replay.read_text().splitlines()) == 40
    assert "adapter at" in ok("train", "--recipe", str(recipe))
    listing = ok("models", "list")
    assert "clauses-v1" in listing and "active: stock base model" in listing

    # Without --task, the test split of the dataset clauses-v1 was trained on, every row task scored.
    runs = json.loads(ok("eval", "--model", "clauses-v1", "--json", "--limit", "4"))
    by_task = {r["task"].split(":")[0]: r for r in runs}
    assert {"clause_type", "clause_quote", "cited_qa", "reference", "forgetting", "mmlu"} <= set(by_task)
    assert 0.0 <= by_task["clause_type"]["metrics"]["balanced_accuracy"] <= 1.0
    assert "echo_excerpt" in by_task["clause_quote"]["baselines"]
    assert all(r["data_hash"] and r["code_version"] and r["n"] == 4 for r in runs)
    stored = json.loads(ok("eval", "runs", "--model", "clauses-v1", "--json"))
    assert {r["id"] for r in runs} <= {r["id"] for r in stored}

    # The demo's training documents are refused, then allowed and reported.
    train_file = next(home.glob("datasets/*/train.jsonl"))
    refused = runner.invoke(app, ["eval", "--model", "clauses-v1", "--task", f"clause_type:{train_file}",
                                  "--limit", "3"])
    assert refused.exit_code != 0 and "trained on" in str(refused.exception)
    assert "--allow-train-docs" in str(refused.exception)
    allowed = json.loads(ok("eval", "--model", "clauses-v1", "--task", f"clause_type:{train_file}", "--limit", "3",
                            "--allow-train-docs", "--json"))
    assert allowed["notes"]["train_docs_allowed"]["examples"] == 3

    report_html = tmp_path / "cmp.html"
    ok("eval", "compare", "stock", "clauses-v1", "--task", f"clause_type:{next(home.glob('datasets/*/test.jsonl'))}",
       "--limit", "6", "--resamples", "50", "--html", str(report_html), "--base-model", str(tiny_model_dir))
    page = report_html.read_text()
    # A random tiny model cannot pass the gate; the report says so first and names the task.
    assert "Do not promote clauses-v1" in page and "clause_type:test.jsonl" in page and "<svg" in page
    # A random tiny model cannot pass the gate: activation is refused, then forced (and logged).
    refused = runner.invoke(app, ["models", "activate", "clauses-v1"])
    assert refused.exit_code != 0 and "--force" in str(refused.exception)
    ok("models", "activate", "clauses-v1", "--force")
    from sqlalchemy import select

    from lextune.core.store import Store
    from lextune.core.tables import AuditEventRow

    with Store().session() as s:
        assert s.scalars(select(AuditEventRow).where(AuditEventRow.action == "model.activate.forced")).first()
    answer = ok("ask", "Which law governs this agreement?", "--base-model", str(tiny_model_dir))
    assert "answered by: clauses-v1" in answer
    assert "[1]" in answer  # retrieved passages are listed with their citation tags

    ok("models", "stock")
    assert "answered by: stock:" in ok("ask", "governing law", "--base-model", str(tiny_model_dir))
