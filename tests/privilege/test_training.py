"""`--train FILE`: a firm's own labelled set, validated line by line, recorded in the run's manifest, reused on resume."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest
from typer.testing import CliRunner

from lextune.core.errors import LextuneError
from lextune.privilege import pipeline
from lextune.privilege.synthetic import generate
from lextune.privilege.training import MIN_VALIDATION, load_training

SMALL = {"attorney_client": 40, "work_product": 20, "partial": 25, "business": 40, "lawyer_cc_only": 15,
         "press_release": 10, "opposing_counsel": 10}


def _firm_set(path, *, drop_split: bool = False, bad: bool = True, mix=None) -> dict[int, str]:
    """A labelled set in the sample's format (a different seed: not the shipped sample), with bad lines planted.
    Returns {line number: what is wrong}."""
    docs = generate(seed=5, mix=mix or SMALL)
    lines = []
    for d in docs:
        if drop_split:
            d.pop("split")
        lines.append(json.dumps(d))
    planted = {}
    if bad:
        first = docs[0]
        bads = [
            ('{"id": "x1", "label": "privileged", "body": "unterminated', "malformed JSON"),
            (json.dumps({**first, "id": "x2", "label": "confidential"}), "unknown category 'confidential'"),
            (json.dumps({k: v for k, v in first.items() if k not in ("body", "label")} | {"id": "x3"}),
             "missing fields 'label', 'body'"),
            (json.dumps({**first, "id": "x4", "recipients": "not a list"}), "field 'recipients'"),
            (json.dumps(first), "repeated id"),
            (json.dumps([1, 2]), "expected a JSON object"),
            (json.dumps({**first, "id": "x5", "split": "holdout"}), "unknown split 'holdout'"),
        ]
        for k, (line, why) in enumerate(bads):
            at = 3 + 7 * k
            lines.insert(at, line)
        for k, (_, why) in enumerate(bads):
            planted[3 + 7 * k + 1] = why
        lines.insert(10, "")  # a blank line is not a problem
        planted = {(n + 1 if n > 10 else n): why for n, why in planted.items()}
    text = "".join(x + "\n" for x in lines)
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text)
    return planted


def test_bad_lines_are_reported_by_file_and_line_and_skipped(tmp_path):
    path = tmp_path / "firm.jsonl.gz"
    planted = _firm_set(path)
    ts = load_training(path)
    assert ts.skipped == len(planted) == 7
    assert ts.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    found = {int(p.split(":")[1]): p for p in ts.problems}
    assert set(found) == set(planted), (found, planted)
    for n, why in planted.items():
        assert found[n].startswith(f"{path}:{n}: ") and why in found[n], found[n]
    assert sum(len(v) for v in ts.splits.values()) == sum(SMALL.values())
    assert not ts.is_shipped_sample and ts.synthetic
    # Messages never quote the document: the mistyped recipients value is not repeated.
    assert not any("not a list" in p for p in ts.problems)


def test_records_without_split_are_assigned_deterministically(tmp_path):
    path = tmp_path / "firm.jsonl"
    _firm_set(path, drop_split=True, bad=False)
    a, b = load_training(path), load_training(path)
    assert [d.id for d in a.splits["validation"]] == [d.id for d in b.splits["validation"]]
    assert not a.splits["test"] and 0.15 < len(a.splits["validation"]) / sum(SMALL.values()) < 0.35


def test_too_few_examples_of_a_category_is_refused(tmp_path):
    path = tmp_path / "tiny.jsonl"
    _firm_set(path, bad=True, mix={**SMALL, "partial": 12})  # ~2 partially privileged docs in validation
    with pytest.raises(LextuneError) as e:
        load_training(path)
    msg = str(e.value)
    assert str(path) in msg and "partially_privileged" in msg and "validation" in msg
    assert f"need {MIN_VALIDATION}" in msg and "stage-1 threshold" in msg and "bad line(s) skipped" in msg
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(LextuneError, match="not found"):
        load_training(missing)


def test_run_records_the_training_set_and_resume_reuses_its_model(store, slice_file, tmp_path, monkeypatch):
    firm = tmp_path / "firm.jsonl"
    _firm_set(firm)
    sha = hashlib.sha256(firm.read_bytes()).hexdigest()

    def crash(k, done):
        if k == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.run(store, slice_file, batch=10, train=firm, on_batch=crash)
    run_id = next(pipeline.runs_dir(store).iterdir()).name
    m = pipeline.run_manifest(store, run_id)
    assert m["training"]["path"] == str(firm.resolve()) and m["training"]["sha256"] == sha
    assert m["training"]["skipped_lines"] == 7 and not m["training"]["shipped_sample"]
    assert len(m["model_sha256"]) == 64 and m["engine"] == "none"

    def no_training(*a, **kw):
        raise AssertionError("a resumed run must not retrain")

    monkeypatch.setattr(pipeline, "train_on", no_training)
    other = tmp_path / "other.jsonl"
    _firm_set(other, bad=False)
    with pytest.raises(LextuneError, match="was trained on .*drop --train"):
        pipeline.run(store, None, resume=run_id, train=other)

    class Member:
        label = "some-llm"

        def probs(self, docs):
            raise AssertionError("not reached")

    with pytest.raises(LextuneError, match="same --model"):
        pipeline.run(store, None, resume=run_id, llm=Member())
    res = pipeline.run(store, None, resume=run_id, train=firm)  # the same file: fine, and not retrained
    assert res.total_done == 30 and res.resumed_from == 10 and res.training["sha256"] == sha
    assert pipeline.run_manifest(store, run_id) == m


def test_resume_refuses_a_model_that_does_not_match_the_manifest(store, slice_file, trained, monkeypatch):
    from lextune.security.sealed_files import write_sealed_bytes

    monkeypatch.setattr(pipeline, "train_on", lambda lexicon, training, **kw: trained)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(store, slice_file, batch=10, on_batch=_crash_first)
    run_id = next(pipeline.runs_dir(store).iterdir()).name
    m = pipeline.run_manifest(store, run_id)
    assert m["training"]["shipped_sample"] and m["training"]["synthetic"]  # no --train: the shipped sample
    trained.threshold += 0.01
    try:
        write_sealed_bytes(pipeline.run_dir(store, run_id) / "model.npz", trained.to_bytes(), store.keyring,
                           pipeline.KIND)
    finally:
        trained.threshold -= 0.01
    with pytest.raises(LextuneError, match="does not match the sha256"):
        pipeline.run(store, None, resume=run_id)


def _crash_first(k, done):
    if k == 0:
        raise KeyboardInterrupt


def test_cli_run_and_eval_with_train(home, slice_file, tmp_path):
    from lextune.cli import app

    firm = tmp_path / "firm.jsonl.gz"
    planted = _firm_set(firm)
    runner = CliRunner()
    r = runner.invoke(app, ["privilege", "run", str(slice_file), "--train", str(firm), "--batch", "16", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["docs_total"] == 30 and out["training"]["sha256"] == hashlib.sha256(firm.read_bytes()).hexdigest()
    first_bad = min(planted)
    assert f"{firm}:{first_bad}:" in r.stderr.replace("\n", "")
    r = runner.invoke(app, ["privilege", "eval", "--train", str(firm), "--json"])
    assert r.exit_code == 0, r.output
    ev = json.loads(r.stdout)
    assert ev["training"]["path"] == str(firm.resolve()) and ev["test_set"] == str(firm.resolve())
    assert ev["sizes"]["test"] > 0 and ev["stage1_test"]["recall"] >= 0.7
    small = tmp_path / "few.jsonl"
    _firm_set(small, mix={**SMALL, "partial": 12})
    r = runner.invoke(app, ["privilege", "run", str(slice_file), "--train", str(small)])
    assert r.exit_code != 0 and "too few examples" in (r.output + str(r.exception))
    runs = home / "reports" / "privilege"
    assert len(list(runs.iterdir())) == 1  # refused before a run folder was made
    r = runner.invoke(app, ["privilege", "run", "--help"])
    assert "--train" in r.stdout and "partially_privileged" in r.stdout
