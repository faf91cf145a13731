"""`lextune demo` wiring on a tiny random model: report.json and report.html with stock vs tuned."""

import json

from lextune import demo
from lextune.train.recipe import Recipe


def test_demo_writes_reports(home, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "EVAL_SAMPLE", {"clause_type": 12, "clause_quote": 4, "clause_question": 4,
                                              "forgetting": 3, "mmlu": 8})
    monkeypatch.setattr(demo, "N_RESAMPLES", 50)
    recipe = Recipe(base_model=str(tiny_model_dir), max_steps=2, batch_size=4, max_seq_len=256)
    out = tmp_path / "demo-out"
    # Anonymization is tested on its own (tests/data/test_dataset.py); here it would add minutes.
    build = demo.DEMO_BUILD.model_copy(update={"anonymize": False})
    demo.run_demo(out, recipe=recipe, build=build)
    # The demo keeps to its own state folder: nothing in the user's LEXTUNE_HOME, nothing activated there.
    assert not (home / "lextune.db").exists() and (out / "home" / "lextune.db").exists()
    report = json.loads((out / "report.json").read_text())
    tasks = {e["task"].split(":")[0]: e for e in report["tasks"]}
    assert set(tasks) == {"clause_type", "clause_quote", "clause_question", "forgetting", "mmlu"}
    assert tasks["clause_type"]["n"] == 12
    for side in ("a", "b"):
        assert 0.0 <= tasks["clause_type"][side]["balanced_accuracy"] <= 1.0
        assert "overlap_f1" in tasks["clause_quote"][side]
    assert "echo_excerpt" in tasks["clause_quote"]["baselines"]
    assert tasks["forgetting"]["a"]["kl"] == 0.0  # the stock model is its own base
    assert "passed" in report["verdict"]
    # The last step asked through the running service with the openai client, with retrieval.
    asked = report["ask"]
    assert asked["model"].startswith("demo-v1") and asked["lextune"]["model_version"] == asked["model"]
    assert asked["lextune"]["fine_tuned"] is True and asked["lextune"]["retrieved"]
    assert asked["text"]
    assert set(report["dataset"]["counts"]["train"]) >= {"clause_type", "clause_quote", "clause_question",
                                                         "cited_qa", "fill_masked_span"}
    html = (out / "report.html").read_text()
    assert "clause_quote" in html and "<svg" in html
