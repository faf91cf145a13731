"""Export dataset rows for other trainers: OpenAI chat fine-tuning JSONL, Alpaca and ShareGPT.

Each writer builds the whole file and writes it atomically, so a failed export never leaves half a
file that a fine-tuning upload would accept. Rows are exported as they are: anonymization happened
when they were built. Exports inside a dataset folder are sealed (a keyring is given); an export
to a path the user names is plaintext, by request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from lextune.core.errors import DatasetError
from lextune.core.records import DatasetRow
from lextune.security.keyring import Keyring
from lextune.security.sealed_files import DATASET, read_sealed_text, write_maybe_sealed

ExportFormat = Literal["openai", "alpaca", "sharegpt"]
ROLES = ("system", "user", "assistant")
_SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}
# Keys OpenAI's chat fine-tuning format accepts on a message besides role and content; the exporter
# never writes them, the validator tolerates them in files made elsewhere.
_OPENAI_OPTIONAL_KEYS = {"name", "weight"}
OPENAI_MIN_EXAMPLES = 10  # the fine-tuning API rejects files with fewer


def chat_messages(row: DatasetRow) -> list[dict[str, str]]:
    """The row's conversation as role/content pairs ending with the assistant's answer.

    A row whose messages stop before the answer gets it appended; a bad role or an empty message is
    a DatasetError naming the row, because every export format would carry it into training.
    """
    messages = [{"role": m.get("role", ""), "content": m.get("content", "")} for m in row.messages]
    if not messages or messages[-1]["role"] != "assistant":
        messages.append({"role": "assistant", "content": row.answer})
    for n, m in enumerate(messages):
        if m["role"] not in ROLES:
            raise DatasetError(f"row {row.id}: message {n} has role {m['role']!r}; expected one of {ROLES}")
        if not isinstance(m["content"], str) or not m["content"].strip():
            raise DatasetError(f"row {row.id}: message {n} ({m['role']}) is empty")
        if m["role"] == "system" and n != 0:
            raise DatasetError(f"row {row.id}: a system message may only come first (message {n})")
    if not any(m["role"] == "user" for m in messages):
        raise DatasetError(f"row {row.id}: no user message")
    return messages


def to_openai_chat(row: DatasetRow) -> dict[str, Any]:
    """{"messages": [{"role", "content"}, ...]}: nothing else, as the fine-tuning API expects."""
    return {"messages": chat_messages(row)}


def to_alpaca(row: DatasetRow) -> dict[str, str]:
    """{"instruction", "input", "output"}: the system prompt folded into the instruction.

    The last user message is the instruction; earlier turns of a multi-turn row go to `input` as a
    transcript, since Alpaca has no place for them otherwise.
    """
    messages = chat_messages(row)
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    turns = messages[1:] if system else messages
    last_user = max(i for i, m in enumerate(turns) if m["role"] == "user")
    instruction = turns[last_user]["content"]
    history = "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in turns[:last_user])
    return {
        "instruction": f"{system}\n\n{instruction}" if system else instruction,
        "input": history,
        "output": "\n\n".join(m["content"] for m in turns[last_user + 1:]),
    }


def to_sharegpt(row: DatasetRow) -> dict[str, Any]:
    """{"conversations": [{"from": "system" | "human" | "gpt", "value"}, ...]}."""
    return {"conversations": [{"from": _SHAREGPT_FROM[m["role"]], "value": m["content"]}
                              for m in chat_messages(row)]}


_CONVERTERS: dict[str, Callable[[DatasetRow], dict[str, Any]]] = {
    "openai": to_openai_chat, "alpaca": to_alpaca, "sharegpt": to_sharegpt,
}


def export_rows(rows: Iterable[DatasetRow], path: Path, fmt: ExportFormat = "openai",
                keyring: Keyring | None = None) -> int:
    """Write rows in `fmt` to `path` atomically (sealed with `keyring`) and return how many were written.

    OpenAI is always JSONL; Alpaca and ShareGPT are a JSON array when `path` ends in .json, JSONL
    otherwise (both conventions are common among trainers).
    """
    if fmt not in _CONVERTERS:
        raise DatasetError(f"unknown export format {fmt!r}; choose one of {', '.join(_CONVERTERS)}")
    records = [_CONVERTERS[fmt](r) for r in rows]
    if fmt != "openai" and path.suffix.lower() == ".json":
        text = json.dumps(records, ensure_ascii=False, indent=1) + "\n"
    else:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    write_maybe_sealed(path, text, keyring, DATASET)
    return len(records)


def write_openai_chat(rows: Iterable[DatasetRow], path: Path, keyring: Keyring | None = None) -> int:
    return export_rows(rows, path, "openai", keyring)


def write_alpaca(rows: Iterable[DatasetRow], path: Path, keyring: Keyring | None = None) -> int:
    return export_rows(rows, path, "alpaca", keyring)


def write_sharegpt(rows: Iterable[DatasetRow], path: Path, keyring: Keyring | None = None) -> int:
    return export_rows(rows, path, "sharegpt", keyring)


# Format name -> writer(rows, path, keyring=None) -> rows written; the names `data build --export` accepts.
EXPORTERS: dict[str, Callable[..., int]] = {
    "openai": write_openai_chat, "alpaca": write_alpaca, "sharegpt": write_sharegpt,
}


def _message_problems(messages: Any) -> list[str]:
    if not isinstance(messages, list) or not messages:
        return ['"messages" must be a non-empty list']
    problems = []
    for n, m in enumerate(messages):
        if not isinstance(m, dict):
            problems.append(f"message {n} is not an object")
            continue
        role, content = m.get("role"), m.get("content")
        extra = set(m) - {"role", "content"} - _OPENAI_OPTIONAL_KEYS
        if extra:
            problems.append(f"message {n} has unexpected key(s) {sorted(extra)}")
        if role not in ROLES:
            problems.append(f"message {n} has role {role!r}; expected one of {', '.join(ROLES)}")
        elif role == "system" and n != 0:
            problems.append(f"message {n}: a system message may only come first")
        if not isinstance(content, str) or not content.strip():
            problems.append(f"message {n} ({role}) has empty or non-string content")
        if "weight" in m and (role != "assistant" or m["weight"] not in (0, 1)):
            problems.append(f"message {n}: weight must be 0 or 1 and only on assistant messages")
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if "user" not in roles:
        problems.append("no user message")
    if not roles or roles[-1] != "assistant":
        problems.append("the last message must be the assistant's")
    return problems


def validate_openai_chat(path: Path, min_examples: int = OPENAI_MIN_EXAMPLES, keyring: Keyring | None = None,
                         kind: str = DATASET) -> list[str]:
    """Problems that would make OpenAI's fine-tuning API reject the file (sealed or plain), as
    "LINE: problem"; [] if none."""
    if not path.is_file():
        return [f"{path}: no such file"]
    return openai_chat_problems(read_sealed_text(path, keyring, kind), min_examples)


def openai_chat_problems(text: str, min_examples: int = OPENAI_MIN_EXAMPLES) -> list[str]:
    """validate_openai_chat on the file's text."""
    problems: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it is not an empty example
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            problems.append(f"{n}: empty line")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{n}: not JSON ({e.msg})")
            continue
        if not isinstance(record, dict):
            problems.append(f"{n}: not a JSON object")
            continue
        extra = set(record) - {"messages"}
        if extra:
            problems.append(f"{n}: unexpected key(s) {sorted(extra)}; only \"messages\" is allowed")
        problems += [f"{n}: {p}" for p in _message_problems(record.get("messages"))]
    examples = sum(1 for line in lines if line.strip())
    if examples < min_examples:
        problems.append(f"file: {examples} example(s); OpenAI fine-tuning needs at least {min_examples}")
    return problems
