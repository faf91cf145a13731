"""MMLU (Hendrycks et al. 2021), zero-shot, in the original prompt format; accuracy per subject too.

SOURCE is one CSV or a folder of them (no header: question, A, B, C, D, answer letter); the subject is
the file name ("professional_law.csv", or hendrycks' "professional_law_test.csv"). Each letter is scored
as the continuation " A" .. " D" after "Answer:", as the original evaluation does.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from lextune.core.errors import DatasetError
from lextune.evals.records import Example, Prediction
from lextune.evals.scoring.classification import multiple_choice_metrics
from lextune.evals.tasks.base import register_task
from lextune.evals.tasks.classification import MultipleChoiceTask

LETTERS = ["A", "B", "C", "D"]
_SPLIT_SUFFIXES = ("_test", "_dev", "_val")


def subject_of(path: Path) -> str:
    stem = path.stem
    for suffix in _SPLIT_SUFFIXES:
        stem = stem.removesuffix(suffix)
    return stem


def mmlu_prompt(subject: str, question: str, options: list[str]) -> str:
    lines = [f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.",
             "", question, *(f"{letter}. {text}" for letter, text in zip(LETTERS, options)), "Answer:"]
    return "\n".join(lines)


def read_mmlu_csv(path: Path) -> list[tuple[int, list[str]]]:
    """(line, [question, A, B, C, D, answer]) per row; a row of another shape is an error naming its line."""
    rows = []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            for fields in reader:
                if not fields:
                    continue
                if len(fields) != 6 or fields[5].strip() not in LETTERS:
                    raise DatasetError(f"{path}:{reader.line_num}: expected question, A, B, C, D and an answer "
                                       f"letter A-D; got {len(fields)} fields ending {fields[-1][:20]!r}")
                rows.append((reader.line_num, fields))
    except (csv.Error, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: unreadable CSV: {e}") from e
    return rows


@register_task("mmlu")
class MMLUTask(MultipleChoiceTask):
    """Four-way multiple choice over one or more MMLU subject files."""

    def files(self) -> list[Path]:
        if not self.source:
            raise DatasetError("mmlu needs a CSV file or a folder of them: mmlu:PATH")
        path = Path(self.source)
        if path.is_file():
            return [path]
        if not path.is_dir():
            raise DatasetError(f"{path}: no such MMLU file or folder")
        files = sorted(path.glob("*.csv"))
        if not files:
            raise DatasetError(f"{path}: no .csv files")
        return files

    def load(self) -> list[Example]:
        examples = []
        for path in self.files():
            subject = subject_of(path)
            for n, (line, (question, *options, answer)) in enumerate(read_mmlu_csv(path)):
                examples.append(Example(
                    id=f"mmlu:{subject}:{n}", task=self.label, prompt=mmlu_prompt(subject, question, options),
                    gold=answer.strip(), choices=[f" {letter}" for letter in LETTERS], labels=list(LETTERS),
                    # Questions are independent, so each is its own bootstrap cluster.
                    doc_id=None, meta={"subject": subject, "line": line},
                ))
        return examples

    def score(self, predictions: list[Prediction]) -> dict:
        out = super().score(predictions)
        by_subject: dict[str, list[Prediction]] = defaultdict(list)
        for p in predictions:
            by_subject[str(p.meta.get("subject", "?"))].append(p)
        out["per_subject"] = {
            subject: multiple_choice_metrics([str(p.gold) for p in preds], [p.choice_by_loglik() for p in preds])
            for subject, preds in sorted(by_subject.items())
        }
        return out
