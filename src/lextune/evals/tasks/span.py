"""Span-extraction tasks: quote the clauses of one type from a contract excerpt, or answer "Not found".

- `clause_quote:DATASET.jsonl` asks lextune's own clause_quote rows (made by `lextune data build`).
- `cuad:CUAD.json[.gz]` asks CUAD (SQuAD-format JSON) cut into excerpt windows, in the same prompt as
  the training rows so a tuned model sees its own format.
Both score with lextune.evals.scoring.span and report two trivial predictors beside the model: echoing
the whole excerpt and always answering "Not found".
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lextune.core.errors import ConfigError, DatasetError
from lextune.core.records import DatasetRow
from lextune.data import cuad_categories, prompts
from lextune.data.dataset import read_rows
from lextune.evals.records import Example, Prediction
from lextune.evals.scoring.span import span_metrics
from lextune.evals.tasks.base import (
    EvalTask,
    Progress,
    Scorer,
    generate_predictions,
    prediction_from,
    register_task,
)

_QUOTE_HEAD = "Contract excerpt:\n"
_QUOTE_ASK = re.compile(r'\n\nQuote the "(?P<type>.+?)" clause from the excerpt word for word\.')


def parse_options(task: str, model: type[BaseModel], options: dict) -> BaseModel:
    """A task's options, validated; a bad value is a ConfigError naming the task and the option. Options
    the task does not know are ignored: one options dict is handed to every task of a run."""
    try:
        return model.model_validate(options)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(map(str, err["loc"]))
        known = ", ".join(model.model_fields)
        raise ConfigError(f"task '{task}' option '{key}': {err['msg']} (known: {known})") from None


def dataset_rows(
    task: str, source: str | None, row_tasks: tuple[str, ...], split: str,
) -> tuple[Path, list[DatasetRow]]:
    """The rows of `row_tasks` in a dataset JSONL (or in DIR/<split>.jsonl of a built dataset directory)."""
    if not source:
        raise DatasetError(f"task '{task}' needs a dataset file: {task}:PATH/TO/test.jsonl")
    path = Path(source)
    if path.is_dir():
        path = path / f"{split}.jsonl"
    rows = read_rows(path)
    kept = [r for r in rows if r.task in row_tasks]
    if not kept:
        found = sorted({r.task for r in rows}) or ["none"]
        raise DatasetError(f"{path}: no rows of task {' or '.join(row_tasks)} "
                           f"(the file has: {', '.join(found)})")
    return path, kept


def prompt_messages(row: DatasetRow) -> list[dict[str, str]]:
    """The row's chat without its gold answer turn: what the model is asked."""
    msgs = row.messages
    return msgs[:-1] if msgs and msgs[-1].get("role") == "assistant" else list(msgs)


def user_text(row: DatasetRow) -> str:
    return next((m["content"] for m in reversed(row.messages) if m.get("role") == "user"), "")


def parse_clause_quote_prompt(text: str) -> tuple[str, str] | None:
    """(excerpt, clause type) of a prompts.clause_quote_prompt text; None when it is not one."""
    if not text.startswith(_QUOTE_HEAD):
        return None
    matches = list(_QUOTE_ASK.finditer(text))
    if not matches:
        return None
    last = matches[-1]  # the instruction follows the excerpt, so the last match is it
    return text[len(_QUOTE_HEAD):last.start()], last.group("type")


def split_quotes(answer: str, excerpt: str) -> list[str]:
    """The clauses a clause_quote answer holds. The builder joins every clause of the type in the
    excerpt with "\\n", and a clause may itself span lines, so lines are regrouped: from each line, the
    longest run of lines found in the excerpt (after the previous clause) is one clause. Two clauses only
    a newline apart in the excerpt come back as one; an answer that does not regroup is one clause."""
    lines = answer.split("\n")
    quotes: list[str] = []
    i = pos = 0
    while i < len(lines):
        for j in range(len(lines), i, -1):
            piece = "\n".join(lines[i:j])
            at = excerpt.find(piece, pos) if piece.strip() else -1
            if at >= 0:
                quotes.append(piece)
                pos, i = at + len(piece), j
                break
        else:
            return [answer]
    return quotes


def gold_of(quotes: list[str]) -> str | list[str]:
    """Gold answers of a row: each clause, and all of them joined as the training answer joins them (so the
    trained "every clause" answer matches exactly); "Not found" when there is none."""
    if not quotes:
        return prompts.NOT_FOUND
    return quotes + ["\n".join(quotes)] if len(quotes) > 1 else quotes


def quote_messages(excerpt: str, clause_type: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": prompts.SYSTEM},
            {"role": "user", "content": prompts.clause_quote_prompt(excerpt, clause_type)}]


class SpanOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    max_new_tokens: int = Field(128, ge=1, description="Longest answer generated.")


class SpanTask(EvalTask):
    """Greedy quoting; headline = token-overlap F1 (a quote is a hit at best token F1 >= 0.5)."""

    kind = "span"
    headline = "overlap_f1"
    Options: type[BaseModel] = SpanOptions

    def __init__(self, source: str | None = None, **options):
        super().__init__(source, **options)
        self.opts = parse_options(self.name, self.Options, options)

    def predict(
        self, scorer: Scorer, examples: list[Example], progress: Progress | None = None,
    ) -> list[Prediction]:
        return generate_predictions(scorer, examples, self.opts.max_new_tokens, progress, _meta)

    def score(self, predictions: list[Prediction]) -> dict:
        return span_metrics(predictions)

    def baselines(self, examples: list[Example]) -> dict[str, dict]:
        """echo_excerpt: the whole excerpt as the quote; always_not_found: "Not found" everywhere."""
        answers: dict[str, Callable[[Example], str]] = {
            "echo_excerpt": lambda e: str(e.meta["excerpt"]),
            "always_not_found": lambda e: prompts.NOT_FOUND,
        }
        return {name: span_metrics([_prediction(e, answer(e)) for e in examples])
                for name, answer in answers.items()}


def _meta(example: Example) -> dict:
    return {"clause_type": example.meta.get("clause_type")}


def _prediction(example: Example, text: str) -> Prediction:
    return prediction_from(example, text, meta=_meta(example))


class DatasetSpanOptions(SpanOptions):
    split: str = Field("test", description="Split file read when the source is a dataset directory.")


@register_task("clause_quote")
class ClauseQuoteTask(SpanTask):
    """lextune's clause_quote rows. Gold: every clause of the type in the excerpt, recovered from the
    answer (the builder keeps them only there, newline-joined: see split_quotes)."""

    Options = DatasetSpanOptions

    def load(self) -> list[Example]:
        path, rows = dataset_rows(self.name, self.source, ("clause_quote",), self.opts.split)
        examples = []
        for row in rows:
            parsed = parse_clause_quote_prompt(user_text(row))
            if parsed is None:
                raise DatasetError(f"{path}: row {row.id}: its prompt is not a clause_quote prompt "
                                   "(expected 'Contract excerpt:' ... 'Quote the \"TYPE\" clause ...')")
            excerpt, clause_type = parsed
            quotes = [] if row.answer.strip() == prompts.NOT_FOUND else split_quotes(row.answer, excerpt)
            examples.append(Example(
                id=row.id, task=self.label, prompt=prompt_messages(row), gold=gold_of(quotes),
                doc_id=row.document_id,
                meta={"clause_type": row.label or clause_type, "excerpt": excerpt, "split": row.split}))
        return examples


class CuadOptions(SpanOptions):
    window_chars: int = Field(
        3000, ge=200, description="Excerpt window length (longer where a clause would be cut).")
    negatives_per_category: int = Field(
        1, ge=0, description="Windows without a clause of the category asked per category and contract.")
    categories: list[str] | None = Field(
        None, description="CUAD categories to ask (default: all in the file).")
    max_contracts: int | None = Field(None, ge=1, description="Only the first N contracts of the file.")
    seed: int = Field(0, description="Seed of the negative-window sample.")

    @field_validator("categories", mode="before")
    @classmethod
    def _split_commas(cls, v):
        return [s.strip() for s in v.split(",") if s.strip()] if isinstance(v, str) else v

    @field_validator("categories")
    @classmethod
    def _known(cls, v):
        return cuad_categories.resolve(v) if v else None


@register_task("cuad")
class CuadTask(SpanTask):
    """CUAD contracts cut into windows of about `window_chars`. Cuts never split a labelled clause (of the
    categories asked), so every window either holds a clause whole or not at all. One example per window
    and category with a clause in it (gold: those clauses), plus `negatives_per_category` sampled windows
    without (gold "Not found"), the latter only for categories whose absence CUAD labels reliably (not
    Parties or Document Name, which CUAD labels at only some mentions), as the training builders do."""

    Options = CuadOptions

    def load(self) -> list[Example]:
        path, contracts = _read_squad(self.source)
        if self.opts.max_contracts:
            contracts = contracts[: self.opts.max_contracts]
        wanted = set(self.opts.categories) if self.opts.categories else None
        examples: list[Example] = []
        for title, context, qas in contracts:
            asked = {c: spans for c, spans in _category_spans(path, title, context, qas).items()
                     if wanted is None or c in wanted}
            windows = window_bounds(context, sorted(s for spans in asked.values() for s in spans),
                                    self.opts.window_chars)
            for category, spans in asked.items():
                examples += self._examples(title, context, category, spans, windows)
        if not examples:
            raise DatasetError(f"{path}: no examples (categories {sorted(wanted) if wanted else 'all'})")
        return examples

    def _examples(self, title: str, context: str, category: str, spans: list[tuple[int, int]],
                  windows: list[tuple[int, int]]) -> list[Example]:
        merged = _merged(spans)
        holding, empty = [], []
        for ws, we in windows:
            inside = [(s, e) for s, e in merged if ws <= s and e <= we]
            (holding if inside else empty).append((ws, we, inside))
        known = cuad_categories.BY_NAME.get(category)
        if known is None or known.absence_reliable:
            rng = random.Random(f"{self.opts.seed}:{title}:{category}")
            holding += rng.sample(empty, min(len(empty), self.opts.negatives_per_category))
        out = []
        for ws, we, inside in sorted(holding):
            excerpt = context[ws:we].strip()
            quotes = [context[s:e].strip() for s, e in inside]
            out.append(Example(
                id=f"{title}__{category}@{ws}", task=self.label, prompt=quote_messages(excerpt, category),
                gold=gold_of([q for q in quotes if q]), doc_id=title,
                meta={"clause_type": category, "excerpt": excerpt, "window": [ws, we]}))
        return out


def window_bounds(text: str, spans: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Consecutive [start, end) windows of about `size` chars covering `text` (blank ones left out).
    An end moves forward to whitespace (no word cut) and past any span it would fall inside."""
    out: list[tuple[int, int]] = []
    start, n = 0, len(text)
    while start < n:
        end = min(n, start + size)
        for _ in range(50):
            if end >= n or text[end].isspace():
                break
            end += 1
        moved = True
        while moved:
            inside = [e for s, e in spans if s < end < e]
            moved = bool(inside)
            end = max(inside, default=end)
        if text[start:end].strip():
            out.append((start, end))
        start = end
    return out


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans as one: CUAD labels nested pieces of a clause, and the builder quotes them once."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


_CATEGORY_IN_QUESTION = re.compile(r'related to "(.+?)"')


def _category_spans(path: Path, title: str, context: str, qas: list) -> dict[str, list[tuple[int, int]]]:
    """Each question's category (CUAD ids end in "__<Category>") and where its answers are in the context."""
    out: dict[str, list[tuple[int, int]]] = {}
    for j, qa in enumerate(qas):
        where = f"{path}: contract '{title}' question {j}"
        if not isinstance(qa, dict) or not isinstance(qa.get("answers", []), list):
            raise DatasetError(f"{where}: expected an object with an 'answers' list")
        qid, question = str(qa.get("id", "")), str(qa.get("question", ""))
        found = _CATEGORY_IN_QUESTION.search(question)
        category = qid.rpartition("__")[2] if "__" in qid else (found.group(1) if found else "")
        if not category:
            raise DatasetError(
                f"{where}: no category (id '<title>__<Category>' or question 'related to \"X\"')")
        spans = out.setdefault(cuad_categories.canonical([category])[0], [])
        for ans in qa.get("answers", []):
            if not isinstance(ans, dict):
                raise DatasetError(
                    f"{where} ('{qid}'): an answer is not an object with 'text' and 'answer_start'")
            text, start = str(ans.get("text", "")), ans.get("answer_start", -1)
            if not text.strip():
                continue
            if not (isinstance(start, int) and context[start:start + len(text)] == text):
                start = context.find(text)  # CUAD points some answers at another occurrence; text decides
            if start < 0:
                raise DatasetError(f"{where} ('{qid}'): answer {text[:60]!r} is not in the contract text")
            spans.append((start, start + len(text)))
    return out


def _read_squad(source: str | None) -> tuple[Path, list[tuple[str, str, list]]]:
    """(title, context, qas) of every paragraph of a SQuAD-format file (.json or .json.gz)."""
    if not source:
        raise DatasetError("task 'cuad' needs a CUAD file in SQuAD format: cuad:PATH/TO/test.json")
    path = Path(source)
    if not path.is_file():
        raise DatasetError(f"{path}: no such CUAD file")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: not a readable JSON file: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DatasetError(f"{path}: expected SQuAD format, an object with a 'data' list of contracts")
    out = []
    for i, contract in enumerate(data["data"]):
        title = contract.get("title") if isinstance(contract, dict) else None
        paragraphs = contract.get("paragraphs") if isinstance(contract, dict) else None
        if not isinstance(title, str) or not isinstance(paragraphs, list):
            raise DatasetError(f"{path}: data[{i}]: expected 'title' and a 'paragraphs' list")
        for k, para in enumerate(paragraphs):
            if not isinstance(para, dict) or not isinstance(para.get("context"), str) \
                    or not isinstance(para.get("qas"), list):
                raise DatasetError(
                    f"{path}: data[{i}].paragraphs[{k}] ('{title}'): expected 'context' and 'qas'")
            out.append((title, para["context"], para["qas"]))
    return path, out
