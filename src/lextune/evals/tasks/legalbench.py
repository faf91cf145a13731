"""LegalBench classification tasks, asked the way LegalBench asks them.

SOURCE is one task folder (base_prompt.txt, test.tsv, optional train.tsv). As in LegalBench's
`generate_prompts`, every `{{column}}` of base_prompt.txt is replaced by the row's value, and the result
is a plain completion prompt (no chat template) ending in "A:", "Label:", "Answer:" and the like. Each
label is scored as the continuation " <label>", the form the prompt's few-shot answers take, and the
metric is LegalBench's balanced accuracy. Option `chat=True` sends the same text as one user message
instead and reports as "legalbench_chat:<task>" (a different protocol, so a different name).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from lextune.core.errors import DatasetError
from lextune.evals.records import Example, Prompt
from lextune.evals.tasks.base import register_task
from lextune.evals.tasks.classification import CONTENT_FREE, CalibratedView, ClassificationTask

# Above this many distinct answers a task is free text (rule_qa, ssla_*, citation_prediction_open):
# log-likelihood over a closed label set does not apply to it.
MAX_LABELS = 20
_PLACEHOLDER = re.compile(r"\{\{([^{}]+)\}\}")


def read_tsv(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows of a LegalBench TSV (header line, pandas-style quoting) with the line each row ends on."""
    csv.field_size_limit(1 << 30)  # CUAD clauses run long; the default 128 KB cap is a guard, not a rule
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f, delimiter="\t")
            header = next(reader, None)
            if not header or "answer" not in header:
                raise DatasetError(f"{path}:1: header has no 'answer' column: {header}")
            rows = []
            for fields in reader:
                if not fields:
                    continue
                if len(fields) != len(header):
                    raise DatasetError(f"{path}:{reader.line_num}: {len(fields)} fields, the header has "
                                       f"{len(header)} ({', '.join(header)})")
                rows.append((reader.line_num, dict(zip(header, fields))))
    except (csv.Error, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: unreadable TSV: {e}") from e
    return rows


def fill(template: str, row: dict[str, str], where: str) -> str:
    """base_prompt.txt with every {{column}} replaced; a placeholder with no column is an error."""
    def value(m: re.Match[str]) -> str:
        if m.group(1) not in row:
            raise DatasetError(f"{where}: base_prompt.txt asks for {{{{{m.group(1)}}}}}, which is no column")
        return row[m.group(1)]

    return _PLACEHOLDER.sub(value, template)


@register_task("legalbench")
class LegalBenchTask(CalibratedView, ClassificationTask):
    """One LegalBench classification task folder; balanced accuracy over its labels."""

    max_new_tokens = 10

    @property
    def chat(self) -> bool:
        return bool(self.options.get("chat", False))

    @property
    def label(self) -> str:
        return f"legalbench_chat:{self.source_label()}" if self.chat else super().label

    def load(self) -> list[Example]:
        if not self.source:
            raise DatasetError("legalbench needs a task folder: legalbench:PATH/TO/TASK")
        folder = Path(self.source)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: no such LegalBench task folder")
        test, prompt_file = folder / "test.tsv", folder / "base_prompt.txt"
        if not test.is_file():
            raise DatasetError(f"{folder}: no test.tsv (LegalBench tasks without test rows cannot be evaluated)")
        if not prompt_file.is_file():
            raise DatasetError(f"{folder}: no base_prompt.txt")
        # The file's trailing newline would put the answer on a line of its own; the few-shot answers
        # follow "A:" after one space, which is how each label is scored.
        template = prompt_file.read_text(encoding="utf-8").rstrip()
        rows = read_tsv(test)
        train = read_tsv(folder / "train.tsv") if (folder / "train.tsv").is_file() else []
        labels = sorted({r["answer"].strip() for _, r in rows + train})
        if len(labels) > MAX_LABELS:
            raise DatasetError(f"{folder}: {len(labels)} distinct answers: a free-text task, not a classification "
                               f"task (at most {MAX_LABELS} labels)")
        task = folder.name
        choices = labels if self.chat else [f" {label}" for label in labels]
        examples = []
        for line, row in rows:
            text = fill(template, row, f"{test}:{line}")
            # The same template with every field "N/A": the label prior of the calibrated view.
            blank = fill(template, {k: CONTENT_FREE for k in row}, f"{test}:{line}")
            examples.append(Example(
                id=f"legalbench:{task}:{row.get('index', line)}", task=self.label,
                prompt=[{"role": "user", "content": text}] if self.chat else text,
                gold=row["answer"].strip(), choices=choices, labels=labels,
                doc_id=row.get("document_name") or None,
                meta={**{k: row[k] for k in ("index", "slice") if k in row},
                      "content_free": [{"role": "user", "content": blank}] if self.chat else blank},
            ))
        return examples

    def content_free_prompt(self, example: Example) -> Prompt | None:
        # A small model gives one label most of its probability whatever the text (the cuad_* tasks'
        # " No"), which LegalBench's protocol scores as chance; the calibrated view subtracts the scores
        # the same template gets with "N/A" in every field.
        return example.meta.get("content_free")
