"""`/v1/files` through the official `openai` client on a real uvicorn: upload, list, read, delete, bad input."""

from __future__ import annotations

import json

import openai
import pytest
from fastapi import FastAPI

from lextune.security.sealed_files import UPLOAD, is_sealed, read_sealed_bytes
from lextune.serve import routes_files
from lextune.serve.background import live_server


def chat_jsonl(n: int, start: int = 0) -> bytes:
    rows = [{"messages": [
        {"role": "system", "content": "You are a careful legal assistant."},
        {"role": "user", "content": f"Which law governs contract {i}?"},
        {"role": "assistant", "content": f"The laws of the State of New York govern contract {i}."},
    ]} for i in range(start, start + n)]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture()
def client(store):
    app = FastAPI()
    app.state.store = store
    app.include_router(routes_files.router)
    with live_server(app) as server, openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0,
                                                    timeout=30) as c:
        yield c


def test_upload_list_read_download_delete(client, home):
    data = chat_jsonl(12)
    uploaded = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    assert uploaded.id.startswith("file-") and uploaded.object == "file" and uploaded.bytes == len(data)
    assert uploaded.filename == "train.jsonl" and uploaded.purpose == "fine-tune"
    stored = home / "files" / uploaded.id
    # Sealed at rest (no plaintext on disk), and opened it is the bytes as sent, beside its sidecar.
    assert is_sealed(stored) and data not in stored.read_bytes()
    assert read_sealed_bytes(stored, None, UPLOAD) == data
    assert json.loads(read_sealed_bytes(home / "files" / f"{uploaded.id}.json", None, UPLOAD))["id"] == uploaded.id

    other = client.files.create(file=("notes.txt", b"not json at all"), purpose="user_data")
    assert client.files.retrieve(uploaded.id) == uploaded
    assert client.files.content(uploaded.id).content == data

    # newest first; small pages are followed by the SDK through `after`
    assert [f.id for f in client.files.list(limit=1)] == [other.id, uploaded.id]
    assert [f.id for f in client.files.list(order="asc")] == [uploaded.id, other.id]
    assert [f.id for f in client.files.list(purpose="fine-tune")] == [uploaded.id]

    deleted = client.files.delete(uploaded.id)
    assert deleted.deleted and deleted.id == uploaded.id
    assert [f.id for f in client.files.list()] == [other.id]
    assert not (home / "files" / uploaded.id).exists()
    with pytest.raises(openai.NotFoundError) as e:
        client.files.retrieve(uploaded.id)
    assert e.value.body == {"message": f"No such File object: {uploaded.id}", "type": "invalid_request_error",
                            "param": "file_id", "code": "file_not_found"}


@pytest.mark.parametrize(("line", "bad", "expected"), [
    (3, {"messages": [{"role": "user", "content": "Hi?"}]}, "line 3: the last message must be the assistant's"),
    (2, {"messages": [{"role": "judge", "content": "x"}, {"role": "assistant", "content": "y"}]},
     "line 2: message 0 has role 'judge'"),
    (5, None, "line 5: not JSON"),
])
def test_malformed_fine_tuning_file_is_refused_naming_the_line(client, home, line, bad, expected):
    lines = chat_jsonl(6).decode().splitlines()
    lines[line - 1] = json.dumps(bad) if bad is not None else '{"messages": ['
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.files.create(file=("bad.jsonl", "\n".join(lines).encode()), purpose="fine-tune")
    assert e.value.status_code == 422
    assert e.value.body["param"] == "file" and e.value.body["code"] == "invalid_file_format"
    assert e.value.body["message"].startswith("bad.jsonl is not chat fine-tuning JSONL: ")
    assert expected in e.value.body["message"]
    assert list(client.files.list()) == []
    assert not (home / "files").exists() or [p.name for p in (home / "files").iterdir()] == []  # no temp file


def test_bad_purpose_unknown_ids_and_paths(client):
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.files.create(file=("a.jsonl", chat_jsonl(1)), purpose="fine-tuning")  # type: ignore[arg-type]
    assert e.value.body["param"] == "purpose" and "'fine-tuning' is not one of" in e.value.body["message"]
    with pytest.raises(openai.UnprocessableEntityError) as e:  # a non-UTF-8 fine-tuning file
        client.files.create(file=("latin1.jsonl", "é".encode("latin-1")), purpose="fine-tune")
    assert "byte 0: not UTF-8 text" in e.value.body["message"]
    for bad in ("file-doesnotexist", "../lextune.db", "lextune.db", "file-" + "0" * 24):
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(bad)
        with pytest.raises(openai.NotFoundError):
            client.files.content(bad)
        with pytest.raises(openai.NotFoundError):
            client.files.delete(bad)
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.files.list(after="file-nope")
    assert e.value.body["param"] == "after"
