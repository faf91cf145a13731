"""`lextune demo` wiring on a tiny random model: report.json and report.html with stock vs tuned."""

import json

from lextune import demo
from lextune.train.recipe import Recipe


def test_demo_writes_reports(home, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "EVAL_ROWS_PER_TASK", {"clause_type": 12, "clause_quote": 4})
    recipe = Recipe(base_model=str(tiny_model_dir), max_steps=2, batch_size=4, max_seq_len=256)
    out = tmp_path / "demo-out"
    # Anonymization is tested on its own (tests/data/test_dataset.py); here it would add minutes.
    build = demo.DEMO_BUILD.model_copy(update={"anonymize": False})
    demo.run_demo(out, recipe=recipe, build=build)
    report = json.loads((out / "report.json").read_text())
    for side in ("stock", "tuned"):
        assert 0.0 <= report[side]["clause_type.generation"]["macro_f1"] <= 1.0
        assert 0.0 <= report[side]["clause_type.loglik"]["macro_f1"] <= 1.0
        assert "f1" in report[side]["clause_quote"]
    assert report["tasks"]["clause_type.generation"]["n"] == 12
    assert report["ask"]["model"].startswith("demo-v1")
    assert set(report["dataset"]["counts"]["train"]) >= {"clause_type", "clause_quote", "clause_question",
                                                         "cited_qa", "fill_masked_span"}
    html = (out / "report.html").read_text()
    assert "clause_type.loglik" in html and "<svg" in html
