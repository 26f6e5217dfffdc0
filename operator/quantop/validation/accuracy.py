"""Accuracy on the held-out set: ask the endpoint each question, score each answer.

Requests go to TGI's `/generate` with greedy decoding, at bounded concurrency so the check
measures the model, not a queue. A timeout or an HTTP error scores as wrong (the user would
have got no answer) and is also counted apart, so "inaccurate" and "unavailable" can be told
apart in the report.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from .dataset import Example
from .load import LoadError
from .scoring import prompt_for
from .scoring_sandbox import SandboxLimits, ScoringPool
from .stats import wilson_interval

MAX_FAILURE_EXAMPLES = 5


@dataclass
class Failure:
    id: str
    question: str
    expected: str
    answer: str
    reason: str


@dataclass
class AccuracyResult:
    metric: str
    samples: int
    correct: int
    request_errors: dict[str, int]
    per_domain: dict[str, dict[str, float]]
    failures: list[Failure] = field(default_factory=list)
    #: Per-item results in the order asked (the draw order), for pairing and the sequential gates.
    outcomes: list[bool] = field(default_factory=list)
    #: Items the budget allowed; more than `samples` when the run stopped once its verdict was certain.
    planned: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.samples if self.samples else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.samples)


@dataclass(frozen=True)
class Outcome:
    example: Example
    correct: bool
    answer: str
    reason: str | None
    request_error: str | None = None


class UnjudgeableError(LoadError):
    """The endpoint's answers are not TGI answers, so its accuracy cannot be judged (exit 2, not a failed gate).

    A LoadError, so a caller that stops with a one-line reason on an unusable endpoint stops on this too."""


#: Error kinds that mean "this is not TGI's protocol", as opposed to a server that failed to answer.
PROTOCOL_ERRORS = ("shape_", "invalid_json", "too_large")


def unjudgeable(result: AccuracyResult) -> str | None:
    """Why the result says nothing about the model (more than half the answers were not TGI's), or None."""
    protocol = {k: n for k, n in result.request_errors.items() if k.startswith(PROTOCOL_ERRORS)}
    if not result.samples or 2 * sum(protocol.values()) <= result.samples:
        return None
    kinds = ", ".join(f"{k}: {n}" for k, n in protocol.items())
    return (
        f"accuracy cannot be judged: {sum(protocol.values())} of {result.samples} answers were not TGI "
        f"/generate answers ({kinds}); check that --endpoint is a TGI server"
    )


#: A generated answer of 256 tokens is a few KiB; anything past this is not an answer.
MAX_RESPONSE_BYTES = 1 << 20


def answer_text(payload: Any) -> tuple[str | None, str | None]:
    """(generated text, None) from TGI's /generate JSON, or (None, the kind of wrong shape)."""
    if isinstance(payload, list):  # TGI answers a list when asked with a list of inputs
        if not payload:
            return None, "shape_empty_list"
        payload = payload[0]
    if not isinstance(payload, dict):
        kind = "null" if payload is None else type(payload).__name__
        return None, f"shape_{kind}"
    text = payload.get("generated_text")
    if not isinstance(text, str):
        return None, "shape_no_generated_text" if text is None else "shape_generated_text_not_a_string"
    return text, None


def completion_text(payload: Any) -> tuple[str | None, str | None]:
    """(generated text, None) from an OpenAI /v1/completions JSON (vLLM, TGI), or (None, the kind of wrong shape)."""
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, "shape_no_choices"
    text = choices[0].get("text")
    if not isinstance(text, str):
        return None, "shape_no_text"
    return text, None


async def _read_capped(resp: httpx.Response) -> bytes | None:
    body = b""
    async for chunk in resp.aiter_bytes():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            return None
    return body


async def _post(
    client: httpx.AsyncClient, body: dict[str, Any], path: str = "/generate"
) -> tuple[bytes | None, str | None]:
    """(response body, None) or (None, error kind)."""
    try:
        async with client.stream("POST", path, json=body) as resp:
            if resp.status_code != 200:
                return None, f"http_{resp.status_code}"
            content = await _read_capped(resp)
            return (content, None) if content is not None else (None, "too_large")
    except httpx.TimeoutException:
        return None, "timeout"
    except httpx.HTTPError:
        return None, "connection"


async def _ask(
    client: httpx.AsyncClient,
    example: Example,
    max_new_tokens: int,
    deadline_s: float = 120.0,
    served_model: str | None = None,
) -> tuple[str | None, str | None]:
    """(answer, request error kind). The deadline covers the whole exchange: a server that drips
    one byte at a time resets a read timeout for ever, but not this. With `served_model`, the
    same prompt goes to the OpenAI /v1/completions route (greedy: temperature 0) instead."""
    body: dict[str, Any]
    if served_model is None:
        path = "/generate"
        body = {"inputs": prompt_for(example), "parameters": {"max_new_tokens": max_new_tokens, "do_sample": False}}
    else:
        path = "/v1/completions"
        body = {"model": served_model, "prompt": prompt_for(example), "max_tokens": max_new_tokens, "temperature": 0}
    try:
        async with asyncio.timeout(deadline_s):
            content, error = await _post(client, body, path)
    except TimeoutError:
        return None, "timeout"
    if content is None:
        return None, error
    try:
        payload: Any = json.loads(content)
    except (ValueError, RecursionError):
        return None, "invalid_json"
    return answer_text(payload) if served_model is None else completion_text(payload)


async def evaluate(
    endpoint: str,
    examples: Sequence[Example],
    *,
    metric: str,
    concurrency: int = 8,
    max_new_tokens: int = 256,
    timeout_s: float = 120.0,
    progress: Callable[[int, int], None] | None = None,
    scoring_workers: int | None = None,
    sandbox: SandboxLimits | None = None,
    served_model: str | None = None,
    stop: Callable[[Sequence[bool]], bool] | None = None,
) -> AccuracyResult:
    """Ask and score the examples in order; `timeout_s` is each request's total deadline. Scoring runs
    in a pool of confined worker processes (see scoring_sandbox), never in this process.

    With `stop`, examples are asked a round of `concurrency` at a time and `stop(outcomes so far)`
    is asked after each round: True ends the evaluation there (its verdict is certain).

    Raises UnjudgeableError when most answers are not TGI answers at all."""
    semaphore = asyncio.Semaphore(concurrency)
    done = 0
    workers = scoring_workers or min(concurrency, os.cpu_count() or 1, 4)
    rounds = [examples[i : i + concurrency] for i in range(0, len(examples), concurrency)] if stop else [examples]

    async def one(client: httpx.AsyncClient, pool: ScoringPool, example: Example) -> Outcome:
        nonlocal done
        async with semaphore:
            answer, error = await _ask(client, example, max_new_tokens, timeout_s, served_model)
        done += 1
        if progress is not None:
            progress(done, len(examples))
        if error is not None:
            return Outcome(example, False, "", error, request_error=error)
        scored = await pool.score(metric, example, answer or "")
        return Outcome(example, scored.correct, answer or "", scored.error)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with (
        ScoringPool(workers, sandbox) as pool,
        httpx.AsyncClient(base_url=endpoint.rstrip("/"), timeout=timeout_s, limits=limits) as client,
    ):
        outcomes: list[Outcome] = []
        for batch in rounds:
            outcomes += await asyncio.gather(*(one(client, pool, ex) for ex in batch))  # gather keeps the order
            if stop is not None and len(outcomes) < len(examples) and stop([o.correct for o in outcomes]):
                break
    result = summarize(metric, outcomes)
    result.planned = len(examples)
    reason = unjudgeable(result)
    if reason is not None:
        raise UnjudgeableError(reason)
    return result


def summarize(metric: str, outcomes: Sequence[Outcome]) -> AccuracyResult:
    by_domain: dict[str, list[bool]] = defaultdict(list)
    for o in outcomes:
        by_domain[o.example.domain or "-"].append(o.correct)
    failures = [
        Failure(
            id=o.example.id,
            question=o.example.prompt,
            expected=o.example.answer,
            answer=o.answer[:300],
            reason=o.reason or "result differs from the expected query's",
        )
        for o in outcomes
        if not o.correct
    ][:MAX_FAILURE_EXAMPLES]
    return AccuracyResult(
        metric=metric,
        samples=len(outcomes),
        correct=sum(o.correct for o in outcomes),
        request_errors=dict(sorted(Counter(o.request_error for o in outcomes if o.request_error).items())),
        per_domain={
            d: {"samples": len(v), "correct": sum(v), "accuracy": sum(v) / len(v)} for d, v in sorted(by_domain.items())
        },
        failures=failures,
        outcomes=[o.correct for o in outcomes],
        planned=len(outcomes),
    )
