"""An aiohttp server that speaks TGI's router API with a profile's timing, errors and answers.

Endpoints and payloads follow TGI's router (router/src/server.rs, router/src/lib.rs):
`/generate`, `/generate_stream` (SSE `data:` events, one per token, the last one carrying
`generated_text` and `details`; errors mid-stream as an `error` event with HTTP 200),
`/v1/chat/completions` (OpenAI style, `data: [DONE]` at the end), `/` (compat_generate: a
one-element list, or SSE when `stream` is true), `/info`, `/health`,
`/metrics`, `/v1/models`. Under `/emulator/` it also exposes what a real server cannot: the
server-side truth of every request and the live profile, so tests can compare and inject faults.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from . import answers
from .metrics import TgiMetrics
from .profiles import Profile

VERSION = "3.3.6-emulated"


class TgiError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message

    def response(self) -> web.Response:
        return web.json_response({"error": self.message, "error_type": self.error_type}, status=self.status)


@dataclass
class RequestRecord:
    """The server's own view of one request: what a client measurement is compared against."""

    id: int
    path: str
    start: float
    status: int = 200
    error: str | None = None
    input_tokens: int = 0
    generated_tokens: int = 0
    queue_ms: float = 0.0
    ttft_ms: float | None = None
    duration_ms: float | None = None


@dataclass
class Generation:
    """One accepted request on its way through queue, prefill and decode."""

    record: RequestRecord
    prompt: str
    max_new_tokens: int
    fault: str | None
    tokens: list[str] = field(default_factory=list)
    planned: int = 0
    finish_reason: str = "length"


class Emulator:
    def __init__(
        self,
        profile: Profile,
        *,
        model_id: str = "microsoft/Phi-3.5-mini-instruct",
        max_concurrent_requests: int = 128,
        max_input_tokens: int = 1024,
        max_total_tokens: int = 2048,
        seed: int | None = None,
    ) -> None:
        self.profile = profile
        self.model_id = model_id
        self.max_concurrent_requests = max_concurrent_requests
        self.max_input_tokens = max_input_tokens
        self.max_total_tokens = max_total_tokens
        self.rng = random.Random(seed if seed is not None else profile.seed)
        self.metrics = TgiMetrics(max_input_tokens, max_total_tokens, profile.max_batch_size * max_total_tokens)
        self.records: list[RequestRecord] = []
        self.in_flight = 0
        self.waiting = 0
        self.active = 0
        self._slots = asyncio.Semaphore(profile.max_batch_size)
        self._next_id = 0

    # --- request lifecycle ------------------------------------------------------------------

    def _admit(self, path: str, prompt: str, max_new_tokens: int | None) -> Generation:
        self._next_id += 1
        record = RequestRecord(self._next_id, path, time.perf_counter())
        self.records.append(record)
        self.metrics.inc("tgi_request_count")
        try:
            if not isinstance(prompt, str) or not prompt.strip():
                raise TgiError(422, "validation", "Input validation error: `inputs` cannot be empty")
            record.input_tokens = answers.count_tokens(prompt)
            if record.input_tokens > self.max_input_tokens:
                raise TgiError(
                    422,
                    "validation",
                    f"Input validation error: `inputs` must have less than {self.max_input_tokens} tokens. "
                    f"Given: {record.input_tokens}",
                )
            new = max_new_tokens if max_new_tokens is not None else self.max_total_tokens - record.input_tokens
            if new <= 0 or record.input_tokens + new > self.max_total_tokens:
                raise TgiError(
                    422,
                    "validation",
                    f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= {self.max_total_tokens}. "
                    f"Given: {record.input_tokens} `inputs` tokens and {new} `max_new_tokens`",
                )
            if self.in_flight >= self.max_concurrent_requests:
                raise TgiError(429, "overloaded", "Model is overloaded")
        except TgiError as exc:
            self._fail(record, exc.error_type, exc.status)
            raise
        self.metrics.observe("tgi_request_input_length", record.input_tokens)
        self.metrics.observe("tgi_request_max_new_tokens", new)
        self.metrics.observe("tgi_request_validation_duration", time.perf_counter() - record.start)
        fault = None
        if self.profile.error_rate > 0 and self.rng.random() < self.profile.error_rate:
            fault = self.rng.choice(self.profile.error_kinds)
        if fault == "overloaded":
            self._fail(record, "overloaded", 429)
            raise TgiError(429, "overloaded", "Model is overloaded")
        return Generation(record, prompt, new, fault)

    def _fail(self, record: RequestRecord, kind: str, status: int) -> None:
        record.status, record.error = status, kind
        record.duration_ms = (time.perf_counter() - record.start) * 1000
        self.metrics.inc("tgi_request_failure", (("err", kind),))

    async def _tokens(self, gen: Generation) -> AsyncIterator[str]:
        """Queue, prefill, then one token per decode step; raises TgiError for injected failures."""
        p, rec = self.profile, gen.record
        self.in_flight += 1
        self.waiting += 1
        self._batch_gauges()
        queued = time.perf_counter()
        try:
            async with self._slots:
                self.waiting -= 1
                self.active += 1
                self._batch_gauges()
                try:
                    start = time.perf_counter()
                    rec.queue_ms = (start - queued) * 1000
                    self.metrics.observe("tgi_request_queue_duration", start - queued)
                    self.metrics.observe("tgi_batch_next_size", 1)
                    # One slowness factor per request, so the spread of whole-request latency is the profile's.
                    factor = math.exp(self.rng.gauss(0.0, p.sigma))
                    text = answers.answer_text(gen.prompt, p.accuracy, p.seed, p.discordance)
                    pieces = answers.tokenize(text)[: gen.max_new_tokens]
                    gen.planned = len(pieces)
                    gen.finish_reason = "length" if len(pieces) == gen.max_new_tokens else "eos_token"
                    fail_at = self.rng.randint(1, max(len(pieces) - 1, 1)) if gen.fault else None
                    # Absolute deadlines, so timer overshoot does not accumulate over hundreds of tokens.
                    deadline = start + p.prefill_ms * p.latency_scale * factor / 1000
                    self.metrics.inc("tgi_batch_inference_count", (("method", "prefill"),))
                    for i, piece in enumerate(pieces):
                        if i:
                            deadline += p.step_ms(self.active) * factor / 1000
                        await asyncio.sleep(max(deadline - time.perf_counter(), 0))
                        if i == 0:
                            rec.ttft_ms = (time.perf_counter() - rec.start) * 1000
                            self.metrics.inc("tgi_batch_inference_success", (("method", "prefill"),))
                            self.metrics.observe(
                                "tgi_batch_inference_duration", time.perf_counter() - start, (("method", "prefill"),)
                            )
                        if fail_at is not None and i == fail_at:
                            raise TgiError(
                                424,
                                gen.fault or "generation",
                                "Request failed during generation: CUDA error (emulated)",
                            )
                        gen.tokens.append(piece)
                        rec.generated_tokens += 1
                        yield piece
                    self.metrics.inc("tgi_batch_inference_count", (("method", "decode"),))
                    self.metrics.inc("tgi_batch_inference_success", (("method", "decode"),))
                    inference = time.perf_counter() - start
                    self.metrics.observe("tgi_request_inference_duration", inference)
                    self.metrics.observe("tgi_request_mean_time_per_token_duration", inference / max(len(pieces), 1))
                    self.metrics.observe("tgi_request_generated_tokens", len(pieces))
                finally:
                    self.active -= 1
                    self._batch_gauges()
        finally:
            self.in_flight -= 1
            self._batch_gauges()

    def _batch_gauges(self) -> None:
        self.metrics.gauges["tgi_queue_size"] = self.waiting
        self.metrics.gauges["tgi_batch_current_size"] = self.active
        self.metrics.gauges["tgi_batch_current_max_tokens"] = self.active * self.max_total_tokens

    def _succeed(self, rec: RequestRecord) -> None:
        rec.duration_ms = (time.perf_counter() - rec.start) * 1000
        self.metrics.inc("tgi_request_success")
        self.metrics.observe("tgi_request_duration", rec.duration_ms / 1000)

    def _details(self, gen: Generation, *, stream: bool) -> dict[str, Any]:
        details: dict[str, Any] = {
            "finish_reason": gen.finish_reason,
            "generated_tokens": len(gen.tokens),
            "seed": None,
            "input_length": gen.record.input_tokens,
        }
        if not stream:
            details |= {"prefill": [], "tokens": [_token(i, t) for i, t in enumerate(gen.tokens)], "top_tokens": []}
        return details

    # --- HTTP handlers ----------------------------------------------------------------------

    async def _native(self, request: web.Request) -> tuple[dict[str, Any], Generation]:
        """Parse and admit a request of TGI's native API (`inputs` + `parameters`)."""
        payload = await _json(request)
        params = payload.get("parameters") or {}
        return params, self._admit(request.path, payload.get("inputs", ""), params.get("max_new_tokens"))

    async def _run_to_end(self, request: web.Request, gen: Generation) -> web.StreamResponse | None:
        """Generate every token of a non-streamed request: the error response if it failed, else None."""
        try:
            async for _ in self._tokens(gen):
                pass
        except TgiError as exc:
            return await self._error(request, gen, exc)
        self._succeed(gen.record)
        return None

    async def generate(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, as_list=False)

    async def _generate(self, request: web.Request, *, as_list: bool) -> web.StreamResponse:
        try:
            params, gen = await self._native(request)
        except TgiError as exc:
            return exc.response()
        if failed := await self._run_to_end(request, gen):
            return failed
        body: dict[str, Any] = {"generated_text": "".join(gen.tokens)}
        if params.get("details"):
            body["details"] = self._details(gen, stream=False)
        # TGI's compat route wraps the answer in a list "to match api-inference"; errors stay objects.
        return web.json_response([body] if as_list else body, headers=self._timing_headers(gen))

    async def generate_stream(self, request: web.Request) -> web.StreamResponse:
        try:
            params, gen = await self._native(request)
        except TgiError as exc:
            return exc.response()
        resp = await _sse(request)
        try:
            async for piece in self._tokens(gen):
                # As TGI: the last token's event also carries the whole text and the details.
                last = len(gen.tokens) == gen.planned
                event: dict[str, Any] = {
                    "index": len(gen.tokens),
                    "token": _token(len(gen.tokens) - 1, piece),
                    "generated_text": "".join(gen.tokens) if last else None,
                    "details": self._details(gen, stream=True) if last and params.get("details") else None,
                    "top_tokens": None,
                }
                await _send(resp, event)
        except TgiError as exc:
            return await self._stream_error(request, resp, gen, exc)
        await resp.write_eof()
        self._succeed(gen.record)
        return resp

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        payload = await _json(request)
        messages = payload.get("messages") or []
        prompt = "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
        max_tokens = payload.get("max_tokens") or payload.get("max_completion_tokens")
        try:
            gen = self._admit(request.path, prompt, max_tokens)
        except TgiError as exc:
            return exc.response()
        created = int(time.time())
        base = {"id": "", "created": created, "model": self.model_id, "system_fingerprint": VERSION}
        if not payload.get("stream"):
            if failed := await self._run_to_end(request, gen):
                return failed
            n_in, n_out = gen.record.input_tokens, len(gen.tokens)
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(gen.tokens)},
                "logprobs": None,
                "finish_reason": _openai_reason(gen.finish_reason),
            }
            usage = {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}
            return web.json_response({**base, "object": "chat.completion", "choices": [choice], "usage": usage})
        resp = await _sse(request)
        try:
            async for piece in self._tokens(gen):
                done = len(gen.tokens) == gen.planned
                chunk = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": piece},
                            "logprobs": None,
                            "finish_reason": _openai_reason(gen.finish_reason) if done else None,
                        }
                    ],
                    "usage": None,
                }
                await _send(resp, chunk, space=True)
        except TgiError as exc:
            return await self._stream_error(request, resp, gen, exc)
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        self._succeed(gen.record)
        return resp

    async def compat(self, request: web.Request) -> web.StreamResponse:
        """`POST /` as TGI's compat_generate: SSE when `stream` is true, else a one-element list."""
        payload = await _json(request)
        if payload.get("stream"):
            return await self.generate_stream(request)
        return await self._generate(request, as_list=True)

    async def _error(self, request: web.Request, gen: Generation, exc: TgiError) -> web.StreamResponse:
        self._fail(gen.record, "incomplete" if exc.error_type == "disconnect" else exc.error_type, exc.status)
        if exc.error_type == "disconnect" and request.transport is not None:
            request.transport.abort()
        return exc.response()

    async def _stream_error(
        self, request: web.Request, resp: web.StreamResponse, gen: Generation, exc: TgiError
    ) -> web.StreamResponse:
        if exc.error_type == "disconnect":
            self._fail(gen.record, "incomplete", 200)
            if request.transport is not None:
                request.transport.abort()
            return resp
        self._fail(gen.record, exc.error_type, 200)
        await _send(resp, {"error": exc.message, "error_type": exc.error_type})
        await resp.write_eof()
        return resp

    def _timing_headers(self, gen: Generation) -> dict[str, str]:
        rec = gen.record
        total = (time.perf_counter() - rec.start) * 1000
        return {
            "x-compute-type": "gpu+optimized",
            "x-total-time": str(int(total)),
            "x-queue-time": str(int(rec.queue_ms)),
            "x-prompt-tokens": str(rec.input_tokens),
            "x-generated-tokens": str(len(gen.tokens)),
        }

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "model_id": self.model_id,
                "model_sha": None,
                "model_pipeline_tag": "text-generation",
                "max_concurrent_requests": self.max_concurrent_requests,
                "max_best_of": 2,
                "max_stop_sequences": 4,
                "max_input_tokens": self.max_input_tokens,
                "max_total_tokens": self.max_total_tokens,
                "validation_workers": 2,
                "max_client_batch_size": 4,
                "router": "text-generation-router",
                "version": VERSION,
                "sha": None,
                "docker_label": None,
            }
        )

    async def health(self, request: web.Request) -> web.Response:
        if self.profile.error_rate >= 1.0:
            return web.json_response({"error": "unhealthy", "error_type": "healthcheck"}, status=503)
        return web.Response(status=200)

    async def models(self, request: web.Request) -> web.Response:
        model = {"id": self.model_id, "object": "model", "created": 0, "owned_by": self.model_id}
        return web.json_response({"object": "list", "data": [model]})

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(), content_type="text/plain", charset="utf-8")

    async def emulator_requests(self, request: web.Request) -> web.Response:
        if request.method == "DELETE":
            self.records.clear()
            return web.json_response([])
        return web.json_response([asdict(r) for r in self.records if r.duration_ms is not None])

    async def emulator_profile(self, request: web.Request) -> web.Response:
        if request.method == "PATCH":
            try:
                changes = {str(k): str(v) for k, v in (await request.json()).items()}
                self.profile = self.profile.override(changes)
            except (ValueError, AttributeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({k: v for k, v in asdict(self.profile).items() if k != "extra"})

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.post("/generate", self.generate),
                web.post("/generate_stream", self.generate_stream),
                web.post("/", self.compat),
                web.post("/v1/chat/completions", self.chat_completions),
                web.get("/info", self.info),
                web.get("/health", self.health),
                web.get("/metrics", self.prometheus),
                web.get("/v1/models", self.models),
                web.get("/emulator/requests", self.emulator_requests),
                web.delete("/emulator/requests", self.emulator_requests),
                web.get("/emulator/profile", self.emulator_profile),
                web.patch("/emulator/profile", self.emulator_profile),
            ]
        )
        return app


def _token(index: int, text: str) -> dict[str, Any]:
    return {"id": zlib.crc32(text.encode()) % 32000, "text": text, "logprob": -0.1, "special": False}


def _openai_reason(reason: str) -> str:
    return "stop" if reason == "eos_token" else reason


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPUnprocessableEntity(
            text=json.dumps({"error": "Failed to parse the request body as JSON", "error_type": "validation"}),
            content_type="application/json",
        ) from None
    if not isinstance(payload, dict):
        raise web.HTTPUnprocessableEntity(
            text=json.dumps({"error": "expected a JSON object", "error_type": "validation"}),
            content_type="application/json",
        )
    return payload


async def _send(resp: web.StreamResponse, event: dict[str, Any], *, space: bool = False) -> None:
    """One server-sent event: TGI's native routes write `data:{json}`, its OpenAI routes `data: {json}`."""
    await resp.write((b"data: " if space else b"data:") + json.dumps(event).encode() + b"\n\n")


async def _sse(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    return resp
