"""The "replay" builder: a stated share of general rows in train only, from a user's JSONL file."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from lextune.core.errors import DatasetError
from lextune.data.builders.base import BuildContext, get_builder
from lextune.data.builders.replay import (
    ReplayBuilder,
    ReplayOptions,
    default_prompts,
    load_prompts,
    read_replay,
    write_self_answers,
)
from lextune.data.prompts import SYSTEM


def write_source(path, n_good=30):
    lines = []
    for i in range(n_good):
        if i % 2:
            lines.append(json.dumps({"prompt": f"General question {i}?", "response": f"Answer {i}."}))
        else:
            lines.append(
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": f"Hi {i}"},
                            {"role": "assistant", "content": f"Hello {i}"},
                        ]
                    }
                )
            )
    lines[3:3] = [
        "{not json",
        json.dumps({"prompt": "no response"}),
        "",
        json.dumps({"messages": [{"role": "robot", "content": "x"}]}),
        json.dumps({"messages": [{"role": "user", "content": "q"}]}),
        "[1, 2]",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(options: ReplayOptions, counts: dict[str, int], seed: int = 0):
    ctx = BuildContext(seed=seed, clause_types=[], options=options)
    b = ReplayBuilder()
    assert list(b.document_rows(None, ctx)) == []  # corpus rows only
    return b, list(b.corpus_rows(ctx, counts)), ctx


def test_registered():
    assert get_builder("replay") is ReplayBuilder


def test_share_of_final_train_rows(tmp_path):
    src = write_source(tmp_path / "general.jsonl")
    b, rows, ctx = run(ReplayOptions(share=0.2, source=src), {"train": 80, "dev": 10, "test": 20})
    assert len(rows) == 20  # 20 / (80 + 20) = 0.2 of the final train rows
    for r in rows:
        assert r.split == "train" and r.task == "general" and r.builder == "replay"
        assert r.document_id == "replay:general.jsonl" and r.span is None and r.chunk_ids == []
        assert (
            r.messages[0] == {"role": "system", "content": SYSTEM} and r.answer == r.messages[-1]["content"]
        )
    assert len({r.id for r in rows}) == 20
    # Five bad lines, each named by its line number (line 6 is blank: skipped, not bad).
    assert [w.split(":")[2] for w in ctx.warnings] == ["4", "5", "7", "8", "9"]
    assert "needs 'messages'" in ctx.warnings[1] and "no user message" not in ctx.warnings[3]
    info = b.describe()
    assert info["source"] == str(src) and info["source_rows"] == 30 and info["rows"] == 20
    assert info["share"] == 0.2 and info["actual_share"] == 0.2 and info["bad_lines"] == 5
    assert len(info["source_sha256"]) == 64


def test_off_by_default_and_bounded():
    b, rows, _ = run(ReplayOptions(), {"train": 100})
    assert rows == [] and b.describe()["share"] == 0.0
    with pytest.raises(ValidationError):
        ReplayOptions(share=0.6)
    with pytest.raises(DatasetError, match="no source"):
        run(ReplayOptions(share=0.1), {"train": 100})


def test_missing_or_empty_source(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        run(ReplayOptions(share=0.1, source=tmp_path / "nope.jsonl"), {"train": 10})
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    with pytest.raises(DatasetError, match="no usable record"):
        run(ReplayOptions(share=0.1, source=bad), {"train": 10})


def test_small_source_is_used_whole_with_a_warning(tmp_path):
    src = write_source(tmp_path / "g.jsonl", n_good=4)
    b, rows, ctx = run(ReplayOptions(share=0.5, source=src), {"train": 100})
    assert len(rows) == 4 and any("needs 100 rows" in w for w in ctx.warnings)
    assert b.describe()["actual_share"] == round(4 / 104, 4)


def test_deterministic_draw(tmp_path):
    src = write_source(tmp_path / "g.jsonl")
    ids = lambda seed, opt_seed=None: [
        r.id for r in run(ReplayOptions(share=0.1, source=src, seed=opt_seed), {"train": 90}, seed=seed)[1]
    ]
    assert ids(0) == ids(0) and len(ids(0)) == 10
    assert ids(0) != ids(1)
    assert ids(5, opt_seed=7) == ids(6, opt_seed=7)  # the option's seed wins over the build's


def test_system_message_kept_or_added(tmp_path):
    src = tmp_path / "s.jsonl"
    src.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "Be general."},
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a"},
                ]
            }
        )
        + "\n"
    )
    assert read_replay(src)[0][0][1][0]["content"] == "Be general."
    plain = tmp_path / "p.jsonl"
    plain.write_text(json.dumps({"prompt": "q", "response": "a"}) + "\n")
    assert read_replay(plain, add_system=False)[0][0][1][0]["role"] == "user"


def test_write_self_answers_round_trip(tmp_path):
    calls: list[list[str]] = []

    def generate(batch: list[str]) -> list[str]:
        calls.append(batch)
        return [f"  my answer to {p}  " if "skip" not in p else "" for p in batch]

    out = tmp_path / "replay" / "self.jsonl"
    n = write_self_answers(["one?", " ", "two?", "skip me", "three?"], generate, out, batch_size=2)
    assert n == 3 and [len(c) for c in calls] == [2, 2]
    records, bad = read_replay(out)
    assert bad == [] and [m[-1]["content"] for _, m in records] == [
        "my answer to one?",
        "my answer to two?",
        "my answer to three?",
    ]
    _, rows, _ = run(ReplayOptions(share=0.5, source=out), {"train": 3})
    assert len(rows) == 3
    with pytest.raises(DatasetError, match="returned 1 answers for 2 prompts"):
        write_self_answers(["a", "b"], lambda batch: ["x"], tmp_path / "x.jsonl")
    with pytest.raises(DatasetError, match="no prompts"):
        write_self_answers([], generate, tmp_path / "y.jsonl")


def test_shipped_prompts_and_prompt_files(tmp_path):
    shipped = default_prompts()
    assert len(shipped) >= 30 and len(set(shipped)) == len(shipped)
    assert not any(p.startswith("#") for p in shipped)
    txt = tmp_path / "p.txt"
    txt.write_text("# mine\nFirst?\n\nSecond?\n")
    assert load_prompts(txt) == ["First?", "Second?"]
    jl = tmp_path / "p.jsonl"
    jl.write_text('{"prompt": "A?"}\n{"text": "B?"}\n')
    with pytest.raises(DatasetError, match=r"p.jsonl:2"):
        load_prompts(jl)
    assert load_prompts(None) == shipped
