"""Continuous learning: review corrections -> retrain -> gate; canary routing, promote and rollback."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest import sample_squad
from sqlalchemy import select
from typer.testing import CliRunner

from lextune.cli import app
from lextune.core.records import ModelVersion, utcnow


def _version(store, name: str) -> ModelVersion:
    from lextune.registry.versions import register_version

    return register_version(store, ModelVersion(
        id=f"mv-{name}", name=name, base_model="tiny", adapter_path=f"/nowhere/{name}", dataset_id="ds-x",
        dataset_sha256="0" * 64, recipe={}))


def test_canary_routes_its_share_deterministically_then_promote_and_rollback(store, tiny_model_dir):
    from lextune.core.tables import AuditEventRow
    from lextune.registry import rollout
    from lextune.registry.versions import activate, active_version
    from lextune.serve.pool import resolve

    base = str(tiny_model_dir)
    v1, v2, v3 = (_version(store, n) for n in ("law-v1", "law-v2", "law-v3"))
    activate(store, v1.id)
    activate(store, v2.id)
    rollout.start_canary(store, v3.id, 0.1)
    keys = [f"user-{i}" for i in range(1000)]
    arms = [resolve(store, "active", base, key=k) for k in keys]
    share = sum(t.version.id == v3.id for t in arms) / len(keys)
    assert 0.07 <= share <= 0.13
    assert all((t.arm == "canary") == (t.version.id == v3.id) for t in arms)
    assert all(t.version.id in (v2.id, v3.id) for t in arms)
    # One user always gets the same arm; the trace says which answered.
    again = [resolve(store, "active", base, key=k) for k in keys[:200]]
    assert [t.version.id for t in again] == [t.version.id for t in arms[:200]]
    trace = arms[keys.index(next(k for k, t in zip(keys, arms) if t.arm == "canary"))].trace()
    assert trace["arm"] == "canary" and trace["model_version"] == "law-v3" and trace["canary_share"] == 0.1
    # Asking for a version by name is never rerouted; the stock model neither.
    assert resolve(store, "law-v2", base, key=keys[0]).arm is None
    with pytest.raises(Exception, match="already the active"):
        rollout.start_canary(store, v2.id, 0.5)
    with pytest.raises(Exception, match="between 0 and 1"):
        rollout.start_canary(store, v3.id, 1.5)

    # Promote: the candidate answers everything, the canary is over.
    rollout.promote(store)
    assert active_version(store).id == v3.id and rollout.get_canary(store) is None
    assert resolve(store, "active", base, key="user-1").arm is None
    # Rollback walks the activation history back, one step per command, ending any canary.
    rollout.start_canary(store, v1.id, 0.5)
    assert rollout.rollback(store) == (v3.id, v2.id)
    assert active_version(store).id == v2.id and rollout.get_canary(store) is None
    assert rollout.rollback(store) == (v2.id, v1.id)
    assert rollout.rollback(store) == (v1.id, None)  # before v1: the stock model
    with pytest.raises(Exception, match="no earlier activation"):
        rollout.rollback(store)
    with store.session() as s:
        actions = set(s.scalars(select(AuditEventRow.action)))
    assert {"model.canary.start", "model.canary.end", "model.rollback", "model.activate"} <= actions

    # Scopes are separate: a scope alias gets its own canary.
    activate(store, v1.id, scope="immigration")
    rollout.start_canary(store, v2.id, 0.3, scope="immigration")
    hits = sum(resolve(store, "immigration", base, key=k).version.id == v2.id for k in keys)
    assert 0.25 <= hits / len(keys) <= 0.35
    assert resolve(store, "active", base, key="x").version is None  # default scope: stock, no canary


def test_corrections_rows_take_the_target_the_lawyer_signed():
    from lextune.data.builders.corrections import item_row

    base = {"id": "ri1", "matter": "M-1", "document_id": "doc1", "source_text": "This is governed by NY law.",
            "span_start": None, "span_end": None, "prompt": None, "reviewer": "alice", "model_version": "v1",
            "reviewed_at": utcnow(), "extra": None, "correction": None}
    accepted = item_row({**base, "task": "clause_extraction", "status": "accepted",
                         "output": {"label": "Governing Law", "text": "governed by NY law"}}, "train", "doc1")
    assert accepted.answer == "governed by NY law" and "Governing Law" in accepted.messages[1]["content"]
    assert accepted.meta["reviewer"] == "alice" and accepted.meta["review_item"] == "ri1"
    corrected = item_row({**base, "task": "privilege", "status": "corrected", "output": {"label": "not privileged"},
                          "correction": {"label": "privileged", "reason": "legal advice"}}, "test", "doc1")
    assert corrected.answer == "privileged\nlegal advice" and corrected.label == "privileged"
    assert corrected.split == "test" and corrected.task == "privilege"
    assert item_row({**base, "task": "cited_answer", "status": "accepted", "output": {"text": "x"}},
                    "train", "doc1") is None  # no prompt and no question: nothing to ask


def _add_items(store, train_doc: tuple[str, str], test_doc: tuple[str, str]) -> None:
    from lextune.core.tables_review import ReviewItemRow

    now = utcnow()
    (d1, text1), (d2, text2) = train_doc, test_doc
    items = [
        ReviewItemRow(id="ri-acc", task="clause_extraction", document_id=d1, source_text=text1[:400],
                      output={"label": "Governing Law", "text": text1[50:120]}, status="accepted",
                      reviewer="alice@firm", reviewed_at=now - timedelta(hours=2), model_version="clauses-v1"),
        ReviewItemRow(id="ri-cor", task="privilege", document_id=d1, source_text=text1[400:800],
                      output={"label": "not privileged"}, status="corrected",
                      correction={"label": "privileged", "reason": "seeks legal advice"},
                      reviewer="bob@firm", reviewed_at=now - timedelta(hours=1)),
        ReviewItemRow(id="ri-ans", task="cited_answer", document_id=d2, source_text=text2[:300],
                      prompt="Which law governs?", output={"text": 'It says "governed" [1]'}, status="accepted",
                      reviewer="alice@firm", reviewed_at=now),
        ReviewItemRow(id="ri-pen", task="privilege", document_id=d1, source_text="pending", output={"label": "x"}),
        ReviewItemRow(id="ri-rej", task="privilege", document_id=d1, source_text="rejected", output={"label": "x"},
                      status="rejected", reviewer="bob@firm", reviewed_at=now),
    ]
    with store.session() as s:
        s.add_all(items)


def test_corrections_flow_into_a_candidate_the_gate_judges(home, tiny_model_dir, tmp_path):
    from lextune.core.store import Store
    from lextune.core.tables import AuditEventRow, EvalComparisonRow, SplitAssignmentRow
    from lextune.data.dataset import get_dataset, read_rows, split_path
    from lextune.registry.versions import active_version, get_version
    from lextune.vault.vault import Vault

    contracts = tmp_path / "cuad_small.json"
    contracts.write_text(json.dumps({"data": sample_squad()["data"][:12]}))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"base_model: {tiny_model_dir}\nmax_steps: 2\nbatch_size: 4\nmax_seq_len: 192\nmin_rows: 1\n")
    gate = tmp_path / "gate.yaml"  # permissive, so that policy auto has something to activate
    gate.write_text("target: null\ngeneral: {tasks: ['mmlu*'], max_drop: 1.0}\nforgetting: {max_kl: 1000}\n")
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"prompt": f"General question {i}?", "response": f"Answer {i}."}) + "\n"
                              for i in range(20)))
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    ok("ingest", str(contracts))
    ok("data", "build", "--name", "clauses", "--builder", "clauses", "--no-anonymize")
    ok("train", "--recipe", str(recipe))
    ok("models", "activate", "clauses-v1", "--force")
    store = Store()
    vault = Vault(store)
    with store.session() as s:
        splits = dict(s.execute(select(SplitAssignmentRow.document_id, SplitAssignmentRow.split)).all())
    train_id = next(d for d, sp in splits.items() if sp == "train")
    test_id = next(d for d, sp in splits.items() if sp == "test")
    _add_items(store, (train_id, vault.document_text(train_id)), (test_id, vault.document_text(test_id)))

    result = json.loads(ok("retrain", "--recipe", str(recipe), "--policy", "auto", "--gate", str(gate),
                           "--replay-share", "0.2", "--replay-source", str(replay), "--limit", "3",
                           "--resamples", "20", "--option", "max_new_tokens=8",
                           "--json"))
    assert result["previous"]["name"] == "clauses-v1" and result["candidate"]["name"] == "clauses-v2"
    assert result["rows"]["corrections"] == 3 and result["rows"]["new_corrections"] == 3
    assert result["rows"]["replay"] > 0
    info = get_dataset(store, result["dataset"])
    train = read_rows(split_path(info, "train"), store.keyring)
    test = read_rows(split_path(info, "test"), store.keyring)
    corr = {r.meta["review_item"]: r for r in train + test if r.builder == "corrections"}
    assert set(corr) == {"ri-acc", "ri-cor", "ri-ans"}  # pending and rejected items teach nothing
    assert corr["ri-acc"].split == "train" and corr["ri-ans"].split == "test"  # the document's split
    assert corr["ri-cor"].answer.startswith("privileged") and corr["ri-cor"].meta["reviewer"] == "bob@firm"
    assert corr["ri-acc"].span is not None and corr["ri-acc"].document_id == train_id
    assert any(r.builder == "clauses" for r in train) and any(r.builder == "replay" for r in train)
    # The comparison ran (active vs candidate), was stored where `models activate` finds it, and the verdict
    # is on the record; the permissive gate passed, so policy auto activated the candidate.
    with store.session() as s:
        cmp_row = s.get(EvalComparisonRow, result["comparison"])
        assert cmp_row.a_version_id == get_version(store, "clauses-v1").id
        assert cmp_row.b_version_id == result["candidate"]["id"] and cmp_row.passed
        assert any(t["task"].startswith("reference") for t in cmp_row.report["tasks"])  # the corrections' tasks
        finish = s.scalars(select(AuditEventRow).where(AuditEventRow.action == "retrain.finish")).one()
        assert finish.details["passed"] is True and finish.details["comparison"] == result["comparison"]
    assert result["activated"] and active_version(store).name == "clauses-v2"

    # Nothing new reviewed since: nothing to retrain on.
    again = runner.invoke(app, ["retrain", "--recipe", str(recipe), "--gate", str(gate)])
    assert again.exit_code != 0 and "nothing new" in str(again.exception)
    # One command back to the version before.
    assert "active: clauses-v1" in ok("models", "rollback")
    assert active_version(store).name == "clauses-v1"
    store.close()


def test_include_unmatched_reaches_the_corrections_build(home, monkeypatch):
    """Items with no vault document (an analysis of a file) only train with --include-unmatched."""
    from types import SimpleNamespace

    from lextune.data import dataset as dataset_module
    from lextune.train import retrain as retrain_module

    seen = []

    def build(store, base_ds, since, anonymize, include_unmatched=False):
        seen.append(include_unmatched)
        raise retrain_module.DatasetError("stopped after the corrections build")

    monkeypatch.setattr(retrain_module, "_build_corrections", build)
    monkeypatch.setattr(dataset_module, "get_dataset", lambda store, ref=None: SimpleNamespace(id="ds-x"))
    runner = CliRunner()
    for flag in ([], ["--include-unmatched"]):
        result = runner.invoke(app, ["retrain", *flag])
        assert result.exit_code != 0 and "stopped after the corrections build" in str(result.exception)
    assert seen == [False, True]
