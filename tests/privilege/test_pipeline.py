"""`privilege run`: batches, sealed run folder, review queue, resume after a crash, the log, the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lextune.core.tables_review import ReviewItemRow
from lextune.privilege import pipeline
from lextune.privilege.privlog import COLUMNS, log_rows
from lextune.security.keyring import FILE_MAGIC


@pytest.fixture()
def fast_training(trained, monkeypatch):
    monkeypatch.setattr(pipeline, "train_on", lambda lexicon, training, **kw: trained)


class Unsure:
    """An LLM member that disagrees with everything: every flagged document becomes uncertain."""

    label = "fake-llm"

    def probs(self, docs):
        return np.tile(np.array([0.2, 0.3, 0.5]), (len(docs), 1))


def _queue(store):
    with store.session() as s:
        return s.execute(select(ReviewItemRow).where(ReviewItemRow.task == "privilege")).scalars().all()


def test_run_seals_the_folder_and_queues_uncertain_items(store, slice_file, fast_training, sample):
    res = pipeline.run(store, slice_file, matter="M-1", batch=8, llm=Unsure())
    assert res.total_done == 30 and res.batches == 4 and res.docs_per_hour > 0
    files = sorted(res.folder.iterdir())
    assert files and all(f.read_bytes().startswith(FILE_MAGIC) for f in files)
    queue = _queue(store)
    assert queue and len(queue) == res.review_queued
    item = queue[0]
    assert item.matter == "M-1" and set(item.output) >= {"category", "probabilities", "reasons"}
    assert item.source_text and item.confidence is not None


def test_resume_after_a_crash_loses_at_most_one_batch(store, slice_file, fast_training, monkeypatch):
    from lextune.privilege.model import PrivilegeModel

    calls = []
    real = PrivilegeModel.predict

    def counting(self, docs, llm=None):
        calls.append([d.id for d in docs])
        return real(self, docs, llm)

    monkeypatch.setattr(PrivilegeModel, "predict", counting)

    def crash(k, done):
        if k == 1:
            raise KeyboardInterrupt  # killed after the 2nd batch was saved

    with pytest.raises(KeyboardInterrupt):
        pipeline.run(store, slice_file, batch=7, on_batch=crash)
    run_id = next(pipeline.runs_dir(store).iterdir()).name
    assert pipeline.progress(store, run_id)["docs_done"] == 14
    calls.clear()
    res = pipeline.run(store, None, resume=run_id)
    assert res.resumed_from == 14 and res.docs == 16 and res.total_done == 30
    assert sum(len(c) for c in calls) == 16  # the saved batches were not scored again
    ids = [r["doc"]["id"] for r in pipeline.results(store, run_id)]
    assert len(ids) == len(set(ids)) == 30


def test_log_csv_xlsx_and_reviewer(store, slice_file, fast_training, tmp_path, sample):
    from openpyxl import load_workbook

    res = pipeline.run(store, slice_file, batch=10, llm=Unsure())
    item = _queue(store)[0]
    with store.session() as s:
        row = s.get(ReviewItemRow, item.id)
        row.status, row.reviewer, row.correction = "corrected", "j.doe", {"category": "privileged"}
    rows = log_rows(store, res.run_id)
    assert rows and any(r["reviewed by"] == "j.doe" for r in rows)
    from lextune.privilege.privlog import write_csv, write_xlsx

    write_csv(rows, tmp_path / "log.csv")
    write_xlsx(rows, tmp_path / "log.xlsx")
    with open(tmp_path / "log.csv", newline="") as f:
        assert next(csv.reader(f)) == COLUMNS
    ws = load_workbook(tmp_path / "log.xlsx").active
    assert [c.value.lower() for c in ws[1]] == COLUMNS and ws.max_row == len(rows) + 1
    bodies = {d.id: d for d in sample["test"]}
    from lextune.privilege.describe import leaks

    for r in rows:
        assert not any(leaks(r["description"], d) for d in bodies.values() if d.label != "not_privileged"
                       and d.body and d.body[:40] in r["description"])
        assert all(not (d.body and d.body[:30] in r["description"]) for d in bodies.values())


def test_cli_end_to_end_on_a_slice(home, slice_file, fast_training, tmp_path):
    from lextune.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["privilege", "run", str(slice_file), "--batch", "10", "--matter", "M-2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["docs_total"] == 30 and out["docs_per_hour"] > 0
    r = runner.invoke(app, ["privilege", "log", out["run"], "--csv", str(tmp_path / "l.csv"),
                            "--xlsx", str(tmp_path / "l.xlsx")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "l.csv").read_text().startswith(",".join(COLUMNS))
    assert (tmp_path / "l.xlsx").stat().st_size > 0


def test_cli_eval_reports_synthetic_figures(tmp_path):
    from lextune.cli import app
    from lextune.privilege.synthetic import generate

    small = tmp_path / "small.jsonl"  # a smaller SYNTHETIC sample: the shipped one is the benchmark
    small.write_text("".join(json.dumps(d) + "\n" for d in generate(seed=3, mix={
        "attorney_client": 50, "work_product": 25, "partial": 25, "business": 40, "lawyer_cc_only": 20,
        "press_release": 10, "opposing_counsel": 10})))
    r = CliRunner().invoke(app, ["privilege", "eval", "--sample", str(small), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["synthetic_benchmark"] is True and out["tar_reference_recall"] == 0.75
    assert out["stage1_test"]["recall"] >= 0.85 and out["validation"]["recall"] >= 0.98


def test_role_entries_exist():
    from lextune.security.cli_guard import CLI_PERMISSIONS

    assert CLI_PERMISSIONS["privilege run"] == "data"
    assert CLI_PERMISSIONS["privilege log"] == "review"
    assert CLI_PERMISSIONS["privilege eval"] == "train"
