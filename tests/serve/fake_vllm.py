"""A stand-in for vLLM's OpenAI-compatible server: a base model and LoRA modules, echoing who answered."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


def fake_vllm(base: str = "base-model", loras: tuple[str, ...] = ("v-a",)) -> FastAPI:
    app = FastAPI()
    app.state.requests = []
    served = {base, *loras}

    @app.get("/v1/models")
    async def models():
        data = [{"id": base, "object": "model", "root": base, "parent": None}]
        data += [{"id": name, "object": "model", "root": f"/adapters/{name}", "parent": base} for name in loras]
        return {"object": "list", "data": data}

    async def answer(request: Request, chat: bool):
        body = await request.json()
        app.state.requests.append(body)
        if body["model"] not in served:
            return JSONResponse({"error": {"message": f"The model `{body['model']}` does not exist.",
                                           "type": "NotFoundError", "code": 404}}, status_code=404)
        words = f"answer from {body['model']} in {body['max_tokens']} tokens".split()

        def choice(text, finish=None):
            if chat:
                return {"index": 0, "delta": {"content": text}, "finish_reason": finish}
            return {"index": 0, "text": text, "finish_reason": finish}

        if not body.get("stream"):
            text = " ".join(words)
            msg = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            return {"id": "x", "object": "chat.completion", "choices": [msg],
                    "usage": {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)}}

        def events():
            for i, w in enumerate(words):
                yield f"data: {json.dumps({'id': 'x', 'choices': [choice(w if i == 0 else ' ' + w)]})}\n\n"
            yield f"data: {json.dumps({'id': 'x', 'choices': [choice('', 'stop')]})}\n\n"
            usage = {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)}
            yield f"data: {json.dumps({'id': 'x', 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"
        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        return await answer(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await answer(request, chat=False)

    return app
