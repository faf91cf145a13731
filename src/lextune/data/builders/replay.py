"""General replay: a user-chosen share of general instruction rows mixed into train, against forgetting.

`share` is the fraction of the *final* train rows that are replay rows: with N rows from the other
builders, round(share * N / (1 - share)) replay rows are drawn from `source`, a JSONL file of
{"messages": [...]} or {"prompt", "response"} records (a bad line is a warning naming its line, not
a failed build). Only train gets replay rows; they carry document_id "replay:<file name>", no span.

No answers ship with lextune: the right replay data for a model is its own answers, so
`write_self_answers(prompts, generate, out_path)` has the base model answer general prompts and
writes such a file. The prompts are the user's, or the shipped `demo_data/replay_prompts.txt` that
lextune's authors wrote for this (Apache-2.0 with the package; no benchmark that lextune evaluates
on, so MMLU, GSM8K and MT-Bench never become training data).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lextune.core.atomic import write_text
from lextune.core.errors import DatasetError
from lextune.core.records import DatasetRow
from lextune.data.builders.base import BuildContext, Builder, register, row_id
from lextune.data.prompts import SYSTEM

ROLES = {"system", "user", "assistant"}


class ReplayOptions(BaseModel):
    """Options of the "replay" builder."""

    model_config = ConfigDict(extra="forbid")
    share: float = Field(
        0.0,
        ge=0.0,
        le=0.5,
        description="Fraction of the final train rows that are replay rows; 0 turns replay off.",
    )
    source: Path | None = Field(None, description="JSONL of {'messages': [...]} or {'prompt', 'response'}.")
    seed: int | None = Field(None, description="Seed of the draw from the source; default: the build's seed.")
    add_system: bool = Field(
        True,
        description="Give records without a system message lextune's own, so "
        "general answers are kept under the prompt the model is served with.",
    )


@register
class ReplayBuilder(Builder):
    name = "replay"
    tasks = ("general",)
    Options = ReplayOptions

    def __init__(self) -> None:
        self._summary: dict[str, Any] = {"builder": self.name, "share": 0.0, "source": None, "rows": 0}

    def describe(self) -> dict[str, Any]:
        """The dataset manifest's replay section: source file and hash, its rows, rows used, share."""
        return dict(self._summary)

    def corpus_rows(self, ctx: BuildContext, counts: dict[str, int]) -> list[DatasetRow]:
        """Replay rows for train only; `counts["train"]` is the train rows the other builders made."""
        opts: ReplayOptions = ctx.options  # type: ignore[assignment]
        self._summary.update(share=opts.share, source=str(opts.source) if opts.source else None)
        if opts.share == 0:
            return []
        if opts.source is None:
            raise DatasetError(
                f"replay: share is {opts.share} but no source is set; write one with "
                "write_self_answers or point options.source at a JSONL file"
            )
        records, bad = read_replay(opts.source, add_system=opts.add_system)
        ctx.warnings.extend(bad)
        if not records:
            raise DatasetError(f"replay: {opts.source} holds no usable record ({len(bad)} bad line(s))")
        n_train = counts.get("train", 0)
        want = round(opts.share * n_train / (1 - opts.share))
        if want > len(records):
            ctx.warnings.append(
                f"replay: share {opts.share} of {n_train} train rows needs {want} rows; "
                f"{opts.source} has {len(records)}: all used"
            )
        seed = ctx.seed if opts.seed is None else opts.seed
        rng = random.Random(f"{seed}:replay:{opts.source.name}")
        picked = sorted(rng.sample(records, min(want, len(records))), key=lambda r: r[0])
        doc_id = f"replay:{opts.source.name}"
        rows = [
            DatasetRow(
                id=row_id(self.name, doc_id, line, _digest(msgs)),
                task="general",
                split="train",
                messages=msgs,
                answer=msgs[-1]["content"],
                document_id=doc_id,
                span=None,
                builder=self.name,
                meta={"source": opts.source.name, "line": line},
            )
            for line, msgs in picked
        ]
        self._summary.update(
            source_sha256=hashlib.sha256(opts.source.read_bytes()).hexdigest(),
            source_rows=len(records),
            bad_lines=len(bad),
            rows=len(rows),
            actual_share=round(len(rows) / (n_train + len(rows)), 4) if rows else 0.0,
        )
        return rows


def read_replay(
    path: Path, add_system: bool = True
) -> tuple[list[tuple[int, list[dict[str, str]]]], list[str]]:
    """(line number, chat messages) of each good record in a replay JSONL, and a warning per bad line."""
    if not path.is_file():
        raise DatasetError(f"replay: {path}: no such file")
    good: list[tuple[int, list[dict[str, str]]]] = []
    bad: list[str] = []
    # split("\n"), not splitlines(): U+2028 and friends may sit unescaped inside JSON strings.
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            msgs = to_messages(json.loads(line))
        except (ValueError, TypeError) as e:  # JSONDecodeError is a ValueError
            bad.append(f"replay: {path}:{n}: skipped: {str(e).splitlines()[0]}")
            continue
        if add_system and msgs[0]["role"] != "system":
            msgs.insert(0, {"role": "system", "content": SYSTEM})
        good.append((n, msgs))
    return good, bad


def to_messages(obj: Any) -> list[dict[str, str]]:
    """A record as chat messages ending in the assistant's answer; ValueError/TypeError say what is wrong."""
    if not isinstance(obj, dict):
        raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
    if "messages" in obj:
        msgs = obj["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise ValueError("'messages' must be a non-empty list")
        out = []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise ValueError(f"messages[{i}] needs a role in {sorted(ROLES)} and a string content")
            out.append({"role": m["role"], "content": m["content"]})
        if not any(m["role"] == "user" for m in out):
            raise ValueError("no user message")
        if out[-1]["role"] != "assistant" or not out[-1]["content"].strip():
            raise ValueError("the last message must be a non-empty assistant answer")
        return out
    prompt, response = obj.get("prompt"), obj.get("response")
    if not (isinstance(prompt, str) and prompt.strip() and isinstance(response, str) and response.strip()):
        raise ValueError("needs 'messages', or non-empty string 'prompt' and 'response'")
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def _digest(msgs: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(msgs, sort_keys=True).encode()).hexdigest()[:12]


def default_prompts() -> list[str]:
    """The general prompts shipped with lextune (written for it; no evaluation benchmark's)."""
    text = resources.files("lextune").joinpath("demo_data/replay_prompts.txt").read_text(encoding="utf-8")
    return [ln.strip() for ln in text.split("\n") if ln.strip() and not ln.startswith("#")]


def load_prompts(path: Path | None = None) -> list[str]:
    """Prompts from a .txt file (one per line) or a JSONL of {"prompt": ...}; None: the shipped ones."""
    if path is None:
        return default_prompts()
    if not path.is_file():
        raise DatasetError(f"{path}: no such prompts file")
    lines = path.read_text(encoding="utf-8").split("\n")
    if path.suffix != ".jsonl":
        return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    out = []
    for n, line in enumerate(lines, start=1):
        if line.strip():
            try:
                out.append(str(json.loads(line)["prompt"]))
            except (ValueError, KeyError, TypeError) as e:
                raise DatasetError(f'{path}:{n}: expected {{"prompt": ...}}: {e}') from e
    return out


def write_self_answers(
    prompts: Iterable[str], generate: Callable[[list[str]], list[str]], out_path: Path, batch_size: int = 8
) -> int:
    """Have a model answer `prompts` (generate: a batch of prompts -> their answers) and write the pairs
    as a replay JSONL at out_path, atomically. Returns the number of records written."""
    todo = [p.strip() for p in prompts if p and p.strip()]
    if not todo:
        raise DatasetError("write_self_answers: no prompts given")
    lines = []
    for i in range(0, len(todo), batch_size):
        batch = todo[i : i + batch_size]
        answers = generate(batch)
        if len(answers) != len(batch):
            raise DatasetError(
                f"write_self_answers: generate returned {len(answers)} answers for {len(batch)} prompts"
            )
        lines += [
            json.dumps({"prompt": p, "response": a.strip(), "source": "self-answers"}, ensure_ascii=False)
            for p, a in zip(batch, answers, strict=True)
            if a and a.strip()
        ]
    write_text(Path(out_path), "".join(ln + "\n" for ln in lines))
    return len(lines)
