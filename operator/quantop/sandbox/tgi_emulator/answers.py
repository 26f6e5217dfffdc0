"""What the emulated model says: the gold SQL with probability `accuracy`, else a wrong query.

The emulator finds the question in the prompt (the `Question: ` line of quantop's prompt
template), looks it up in the built-in held-out set, and decides per question, from a hash
of the question and the profile's seed, whether this configuration "knows" it. Because the
decision is a threshold on a fixed number per question, a less accurate configuration fails
a superset of the questions a more accurate one fails, as quantization error tends to.
A wrong answer is a rewrite of the gold query whose result really differs, so the scorer,
not the emulator, decides what counts as correct.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache

from quantop.validation.dataset import Example, load_dataset
from quantop.validation.scoring import execution_match, wrong_sql_variants

QUESTION = re.compile(r"^Question:\s*(.+?)\s*$", re.MULTILINE)
EXPLANATION = (
    "This query reads the tables in the schema above, applies the conditions from the question "
    "and returns the requested columns. It uses only standard SQLite syntax, so it runs unchanged "
    "on the given schema, and it does not modify any data. "
)


@cache
def _builtin() -> dict[str, Example]:
    return {ex.prompt.strip(): ex for ex in load_dataset("builtin:text-to-sql")}


def knows(question: str, accuracy: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{question}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < accuracy


@cache
def wrong_answer(question: str) -> str:
    ex = _builtin()[question]
    for variant in wrong_sql_variants(ex.answer):
        if not execution_match(ex.context, ex.answer, variant).correct:
            return variant
    return "SELECT NULL"


def sql_for(prompt: str, accuracy: float, seed: int) -> str:
    match = QUESTION.search(prompt)
    question = match.group(1) if match else ""
    example = _builtin().get(question)
    if example is None:
        return "SELECT 1"
    return example.answer if knows(question, accuracy, seed) else wrong_answer(question)


def answer_text(prompt: str, accuracy: float, seed: int) -> str:
    """The full answer: the query in a fenced block, then an explanation, as chat models write."""
    return f"```sql\n{sql_for(prompt, accuracy, seed)}\n```\n\n{EXPLANATION * 4}"


TOKEN = re.compile(r"\s*\S+|\s+")


def tokenize(text: str) -> list[str]:
    """Whitespace-attached word pieces: each is one streamed token."""
    return TOKEN.findall(text)


def count_tokens(text: str) -> int:
    # Roughly four characters per token, as for Llama-family tokenizers on English.
    return max(1, len(text) // 4)
