import json

import pytest
import torch
import typer
from analysis_contracts import canned, contract
from conftest import CLAUSE_LABELS, register_dataset
from typer.testing import CliRunner

from lextune import cli_analyze
from lextune.core.records import ModelVersion
from lextune.registry.versions import activate, register_version


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main():
        """lextune (test app)."""

    cli_analyze.register(app)
    return app


def _run(*args: str):
    return CliRunner().invoke(_app(), ["analyze", *args])


@pytest.fixture()
def contract_file(tmp_path):
    path = tmp_path / "msa.txt"
    path.write_text(contract(state="Delaware", notice="thirty (30) days", cap=False))
    return path


@pytest.fixture()
def fake_model(monkeypatch):
    calls = []

    def load(model, scope, batch_size=8):
        calls.append((model, scope))
        return (lambda convs, max_new_tokens: canned(convs)), "canned-v1", None, {"model_version": "canned-v1"}

    monkeypatch.setattr(cli_analyze, "load_generator", load)
    return calls


def test_cli_writes_json_and_html_and_prints_flags(contract_file, tmp_path, fake_model):
    out_json, out_html = tmp_path / "out" / "a.json", tmp_path / "a.html"
    result = _run(str(contract_file), "--json", str(out_json), "--html", str(out_html), "--model", "stock")
    assert result.exit_code == 0, result.output
    assert fake_model == [("stock", "default")]
    data = json.loads(out_json.read_text())
    assert data["model"] == "canned-v1" and data["document"] == "msa"
    assert {f["rule"] for f in data["flags"]} >= {"governing_law", "renewal_notice_days", "required:Cap on Liability"}
    text = contract_file.read_text()
    assert all(text[c["start"]:c["end"]] == c["text"] for c in data["clauses"])
    assert out_html.read_text().startswith("<!DOCTYPE html>")
    assert "Governing Law" in result.stdout and "4 flag(s)" in result.stdout


def test_review_flag_queues_every_model_clause_and_flag(contract_file, store, fake_model):
    from sqlalchemy import select

    from lextune.core.tables_review import ReviewItemRow

    result = _run(str(contract_file), "--review", "--matter", "Acme MSA")
    assert result.exit_code == 0, result.output
    with store.session() as s:
        rows = list(s.scalars(select(ReviewItemRow)))
    tasks = {r.task for r in rows}
    assert tasks == {"clause_extraction", "contract_analysis"} and {r.matter for r in rows} == {"Acme MSA"}
    assert f"review: {len(rows)} item(s) queued" in result.stderr
    text = contract_file.read_text()
    for r in rows:
        if r.span_start is not None:  # the highlighted words are the clause or phrase in the document
            assert r.source_text[r.span_start:r.span_end] in text
    assert any(r.output["label"] == "required:Cap on Liability" and r.span_start is None for r in rows)


def test_corrupt_file_is_one_line_naming_the_file_before_any_model(tmp_path, fake_model):
    bad = tmp_path / "contract.pdf"
    bad.write_bytes(b"%PDF-1.4 garbage")
    result = _run(str(bad))
    assert result.exit_code == 1 and fake_model == []
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "contract.pdf" in lines[0]


def test_playbook_typo_is_one_line_naming_the_key(contract_file, tmp_path, fake_model):
    playbook = tmp_path / "pb.yaml"
    playbook.write_text("name: x\nforbidden: [Non-Compete]\ngoverning_law: {allowed: [New York], sevrity: high}\n")
    result = _run(str(contract_file), "--playbook", str(playbook))
    assert result.exit_code == 1 and fake_model == []
    assert "pb.yaml" in result.stderr and "unknown key 'governing_law.sevrity'" in result.stderr


def test_unknown_version_is_one_line(contract_file, home):
    result = _run(str(contract_file), "--model", "nope")
    assert result.exit_code == 1 and "no model version 'nope'" in result.stderr and "Traceback" not in result.stderr


def _adapter(base_dir, folder) -> None:
    from peft import LoraConfig, get_peft_model

    from lextune.models.loading import load_base_model

    model, _, _ = load_base_model(str(base_dir))
    peft = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)
    peft.save_pretrained(folder)


def test_cli_with_the_active_tiny_version(contract_file, tmp_path, store, tiny_model_dir):
    """The real loading path: the scope's active version (tiny base + adapter), its dataset's clause types."""
    info = register_dataset(store, tmp_path / "ds")
    _adapter(tiny_model_dir, tmp_path / "adapter")
    register_version(store, ModelVersion(
        id="mv-tiny", name="tiny-v1", base_model=str(tiny_model_dir), adapter_path=str(tmp_path / "adapter"),
        dataset_id=info.id, dataset_sha256="0" * 64, recipe={}))
    activate(store, "tiny-v1")
    out_json = tmp_path / "a.json"
    result = _run(str(contract_file), "--json", str(out_json), "--no-verify", "--batch-size", "4")
    assert result.exit_code == 0, result.output
    data = json.loads(out_json.read_text())
    assert data["model"].startswith("tiny-v1")
    assert data["trace"] == {"model_version": data["model"], "fine_tuned": True, "scope": "default",
                             "adapter": "mv-tiny"}
    assert data["clause_types"][:len(CLAUSE_LABELS)] == CLAUSE_LABELS
    assert data["passages"] >= 4
    text = contract_file.read_text()
    assert all(text[c["start"]:c["end"]] == c["text"] and c["source"] == "model" for c in data["clauses"])
