"""What the emulated model says: the gold SQL when this configuration gets the question right, else a wrong query.

The emulator finds the question in the prompt (the `Question: ` line of quantop's prompt
template) and looks it up in the built-in held-out set. Who gets what right follows a shared
latent difficulty plus per-configuration discordance, as measured for quantized models:

- each question has one difficulty (a hash of the question), shared by every configuration;
  the unquantized reference answers the `REFERENCE_ACCURACY` easiest ones;
- a configuration with accuracy a and discordance d changes d of all answers relative to the
  reference: it loses (d + (ref - a))/2 of them that the reference had and gains
  (d - (ref - a))/2 that it had not, each question decided by a hash of the question and the
  configuration's seed, so the result is deterministic per (question, configuration seed).

So equal accuracy does not mean equal answers (Dutta et al., "Accuracy is Not All You Need",
NeurIPS 2024, arXiv:2407.09141, measure such "flips" for quantized models even where accuracy
barely moves), and a paired comparison sees the discordant pairs a real one would.
A wrong answer is a rewrite of the gold query whose result really differs, so the scorer,
not the emulator, decides what counts as correct.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache

from quantop.validation.dataset import Example, load_dataset
from quantop.validation.scoring import execution_match

from .sql_variants import wrong_sql_variants

QUESTION = re.compile(r"^Question:\s*(.+?)\s*$", re.MULTILINE)
EXPLANATION = (
    "This query reads the tables in the schema above, applies the conditions from the question "
    "and returns the requested columns. It uses only standard SQLite syntax, so it runs unchanged "
    "on the given schema, and it does not modify any data. "
)


@cache
def _builtin() -> dict[str, Example]:
    return {ex.prompt.strip(): ex for ex in load_dataset("builtin:text-to-sql")}


#: Accuracy of the unquantized reference on the built-in set (the guide's "default" profile).
REFERENCE_ACCURACY = 0.70


def _unit(*parts: object) -> float:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def knows(question: str, accuracy: float, seed: int, discordance: float = 0.0) -> bool:
    """Whether the configuration (accuracy, seed, discordance) answers `question` right.

    Discordance below |accuracy - reference| is raised to it: that many answers must change.
    """
    reference = _unit("difficulty", question) < REFERENCE_ACCURACY
    delta = REFERENCE_ACCURACY - min(max(accuracy, 0.0), 1.0)
    changed = min(max(discordance, abs(delta)), 1.0)
    lose = min((changed + delta) / 2 / REFERENCE_ACCURACY, 1.0)
    gain = min((changed - delta) / 2 / (1 - REFERENCE_ACCURACY), 1.0)
    flip = _unit("flip", seed, question)
    return flip >= lose if reference else flip < gain


@cache
def wrong_answer(question: str) -> str:
    ex = _builtin()[question]
    for variant in wrong_sql_variants(ex.answer):
        if not execution_match(ex.context, ex.answer, variant).correct:
            return variant
    return "SELECT NULL"


def sql_for(prompt: str, accuracy: float, seed: int, discordance: float) -> str:
    match = QUESTION.search(prompt)
    question = match.group(1) if match else ""
    example = _builtin().get(question)
    if example is None:
        return "SELECT 1"
    return example.answer if knows(question, accuracy, seed, discordance) else wrong_answer(question)


def answer_text(prompt: str, accuracy: float, seed: int, discordance: float) -> str:
    """The full answer: the query in a fenced block, then an explanation, as chat models write."""
    return f"```sql\n{sql_for(prompt, accuracy, seed, discordance)}\n```\n\n{EXPLANATION * 4}"


TOKEN = re.compile(r"\s*\S+|\s+")


def tokenize(text: str) -> list[str]:
    """Whitespace-attached word pieces: each is one streamed token."""
    return TOKEN.findall(text)


def count_tokens(text: str) -> int:
    # Roughly four characters per token, as for Llama-family tokenizers on English.
    return max(1, len(text) // 4)
