"""The emulated engine: admission as vLLM's OpenAI server does it, then queue, prefill and decode steps.

Timing and answers are the TGI emulator's models (profiles.Profile and answers), so a vLLM
and a TGI emulator with the same profile behave alike and a migration compares like with like.
vLLM differs in what it refuses and how it queues: it answers 400 for a request longer than
--max-model-len (vllm/entrypoints/openai/serving_engine.py: _validate_input) and never answers
429: beyond --max-num-seqs requests wait (vllm:num_requests_waiting).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from quantop.sandbox.tgi_emulator import answers
from quantop.sandbox.tgi_emulator.profiles import Profile

from .metrics import VllmMetrics


class VllmError(Exception):
    """An OpenAI-style error answer: vLLM's ErrorResponse {"error": {message, type, param, code}}."""

    def __init__(self, status: int, kind: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.param = status, kind, message, param

    def body(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.status}}


def bad_request(message: str, param: str | None = None) -> VllmError:
    return VllmError(400, "BadRequestError", message, param)


@dataclass
class Request:
    """One admitted request and the server's own record of it."""

    prompt: str
    prompt_tokens: int
    max_tokens: int
    fault: str | None
    start: float = field(default_factory=time.perf_counter)
    tokens: list[str] = field(default_factory=list)
    planned: int = 0
    ttft_s: float | None = None
    finish_reason: str = "length"


class EmulatedEngine:
    """Queue + batch of at most max_num_seqs sequences, decoding one token per step."""

    def __init__(self, profile: Profile, *, model: str, max_model_len: int, max_num_seqs: int, kv_tokens: int) -> None:
        self.profile, self.model, self.max_model_len = profile, model, max_model_len
        self.metrics = VllmMetrics(model, max_model_len)
        self.kv_tokens = kv_tokens
        self.rng = random.Random(profile.seed)
        self._slots = asyncio.Semaphore(max_num_seqs)
        self.running: list[Request] = []
        self.waiting = 0

    def admit(self, prompt: str, max_tokens: int | None) -> Request:
        """vLLM's checks before a request is queued; a VllmError says what to fix."""
        n_prompt = answers.count_tokens(prompt)
        if max_tokens is None:
            max_tokens = self.max_model_len - n_prompt
        if max_tokens < 1:
            raise bad_request(f"max_tokens must be at least 1, got {max_tokens}.", "max_tokens")
        if n_prompt + max_tokens > self.max_model_len:
            raise bad_request(
                f"This model's maximum context length is {self.max_model_len} tokens. However, you requested "
                f"{n_prompt + max_tokens} tokens ({n_prompt} in the messages, {max_tokens} in the completion). "
                "Please reduce the length of the messages or completion.",
                "input_tokens",
            )
        fault = None
        if self.profile.error_rate > 0 and self.rng.random() < self.profile.error_rate:
            fault = self.rng.choice(self.profile.error_kinds)
        self.metrics.observe("vllm:request_params_max_tokens", max_tokens)
        return Request(prompt, n_prompt, max_tokens, fault)

    async def generate(self, req: Request) -> AsyncIterator[str]:
        """Wait for a batch slot, prefill, then one token per decode step; VllmError for injected faults."""
        self.waiting += 1
        queued = True
        self._gauges()
        try:
            async with self._slots:
                self.waiting, queued = self.waiting - 1, False
                self.running.append(req)
                self._gauges()
                try:
                    async for piece in self._decode(req):
                        yield piece
                finally:
                    self.running.remove(req)
        finally:
            if queued:  # the client went away while the request waited
                self.waiting -= 1
            self._gauges()

    async def _decode(self, req: Request) -> AsyncIterator[str]:
        p = self.profile
        scheduled = time.perf_counter()
        self.metrics.observe("vllm:request_queue_time_seconds", scheduled - req.start)
        factor = math.exp(self.rng.gauss(0.0, p.sigma))  # one slowness per request, as the TGI emulator
        pieces = answers.tokenize(answers.answer_text(req.prompt, p.accuracy, p.seed, p.discordance))[: req.max_tokens]
        req.planned = len(pieces)
        req.finish_reason = "length" if len(pieces) == req.max_tokens else "stop"
        fail_at = self.rng.randint(1, max(len(pieces) - 1, 1)) if req.fault else None
        deadline = scheduled + p.prefill_ms * p.latency_scale * factor / 1000
        previous = scheduled
        for i, piece in enumerate(pieces):
            if i:
                deadline += p.step_ms(len(self.running)) * factor / 1000
            await asyncio.sleep(max(deadline - time.perf_counter(), 0))
            now = time.perf_counter()
            if i == 0:
                req.ttft_s = now - req.start
                self.metrics.observe("vllm:time_to_first_token_seconds", req.ttft_s)
                self.metrics.observe("vllm:request_prefill_time_seconds", now - scheduled)
                self.metrics.inc("vllm:prompt_tokens", by=req.prompt_tokens)
            else:
                self.metrics.observe("vllm:inter_token_latency_seconds", now - previous)
            previous = now
            if fail_at is not None and i == fail_at:
                raise VllmError(
                    500, "InternalServerError", f"{req.fault}: the engine failed during generation (emulated)"
                )
            req.tokens.append(piece)
            self.metrics.inc("vllm:generation_tokens")
            self._gauges()
            yield piece
        self._finished(req, scheduled)

    def _finished(self, req: Request, scheduled: float) -> None:
        now = time.perf_counter()
        m, n = self.metrics, len(req.tokens)
        m.inc("vllm:request_success", (("finished_reason", req.finish_reason),))
        m.observe("vllm:e2e_request_latency_seconds", now - req.start)
        m.observe("vllm:request_inference_time_seconds", now - scheduled)
        m.observe("vllm:request_decode_time_seconds", now - req.start - (req.ttft_s or 0))
        m.observe("vllm:request_prompt_tokens", req.prompt_tokens)
        m.observe("vllm:request_generation_tokens", n)
        if n > 1 and req.ttft_s is not None:
            m.observe("vllm:request_time_per_output_token_seconds", (now - req.start - req.ttft_s) / (n - 1))

    def _gauges(self) -> None:
        used = sum(r.prompt_tokens + len(r.tokens) for r in self.running)
        self.metrics.gauges["vllm:num_requests_running"] = len(self.running)
        self.metrics.gauges["vllm:num_requests_waiting"] = self.waiting
        self.metrics.gauges["vllm:kv_cache_usage_perc"] = min(used / self.kv_tokens, 1.0) if self.kv_tokens else 0.0
