"""Accuracy on the held-out set: ask the endpoint each question, score each answer.

Requests go to TGI's `/generate` with greedy decoding, at bounded concurrency so the check
measures the model, not a queue. A timeout or an HTTP error scores as wrong (the user would
have got no answer) and is also counted apart, so "inaccurate" and "unavailable" can be told
apart in the report.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from .dataset import Example
from .scoring import prompt_for, score_answer
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


async def _ask(client: httpx.AsyncClient, example: Example, max_new_tokens: int) -> tuple[str | None, str | None]:
    """(answer, request error kind)."""
    body = {"inputs": prompt_for(example), "parameters": {"max_new_tokens": max_new_tokens, "do_sample": False}}
    try:
        resp = await client.post("/generate", json=body)
    except httpx.TimeoutException:
        return None, "timeout"
    except httpx.HTTPError as exc:
        return None, f"connection: {type(exc).__name__}"
    if resp.status_code != 200:
        return None, f"http_{resp.status_code}"
    try:
        payload: Any = resp.json()
    except ValueError:
        return None, "invalid JSON"
    if isinstance(payload, list):  # TGI answers a list when asked with a list of inputs
        payload = payload[0] if payload else {}
    return str(payload.get("generated_text", "")), None


async def evaluate(
    endpoint: str,
    examples: Sequence[Example],
    *,
    metric: str,
    concurrency: int = 8,
    max_new_tokens: int = 256,
    timeout_s: float = 120.0,
    progress: Callable[[int, int], None] | None = None,
) -> AccuracyResult:
    semaphore = asyncio.Semaphore(concurrency)
    done = 0

    async def one(client: httpx.AsyncClient, example: Example) -> Outcome:
        nonlocal done
        async with semaphore:
            answer, error = await _ask(client, example, max_new_tokens)
        done += 1
        if progress is not None:
            progress(done, len(examples))
        if error is not None:
            return Outcome(example, False, "", error, request_error=error.split(":")[0])
        scored = score_answer(metric, example, answer or "")
        return Outcome(example, scored.correct, answer or "", scored.error)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=endpoint.rstrip("/"), timeout=timeout_s, limits=limits) as client:
        outcomes = await asyncio.gather(*(one(client, ex) for ex in examples))
    return summarize(metric, outcomes)


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
    )
