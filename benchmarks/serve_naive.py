"""The baseline for serve_load.py: a naive transformers chat server, one request at a time.

What a team writes first: load the model once, and for each request apply the chat template and
call `model.generate` (greedy), holding a lock because one model cannot run two generates at
once. OpenAI-shaped enough for the load client: POST /v1/chat/completions -> choices + usage.

    python benchmarks/serve_naive.py PORT
"""

from __future__ import annotations

import sys
import threading

import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from lextune.models.chat import end_of_turn_ids
from lextune.models.loading import load_base_model


class Chat(BaseModel):
    model: str
    messages: list[dict[str, str]]
    max_tokens: int = 256


def make_app() -> FastAPI:
    model, tok, _ = load_base_model(None)
    stops = end_of_turn_ids(tok)
    lock = threading.Lock()
    app = FastAPI()

    @app.post("/v1/chat/completions")
    def chat(body: Chat) -> dict:  # a plain def: FastAPI runs it on its thread pool
        ids = tok.apply_chat_template(body.messages, add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)
        with lock, torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=body.max_tokens, do_sample=False, eos_token_id=stops,
                                 pad_token_id=tok.pad_token_id)
        new = out[0, ids["input_ids"].shape[1]:].tolist()
        cut = next((k for k, t in enumerate(new) if t in stops), len(new))
        text = tok.decode(new[:cut], skip_special_tokens=True)
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": ids["input_ids"].shape[1], "completion_tokens": cut}}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    torch.set_num_threads(int(torch.get_num_threads()))
    uvicorn.run(make_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
