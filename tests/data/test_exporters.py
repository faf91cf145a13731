from __future__ import annotations

import json

import pytest

from lextune.core.errors import DatasetError
from lextune.core.records import DatasetRow
from lextune.data.exporters import (
    EXPORTERS,
    export_rows,
    to_alpaca,
    to_sharegpt,
    validate_openai_chat,
    write_alpaca,
    write_openai_chat,
    write_sharegpt,
)

SYSTEM = "You are a careful contract analyst."


def _row(i: int, messages: list[dict[str, str]] | None = None, answer: str = "Governing Law") -> DatasetRow:
    messages = messages if messages is not None else [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Which clause type is passage {i}? \u201cquoted\u201d \u00e9"},
        {"role": "assistant", "content": answer},
    ]
    return DatasetRow(id=f"r{i}", task="clause_type", split="train", messages=messages, answer=answer,
                      label=answer, document_id="doc-1", meta={"client": "ACME"})


def test_openai_chat_round_trips_and_validates(tmp_path):
    rows = [_row(i) for i in range(12)]
    path = tmp_path / "out" / "train.openai.jsonl"
    assert write_openai_chat(rows, path) == 12
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12
    for row, line in zip(rows, lines):
        record = json.loads(line)
        assert record == {"messages": row.messages}
        assert all(set(m) == {"role", "content"} for m in record["messages"])
    assert validate_openai_chat(path) == []


def test_openai_export_appends_a_missing_answer_and_rejects_bad_rows(tmp_path):
    row = _row(0, [{"role": "user", "content": "Summarize clause 4."}], answer="It limits liability.")
    export_rows([row], tmp_path / "a.jsonl")
    record = json.loads((tmp_path / "a.jsonl").read_text())
    assert record["messages"][-1] == {"role": "assistant", "content": "It limits liability."}
    with pytest.raises(DatasetError, match="r1.*empty"):
        export_rows([_row(1, answer=" ")], tmp_path / "b.jsonl")
    with pytest.raises(DatasetError, match="role 'tool'"):
        export_rows([_row(2, [{"role": "tool", "content": "x"}, {"role": "user", "content": "q"}])],
                    tmp_path / "c.jsonl")
    assert not (tmp_path / "b.jsonl").exists() and not (tmp_path / "c.jsonl").exists()
    with pytest.raises(DatasetError, match="unknown export format"):
        export_rows([row], tmp_path / "d.jsonl", "csv")  # type: ignore[arg-type]


def test_validator_reports_problems_by_line(tmp_path):
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    bad = [
        "{not json",
        json.dumps({"messages": [{"role": "user", "content": "q"}], "id": 3}),
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}),
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "s"},
                                 {"role": "bot", "content": "a", "extra": 1}]}),
        "",
        json.dumps(good),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(bad) + "\n")
    problems = validate_openai_chat(path)
    assert problems[0].startswith("1: not JSON")
    assert any(p.startswith("2: unexpected key(s) ['id']") for p in problems)
    assert "2: the last message must be the assistant's" in problems
    assert "3: message 1 (assistant) has empty or non-string content" in problems
    assert "4: message 1: a system message may only come first" in problems
    assert any(p.startswith("4: message 2 has unexpected key(s) ['extra']") for p in problems)
    assert any(p.startswith("4: message 2 has role 'bot'") for p in problems)
    assert "5: empty line" in problems
    assert not any(p.startswith("6:") for p in problems)
    assert problems[-1].startswith("file: 5 example(s)")
    assert validate_openai_chat(tmp_path / "missing.jsonl")[0].endswith("no such file")


def test_alpaca_folds_system_into_instruction(tmp_path):
    row = _row(0)
    assert to_alpaca(row) == {
        "instruction": SYSTEM + "\n\n" + row.messages[1]["content"], "input": "", "output": "Governing Law",
    }
    turns = [("user", "First question"), ("assistant", "First"), ("user", "Second question"),
             ("assistant", "Second")]
    multi = _row(1, [{"role": r, "content": c} for r, c in turns], answer="Second")
    assert to_alpaca(multi) == {"instruction": "Second question",
                                "input": "User: First question\n\nAssistant: First", "output": "Second"}
    rows = [row, multi]
    assert write_alpaca(rows, tmp_path / "a.json") == 2
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8")) == [to_alpaca(r) for r in rows]
    write_alpaca(rows, tmp_path / "a.jsonl")
    lines = (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == [to_alpaca(r) for r in rows]


def test_sharegpt_maps_roles(tmp_path):
    row = _row(0)
    assert to_sharegpt(row) == {"conversations": [
        {"from": "system", "value": SYSTEM}, {"from": "human", "value": row.messages[1]["content"]},
        {"from": "gpt", "value": "Governing Law"},
    ]}
    write_sharegpt([row, _row(1)], tmp_path / "s.jsonl")
    back = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text(encoding="utf-8").splitlines()]
    assert back == [to_sharegpt(row), to_sharegpt(_row(1))]


def test_exporters_registry_writes_every_format(tmp_path):
    rows = [_row(i) for i in range(3)]
    for fmt, write in EXPORTERS.items():
        assert write(rows, tmp_path / fmt / "train.jsonl") == 3
        assert len((tmp_path / fmt / "train.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    assert validate_openai_chat(tmp_path / "openai" / "train.jsonl", min_examples=3) == []
