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
    audit = ok("data", "audit", "--words")
    assert "audit page:" in audit
    replay = tmp_path / "replay.jsonl"
    assert "wrote 40 replay rows" in ok("data", "replay-answers", "--out", str(replay), "--base-model",
                                         str(tiny_model_dir), "--max-new-tokens", "4")
    assert len(replay.read_text().splitlines()) == 40
    assert "adapter at" in ok("train", "--recipe", str(recipe))
    listing = ok("models", "list")
    assert "clauses-v1" in listing and "active: stock base model" in listing

    metrics = json.loads(ok("eval", "--model", "clauses-v1", "--json", "--limit", "6"))["metrics"]
    assert 0.0 <= metrics["clause_type.loglik"]["macro_f1"] <= 1.0

    ok("models", "activate", "clauses-v1")
    answer = ok("ask", "Which law governs this agreement?", "--base-model", str(tiny_model_dir))
    assert "answered by: clauses-v1" in answer
    assert "[S1]" in answer  # retrieved passages are listed with their citation tags

    ok("models", "stock")
    assert "answered by: stock:" in ok("ask", "governing law", "--base-model", str(tiny_model_dir))
