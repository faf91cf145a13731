"""Classification and multiple-choice tasks: metrics by hand, loaders on tiny fixtures, a fake scorer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lextune.core.errors import DatasetError
from lextune.core.records import DatasetRow
from lextune.data import prompts
from lextune.evals.records import Example, Generation
from lextune.evals.scoring.classification import classification_metrics, multiple_choice_metrics
from lextune.evals.tasks import make_task
from lextune.evals.tasks.classification import stratified_sample

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "lextune" / "demo_data" / "eval_samples"


# ---- a deterministic stand-in for the model -----------------------------------------------------------


def _text(prompt) -> str:
    return prompt if isinstance(prompt, str) else prompt[-1]["content"]


class FakeScorer:
    """loglik: `score(prompt text, choice) -> (logprob, tokens)`; generate: `answer(prompt text)`."""

    key = "fake"

    def __init__(self, score, answer=lambda text: ""):
        self.score, self.answer = score, answer
        self.ticks = 0

    def _tick(self, progress, n):
        if progress:
            progress(n)

    def loglik(self, prompts_, choices, progress=None):
        self._tick(progress, len(prompts_))
        return [[self.score(_text(p), c) for c in cs] for p, cs in zip(prompts_, choices)]

    def generate(self, prompts_, max_new_tokens, progress=None):
        self._tick(progress, len(prompts_))
        return [Generation(text=self.answer(_text(p)), logprob=-1.0, tokens=2) for p in prompts_]

    def kl_from_base(self, prompts_, max_new_tokens, progress=None):  # pragma: no cover - not used here
        return [0.0] * len(prompts_)


def prefer(table: dict[str, str]):
    """A loglik that gives -1 to the choice named for the first key found in the prompt, -2 to the rest."""
    def score(text: str, choice: str) -> tuple[float, int]:
        wanted = next((label for key, label in table.items() if key in text), None)
        return (-1.0 if choice.strip() == wanted else -2.0), 1
    return score


# ---- metrics ------------------------------------------------------------------------------------------


def test_classification_metrics_by_hand():
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", None, "a"]
    m = classification_metrics(gold, pred, labels=["a", "b", "c", "d"])
    assert m["accuracy"] == 3 / 6
    # recalls a 2/3, b 1/2, c 0; "d" never occurs in gold and is left out of the mean
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    # precisions a 2/3 (2 of 3 "a" picks), b 1/2, c 0 -> f1 a 2/3, b 1/2, c 0; mean over a, b, c
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 3)
    assert m["macro_f1_over"] == "labels present in gold"
    assert m["per_label"]["a"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert m["per_label"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["confusion"]["labels"] == ["a", "b", "c", "d"]
    assert m["confusion"]["columns"] == ["a", "b", "c", "d", "(none)"]
    assert m["confusion"]["matrix"] == [[2, 1, 0, 0, 0], [0, 1, 0, 0, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    assert m["unreadable"] == 1 and m["n"] == 6


def test_balanced_accuracy_ignores_labels_only_predicted():
    # As sklearn's balanced_accuracy_score: a class that occurs only in the predictions has no recall.
    m = classification_metrics(["x", "x", "y", "y"], ["x", "z", "y", "z"])
    assert m["confusion"]["labels"] == ["x", "y", "z"]
    assert m["balanced_accuracy"] == 0.5
    assert m["macro_f1"] == pytest.approx(2 / 3)  # x and y: precision 1, recall 1/2 -> f1 2/3 each


def test_metrics_refuse_unknown_labels_and_length_mismatch():
    with pytest.raises(ValueError, match="gold labels"):
        classification_metrics(["a", "q"], ["a", "a"], labels=["a", "b"])
    with pytest.raises(ValueError, match="predicted labels"):
        classification_metrics(["a"], ["q"], labels=["a", "b"])
    with pytest.raises(ValueError, match="2 items"):
        classification_metrics(["a", "b"], ["a"])
    assert classification_metrics([], [], ["a"])["accuracy"] == 0.0


def test_multiple_choice_metrics():
    assert multiple_choice_metrics(["A", "B", "C", "D"], ["A", "C", None, "D"]) == {"accuracy": 0.5, "n": 4}


# ---- stratified sampling ------------------------------------------------------------------------------


def _examples(golds: list[str]) -> list[Example]:
    return [Example(id=f"e{i}", task="t", prompt="p", gold=g, choices=["A", "B", "C"]) for i, g in enumerate(golds)]


def test_stratified_sample_keeps_proportions_and_order():
    exs = _examples(["A"] * 7 + ["B"] * 3)
    got = stratified_sample(exs, 4)
    # exact quotas 2.8 and 1.2 -> 2 and 1, the spare one to the larger remainder (A)
    assert [e.gold for e in got].count("A") == 3 and [e.gold for e in got].count("B") == 1
    assert [e.id for e in got] == sorted((e.id for e in got), key=lambda i: int(i[1:]))  # original order
    assert got == stratified_sample(exs, 4)  # deterministic
    assert stratified_sample(exs, 20) == exs


def test_stratified_sample_keeps_one_of_each_rare_label():
    exs = _examples(["A"] * 8 + ["B", "C"])
    got = stratified_sample(exs, 3, seed=5)
    assert sorted(e.gold for e in got) == ["A", "B", "C"]
    assert len(stratified_sample(exs, 2)) == 2


# ---- LegalBench ---------------------------------------------------------------------------------------

HEARSAY_PROMPT = "Hearsay is an out-of-court statement.\n\nQ: Bob said he was sane. Is there hearsay?\nA: Yes\n\n" \
                 "Q: {{text}} Is there hearsay?\nA:\n"


def _legalbench_folder(tmp_path: Path, test_rows: list[str], train_rows: list[str] | None = None,
                       header: str = "index\tanswer\ttext\tslice", prompt: str = HEARSAY_PROMPT) -> Path:
    folder = tmp_path / "hearsay"
    folder.mkdir()
    (folder / "base_prompt.txt").write_text(prompt)
    (folder / "test.tsv").write_text("\n".join([header, *test_rows]) + "\n")
    if train_rows is not None:
        (folder / "train.tsv").write_text("\n".join([header, *train_rows]) + "\n")
    return folder


FIVE_ROWS = [
    "0\tYes\tAnn told Sue that it rained.\tstandard",
    "1\tYes\tCal wrote that the car was red.\tstandard",
    '2\tNo\t"Dan testified that ""it was late."""\tin court',
    "3\tNo\tEve ran away.\tconduct",
    "4\tNo\tFay smiled.\tconduct",
]


def test_legalbench_loads_with_its_own_protocol(tmp_path):
    folder = _legalbench_folder(tmp_path, FIVE_ROWS, ["0\tNo\tGus nodded.\tconduct"])
    task = make_task(f"legalbench:{folder}")
    exs = task.load()
    assert task.label == "legalbench:hearsay" and len(exs) == 5
    e = exs[2]
    assert e.prompt == HEARSAY_PROMPT.rstrip().replace("{{text}}", 'Dan testified that "it was late."')
    assert e.prompt.endswith("Is there hearsay?\nA:")  # the file's trailing newline is not part of the prompt
    assert e.labels == ["No", "Yes"] and e.choices == [" No", " Yes"]
    assert e.gold == "No" and e.doc_id is None and e.id == "legalbench:hearsay:2"
    assert {k: e.meta[k] for k in ("index", "slice")} == {"index": "2", "slice": "in court"}
    assert e.meta["content_free"].endswith("Q: N/A Is there hearsay?\nA:")


def test_legalbench_predict_and_score_with_a_fake_model(tmp_path):
    folder = _legalbench_folder(tmp_path, FIVE_ROWS)
    task = make_task(f"legalbench:{folder}")
    exs = task.load()
    # log-likelihood picks Yes, No, No, No, Yes against gold Yes, Yes, No, No, No
    scorer = FakeScorer(prefer({"Ann": "Yes", "Fay": "Yes", "Q: ": "No"}),
                        answer=lambda t: {"Ann": "Yes\n\nQ: next question", "Cal": "Yes, it is", "Dan": "maybe",
                                          "Eve": "No.", "Fay": "no"}[next(k for k in ("Ann", "Cal", "Dan", "Eve", "Fay")
                                                                          if f"Q: {k}" in t)])
    ticks = []
    preds = task.predict(scorer, exs, progress=ticks.append)
    assert sum(ticks) == task.work_units(exs) == 10
    assert preds[0].choice_logprobs == [-2.0, -1.0] and preds[0].choice_tokens == [1, 1]
    assert preds[2].generated == "maybe"
    m = task.score(preds)
    assert m["loglik"]["accuracy"] == 3 / 5
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)  # recall Yes 1/2, No 2/3
    gen = m["generation"]  # first lines map to Yes, Yes, (none), No, No
    assert gen["accuracy"] == 4 / 5 and gen["balanced_accuracy"] == pytest.approx((1 + 2 / 3) / 2)
    assert gen["confusion"]["labels"] == ["No", "Yes"]
    assert gen["confusion"]["matrix"] == [[2, 0, 1], [0, 2, 0]]
    base = task.baselines(exs)
    assert base["majority_class"]["label"] == "No" and base["majority_class"]["accuracy"] == 3 / 5
    assert base["majority_class"]["balanced_accuracy"] == 0.5
    assert base["random_uniform"] == {"accuracy": 0.5, "balanced_accuracy": 0.5, "n": 5}


def test_legalbench_without_generation_and_chat_variant(tmp_path):
    folder = _legalbench_folder(tmp_path, FIVE_ROWS)
    task = make_task(f"legalbench:{folder}", generate=False, chat=True)
    exs = task.load()
    assert task.label == "legalbench_chat:hearsay"
    assert exs[0].prompt[0]["role"] == "user" and exs[0].choices == ["No", "Yes"]
    preds = task.predict(FakeScorer(prefer({"Q: ": "No"})), exs)
    m = task.score(preds)
    assert "generation" not in m and task.work_units(exs) == 5
    assert m["accuracy"] == 3 / 5 and m["balanced_accuracy"] == 0.5


def test_legalbench_cuad_rows_cluster_by_document(tmp_path):
    folder = _legalbench_folder(tmp_path, ["0\tClause one.\tYes\tDOC_A", "1\tClause two.\tNo\tDOC_B"],
                                header="index\ttext\tanswer\tdocument_name", prompt="Clause: {{text}}\nLabel:")
    exs = make_task(f"legalbench:{folder}").load()
    assert [e.doc_id for e in exs] == ["DOC_A", "DOC_B"] and exs[0].prompt == "Clause: Clause one.\nLabel:"


def test_legalbench_errors_name_the_problem(tmp_path):
    empty = tmp_path / "no_test"
    empty.mkdir()
    (empty / "base_prompt.txt").write_text("{{text}}")
    with pytest.raises(DatasetError, match="no test.tsv"):
        make_task(f"legalbench:{empty}").load()
    bad = _legalbench_folder(tmp_path, ["0\tYes\tfine\tslice", "1\tNo\tone\ttoo\tmany"])
    with pytest.raises(DatasetError, match=r"test.tsv:3: 5 fields"):
        make_task(f"legalbench:{bad}").load()
    free = tmp_path / "free"
    free.mkdir()
    _legalbench_folder(free, [f"{i}\tanswer number {i}\tq\ts" for i in range(25)])
    with pytest.raises(DatasetError, match="not a classification task"):
        make_task(f"legalbench:{free / 'hearsay'}").load()
    odd = tmp_path / "odd"
    odd.mkdir()
    _legalbench_folder(odd, FIVE_ROWS, prompt="{{text}} {{question}}\nA:")
    with pytest.raises(DatasetError, match=r"test.tsv:2: .*\{\{question\}\}"):
        make_task(f"legalbench:{odd / 'hearsay'}").load()


def test_shipped_hearsay_sample_loads():
    exs = make_task(f"legalbench:{SAMPLES / 'legalbench_hearsay_sample'}").load()
    assert len(exs) == 8 and sorted(e.gold for e in exs) == ["No"] * 4 + ["Yes"] * 4
    assert all(e.prompt.endswith("Is there hearsay?\nA:") for e in exs)


# ---- MMLU ---------------------------------------------------------------------------------------------


def test_mmlu_prompt_per_subject_and_normalised_accuracy(tmp_path):
    (tmp_path / "high_school_physics_test.csv").write_text(
        'What is 2+2?,3,4,5,6,B\n"Pick, with a comma",w,x,y,z,D\n')
    (tmp_path / "anatomy.csv").write_text("Bones?,206,10,3,1,A\n")
    task = make_task(f"mmlu:{tmp_path}")
    exs = task.load()
    assert [e.meta["subject"] for e in exs] == ["anatomy", "high_school_physics", "high_school_physics"]
    assert exs[1].prompt == ("The following are multiple choice questions (with answers) about high school physics."
                             "\n\nWhat is 2+2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:")
    assert exs[2].prompt.splitlines()[2] == "Pick, with a comma"
    assert exs[0].choices == [" A", " B", " C", " D"] and exs[0].labels == ["A", "B", "C", "D"]

    # Raw sums pick A everywhere; per token, D (-3 over 3 tokens) wins.
    def score(text, choice):
        return {" A": (-2.0, 1), " B": (-2.5, 1), " C": (-5.0, 2), " D": (-3.0, 3)}[choice]

    preds = task.predict(FakeScorer(score), exs)
    m = task.score(preds)
    assert m["accuracy"] == 1 / 3 and m["accuracy_norm"] == 1 / 3  # A right once (anatomy), D right once
    assert m["per_subject"] == {"anatomy": {"accuracy": 1.0, "n": 1}, "high_school_physics": {"accuracy": 0.0, "n": 2}}
    assert task.baselines(exs) == {"random_uniform": {"accuracy": 0.25, "accuracy_norm": 0.25, "n": 3}}
    assert task.kind == "multiple_choice" and task.headline in m


def test_mmlu_rejects_a_malformed_row(tmp_path):
    f = tmp_path / "law.csv"
    f.write_text("Q1,a,b,c,d,A\nQ2,a,b,c,d,E\n")
    with pytest.raises(DatasetError, match=r"law.csv:2: expected"):
        make_task(f"mmlu:{f}").load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no .csv files"):
        make_task(f"mmlu:{tmp_path / 'empty'}").load()


def test_shipped_mmlu_sample_loads():
    exs = make_task(f"mmlu:{SAMPLES / 'mmlu_sample'}").load()
    assert len(exs) == 4 and {e.meta["subject"] for e in exs} == {"us_foreign_policy"}


# ---- ContractNLI --------------------------------------------------------------------------------------


def _nli_file(tmp_path: Path, choice_b: str = "Contradiction") -> Path:
    text = "Confidential Information includes oral information. The Agreement survives."
    doc = {"id": 7, "file_name": "a.pdf", "text": text, "spans": [[0, 51], [52, len(text)]],
           "annotation_sets": [{"annotations": {
               "nda-10": {"choice": choice_b, "spans": [1]},
               "nda-3": {"choice": "Entailment", "spans": [0]},
               "nda-2": {"choice": "NotMentioned", "spans": []}}}]}
    doc2 = {**doc, "id": 8}
    labels = {k: {"short_description": k, "hypothesis": f"Hypothesis {k}."} for k in ("nda-2", "nda-3", "nda-10")}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps({"documents": [doc, doc2], "labels": labels}))
    return path


def test_contractnli_examples_truncation_and_doc_limit(tmp_path):
    path = _nli_file(tmp_path)
    task = make_task(f"contractnli:{path}", max_chars=60, limit_docs=1)
    exs = task.load()
    assert [e.meta["hypothesis"] for e in exs] == ["nda-2", "nda-3", "nda-10"]
    assert [e.gold for e in exs] == ["NotMentioned", "Entailment", "Contradiction"]
    assert {e.doc_id for e in exs} == {"7"} and exs[0].choices == prompts.NLI_LABELS
    user = exs[1].prompt[-1]["content"]
    assert "Confidential Information includes oral information. The A" in user and "survives" not in user
    assert "Hypothesis: Hypothesis nda-3." in user
    assert [e.meta["evidence_in_window"] for e in exs] == [False, True, False]
    assert all(e.meta["truncated"] for e in exs)
    assert len(make_task(f"contractnli:{path}").load()) == 6
    # Every example of one document picks the same label here: Entailment right once of three.
    preds = task.predict(FakeScorer(prefer({"Contract": "Entailment"}), answer=lambda t: "Contradiction"), exs)
    m = task.score(preds)
    assert m["accuracy"] == 1 / 3 and m["balanced_accuracy"] == pytest.approx(1 / 3)
    assert m["generation"]["accuracy"] == 1 / 3


def test_contractnli_rejects_unknown_label(tmp_path):
    with pytest.raises(DatasetError, match=r"document 7, hypothesis nda-10: label 'Maybe'"):
        make_task(f"contractnli:{_nli_file(tmp_path, 'Maybe')}").load()


# ---- the firm's rows ----------------------------------------------------------------------------------

TYPES = ["Governing Law", "Insurance", "Audit Rights"]


def _row(i: int, task: str, user: str, answer: str, choices: list[str] | None, doc: str = "doc-1") -> DatasetRow:
    return DatasetRow(id=f"r{i}", task=task, split="test", document_id=doc, answer=answer, label=answer,
                      choices=choices, messages=[{"role": "system", "content": prompts.SYSTEM},
                                                 {"role": "user", "content": user},
                                                 {"role": "assistant", "content": answer}])


def _dataset(tmp_path: Path, rows: list[DatasetRow]) -> Path:
    path = tmp_path / "test.jsonl"
    path.write_text("".join(r.model_dump_json(exclude_none=True) + "\n" for r in rows))
    return path


def test_clause_type_rows_and_calibrated_view(tmp_path):
    rows = [_row(0, "clause_type", prompts.clause_type_prompt("The laws of Delaware govern.", TYPES), TYPES[0], TYPES),
            _row(1, "clause_type", prompts.clause_type_prompt("Keep liability insurance.", TYPES), TYPES[1], TYPES),
            _row(2, "clause_type", prompts.clause_type_prompt("We may audit the books.", TYPES), TYPES[2], TYPES,
                 doc="doc-2"),
            _row(3, "clause_quote", "Quote it.", "Not found", None)]
    task = make_task(f"clause_type:{_dataset(tmp_path, rows)}")
    exs = task.load()
    assert [e.id for e in exs] == ["r0", "r1", "r2"] and [e.doc_id for e in exs] == ["doc-1", "doc-1", "doc-2"]
    assert [m["role"] for m in exs[0].prompt] == ["system", "user"] and exs[0].choices == TYPES
    assert exs[0].meta == {"row_id": "r0", "split": "test", "clause_type": "Governing Law"}

    # The model likes "Governing Law" whatever the passage (the prior, read off the content-free prompt);
    # relative to that prior, each passage's own label stands out (the runner's calibration test, here).
    table = {"N/A": [-1.0, -5.0, -5.0], "Delaware": [-1.0, -6.0, -6.0], "insurance": [-2.0, -3.0, -6.0],
             "audit": [-2.0, -6.0, -3.5]}

    def score(text, choice):
        key = next(k for k in table if k in text)
        return table[key][TYPES.index(choice)], 2

    preds = task.predict(FakeScorer(score, answer=lambda t: "Governing Law"), exs)
    assert preds[0].meta["prior_logprobs"] == [-1.0, -5.0, -5.0]
    m = task.score(preds)
    assert m["loglik"]["accuracy"] == 1 / 3 and m["loglik_calibrated"]["accuracy"] == 1.0
    assert m["generation"]["accuracy"] == 1 / 3 and m["balanced_accuracy"] == pytest.approx(1 / 3)


def test_clause_question_rows_default_to_yes_no(tmp_path):
    ask = prompts.clause_question_prompt
    rows = [_row(0, "clause_question", ask("Auditor may inspect.", "Audit rights?"), "Yes", None),
            _row(1, "clause_question", ask("Pay on time.", "Audit rights?"), "No", ["Yes", "No"]),
            _row(2, "clause_type", prompts.clause_type_prompt("x", TYPES), TYPES[0], TYPES)]
    task = make_task(f"clause_question:{_dataset(tmp_path, rows)}")
    exs = task.load()
    assert [e.choices for e in exs] == [["Yes", "No"], ["Yes", "No"]] and [e.gold for e in exs] == ["Yes", "No"]
    preds = task.predict(FakeScorer(prefer({"Auditor": "Yes", "Pay": "Yes"}), answer=lambda t: "Yes."), exs)
    m = task.score(preds)
    assert m["accuracy"] == 0.5 and m["balanced_accuracy"] == 0.5 and m["generation"]["accuracy"] == 0.5


def test_firm_rows_errors(tmp_path):
    bad = [_row(0, "clause_type", "Which type?", "Severance", TYPES)]
    with pytest.raises(DatasetError, match=r"row r0: answer 'Severance' is not one of its choices"):
        make_task(f"clause_type:{_dataset(tmp_path, bad)}").load()
    with pytest.raises(DatasetError, match="no clause_question rows"):
        make_task(f"clause_question:{_dataset(tmp_path, bad)}").load()
    (tmp_path / "broken.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(DatasetError, match=r"broken.jsonl:1: malformed row"):
        make_task(f"clause_type:{tmp_path / 'broken.jsonl'}").load()


# ---- end to end with the real model scorer ------------------------------------------------------------


def test_legalbench_end_to_end_with_a_tiny_model(tiny_model_dir):
    engine = pytest.importorskip("lextune.evals.engine")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    task = make_task(f"legalbench:{SAMPLES / 'legalbench_hearsay_sample'}", max_new_tokens=3)
    exs = task.load()
    preds = task.predict(engine.ModelScorer(model, tok, key="tiny"), exs)
    assert len(preds) == 8 and all(len(p.choice_logprobs) == 2 and max(p.choice_logprobs) < 0 for p in preds)
    m = task.score(preds)
    assert 0.0 <= m["balanced_accuracy"] <= 1.0 and m["loglik"]["n"] == 8 and "generation" in m

    # The score of " Yes" is log P(" Yes" | prompt) as the model computes it on the joined text.
    prompt = exs[0].prompt
    n = len(tok(prompt)["input_ids"])
    joint = tok(prompt + " Yes")["input_ids"]
    if joint[:n] == tok(prompt)["input_ids"]:
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([joint])).logits[0].float(), dim=-1)
        expected = sum(logp[i - 1, joint[i]].item() for i in range(n, len(joint)))
        assert math.isclose(preds[0].choice_logprobs[1], expected, abs_tol=1e-3)
