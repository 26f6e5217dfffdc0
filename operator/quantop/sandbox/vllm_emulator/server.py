"""An aiohttp server that speaks vLLM's OpenAI-compatible API with a profile's timing, errors and answers.

Routes and payloads follow vLLM's server (vllm/entrypoints/openai/api_server.py, protocol.py):
`POST /v1/completions` and `POST /v1/chat/completions` (SSE `data: {json}` chunks, with
`stream_options.include_usage` a last chunk with no choices and the usage, then `data: [DONE]`;
an error after the stream started is a `data: {"error": ...}` event before `[DONE]`), `GET
/v1/models`, `GET /health` (200, empty), `GET /version`, `GET /metrics`. Errors are vLLM's
ErrorResponse, `{"error": {"message", "type", "param", "code"}}`: 400 BadRequestError for bad
input, 404 NotFoundError for a model the server does not serve. Under `/emulator/` it exposes
what a real server cannot: each request's server-side record and the live profile.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiohttp import web

from quantop.sandbox.tgi_emulator.profiles import Profile

from .engine import EmulatedEngine, Request, VllmError, bad_request

VERSION = "0.30.0"


class VllmEmulator:
    def __init__(
        self,
        profile: Profile,
        *,
        model_id: str = "microsoft/Phi-3.5-mini-instruct",
        max_model_len: int = 2048,
        max_num_seqs: int = 256,
        kv_tokens: int = 65536,
    ) -> None:
        self.engine = EmulatedEngine(
            profile, model=model_id, max_model_len=max_model_len, max_num_seqs=max_num_seqs, kv_tokens=kv_tokens
        )
        self.model_id = model_id
        self.records: list[dict[str, Any]] = []

    # --- request parsing ----------------------------------------------------------------------

    async def _payload(self, request: web.Request) -> dict[str, Any]:
        try:
            payload = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise bad_request("The request body is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise bad_request("The request body must be a JSON object.")
        if payload.get("model") not in (None, self.model_id):
            raise VllmError(404, "NotFoundError", f"The model `{payload['model']}` does not exist.", "model")
        tokens = payload.get("max_tokens", payload.get("max_completion_tokens"))
        if tokens is not None and (not isinstance(tokens, int) or isinstance(tokens, bool)):
            raise bad_request(f"max_tokens must be an integer, got {tokens!r}.", "max_tokens")
        return payload

    @staticmethod
    def _prompt(payload: dict[str, Any]) -> str:
        prompt = payload.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str) or not prompt:
            raise bad_request(
                "prompt must be a non-empty string (the emulator serves one prompt per request).", "prompt"
            )
        return prompt

    @staticmethod
    def _messages(payload: dict[str, Any]) -> str:
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad_request("messages must be a non-empty list of {role, content} objects.", "messages")
        texts: list[str] = []
        for m in messages:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, list):  # content parts: keep the text ones
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool", "developer"):
                raise bad_request("every message needs a role: system, user, assistant, tool or developer.", "messages")
            texts.append(str(content or ""))
        return "\n".join(texts)

    # --- handlers -----------------------------------------------------------------------------

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=False)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=True)

    async def _serve(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        try:
            payload = await self._payload(request)
            prompt = self._messages(payload) if chat else self._prompt(payload)
            default = None if chat else 16  # OpenAI's completions default; chat fills the context
            req = self.engine.admit(prompt, payload.get("max_tokens", payload.get("max_completion_tokens", default)))
        except VllmError as exc:
            return self._error(request.path, exc)
        shape = _Shape(chat, self.model_id)
        if payload.get("stream"):
            usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            return await self._stream(request, req, shape, usage)
        try:
            async for _ in self.engine.generate(req):
                pass
        except VllmError as exc:
            return self._error(request.path, exc, req)
        self._record(request.path, 200, req)
        return web.json_response(shape.whole(req))

    async def _stream(self, request: web.Request, req: Request, shape: _Shape, usage: bool) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        if shape.chat:
            await _send(resp, shape.chunk(req, "", role=True))
        try:
            async for piece in self.engine.generate(req):
                await _send(resp, shape.chunk(req, piece, done=len(req.tokens) == req.planned))
        except VllmError as exc:
            if req.fault == "disconnect" and request.transport is not None:
                self._record(request.path, 200, req, "disconnect")
                request.transport.abort()
                return resp
            self._record(request.path, 200, req, exc.kind)
            await _send(resp, exc.body())
        else:
            self._record(request.path, 200, req)
            if usage:
                await _send(resp, {**shape.head(), "choices": [], "usage": _usage(req)})
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    def _error(self, path: str, exc: VllmError, req: Request | None = None) -> web.Response:
        self._record(path, exc.status, req, exc.kind)
        return web.json_response(exc.body(), status=exc.status)

    def _record(self, path: str, status: int, req: Request | None, error: str | None = None) -> None:
        self.engine.metrics.http(path, status)
        now = time.perf_counter()
        self.records.append(
            {
                "path": path,
                "status": status,
                "error": error,
                "input_tokens": req.prompt_tokens if req else 0,
                "generated_tokens": len(req.tokens) if req else 0,
                "ttft_ms": req.ttft_s * 1000 if req and req.ttft_s is not None else None,
                "duration_ms": (now - req.start) * 1000 if req else 0.0,
            }
        )

    async def models(self, request: web.Request) -> web.Response:
        card = {
            "id": self.model_id,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "vllm",
            "root": self.model_id,
            "parent": None,
            "max_model_len": self.engine.max_model_len,
        }
        return web.json_response({"object": "list", "data": [card]})

    async def health(self, request: web.Request) -> web.Response:
        if self.engine.profile.error_rate >= 1.0:  # an engine that fails everything is a dead engine
            return web.Response(status=503)
        return web.Response(status=200)

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(text=self.engine.metrics.render(), content_type="text/plain", charset="utf-8")

    async def emulator_requests(self, request: web.Request) -> web.Response:
        if request.method == "DELETE":
            self.records.clear()
        return web.json_response(self.records)

    async def emulator_profile(self, request: web.Request) -> web.Response:
        if request.method == "PATCH":
            try:
                changes = {str(k): str(v) for k, v in (await request.json()).items()}
                self.engine.profile = self.engine.profile.override(changes)
            except (ValueError, AttributeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"name": self.engine.profile.name, "error_rate": self.engine.profile.error_rate})

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.post("/v1/completions", self.completions),
                web.post("/v1/chat/completions", self.chat_completions),
                web.get("/v1/models", self.models),
                web.get("/health", self.health),
                web.get("/version", self.version),
                web.get("/metrics", self.prometheus),
                web.get("/emulator/requests", self.emulator_requests),
                web.delete("/emulator/requests", self.emulator_requests),
                web.get("/emulator/profile", self.emulator_profile),
                web.patch("/emulator/profile", self.emulator_profile),
            ]
        )
        return app


class _Shape:
    """The OpenAI payloads of one route: text_completion or chat.completion, whole or in chunks."""

    def __init__(self, chat: bool, model: str) -> None:
        self.chat, self.model = chat, model
        self.id = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def head(self, *, chunk: bool = True) -> dict[str, Any]:
        kind = ("chat.completion" if self.chat else "text_completion") + (".chunk" if chunk and self.chat else "")
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def whole(self, req: Request) -> dict[str, Any]:
        text = "".join(req.tokens)
        choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": req.finish_reason, "stop_reason": None}
        choice |= {"message": {"role": "assistant", "content": text}} if self.chat else {"text": text}
        return {**self.head(chunk=False), "choices": [choice], "usage": _usage(req)}

    def chunk(self, req: Request, piece: str, *, role: bool = False, done: bool = False) -> dict[str, Any]:
        reason = req.finish_reason if done else None
        choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": reason, "stop_reason": None}
        if self.chat:
            choice["delta"] = {"role": "assistant", "content": ""} if role else {"content": piece}
        else:
            choice["text"] = piece
        return {**self.head(), "choices": [choice]}


def _usage(req: Request) -> dict[str, int]:
    n = len(req.tokens)
    return {"prompt_tokens": req.prompt_tokens, "completion_tokens": n, "total_tokens": req.prompt_tokens + n}


async def _send(resp: web.StreamResponse, event: dict[str, Any]) -> None:
    await resp.write(b"data: " + json.dumps(event).encode() + b"\n\n")
