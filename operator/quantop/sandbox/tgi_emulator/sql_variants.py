"""Plausible but wrong rewrites of a gold SQL query: the TGI emulator's wrong answers.

A quantized profile loses some answers; the emulator then answers with one of these rewrites whose
rows differ from the gold's, so execution-match scoring sees a real miss. Only the emulator uses it,
so it lives in the sandbox, out of the product image.
"""

from __future__ import annotations

from quantop.validation.scoring import normalize_sql, tokenize

_FLIP = {">": "<", "<": ">", ">=": "<", "<=": ">", "=": "<>", "<>": "=", "!=": "="}
_AGGREGATES = {"sum": ("AVG", "COUNT"), "avg": ("SUM",), "max": ("MIN",), "min": ("MAX",), "count": ("SUM",)}
_SWAP = {"asc": "DESC", "desc": "ASC", "rank": "ROW_NUMBER", "row_number": "RANK"}
_CLAUSE_END = {"group", "order", "limit", "having", "window", "union", "except", "intersect", ";"}
Lexeme = tuple[str, str, str]  # (kind, text, the whitespace and comments before it)


def wrong_sql_variants(gold: str) -> list[str]:
    """Plausible but wrong rewrites of `gold`, in a stable order. Some may still give the gold's result;
    callers that need a wrong answer run them and keep one whose rows differ."""
    lexemes, tail = _lexemes(gold)
    words = [text.lower() for _kind, text, _lead in lexemes]
    variants: list[str] = []

    def edit(start: int, end: int, text: str) -> None:
        lead = lexemes[start][2] if start < len(lexemes) and start != end else ""
        before = "".join(lead + t for _k, t, lead in lexemes[:start])
        after = "".join(lead + t for _k, t, lead in lexemes[end:])
        variants.append(before + (lead + text if text else "") + after + tail)

    for i, (kind, text, _lead) in enumerate(lexemes):
        word, following = words[i], words[i + 1] if i + 1 < len(words) else ""
        if kind == "op" and text in _FLIP:
            edit(i, i + 1, _FLIP[text])
        elif kind == "num":
            for other in _other_numbers(text):
                edit(i, i + 1, other)
        elif kind != "word":
            continue
        elif word in _AGGREGATES and following == "(":
            for other in _AGGREGATES[word]:
                if not (other == "SUM" and words[i + 2 : i + 3] == ["*"]):
                    edit(i, i + 1, other)
        elif word in _SWAP:
            edit(i, i + 1, _SWAP[word])
        elif word == "distinct" or (word == "left" and following in ("join", "outer")):
            edit(i, i + 1 + (following == "outer"), "")
        elif word == "not" and following in ("in", "like", "between", "exists", "null"):
            edit(i, i + 1, "")
        elif word == "is" and following == "null":
            edit(i, i + 1, "IS NOT")
        elif word == "in" and words[i - 1] != "not":
            edit(i, i + 1, "NOT IN")
        elif word in ("where", "having"):
            end = _clause_end(words, i)
            edit(i, end, "")
            for start, stop in _conjuncts(words, i + 1, end):
                edit(start, stop, "")
        elif word == "order" and following == "by":
            end = _clause_end(words, i)
            if not {"asc", "desc"} & set(words[i:end]):
                edit(end, end, " DESC")
        elif word == "partition" and following == "by":
            edit(i, _clause_end(words, i), "")
    seen = {normalize_sql(gold)}
    unique = []
    for variant in variants:
        key = normalize_sql(variant)
        if key and key not in seen:
            seen.add(key)
            unique.append(variant)
    return unique


def _lexemes(sql: str) -> tuple[list[Lexeme], str]:
    out: list[Lexeme] = []
    lead = ""
    for kind, text in tokenize(sql):
        if kind in ("ws", "comment"):
            lead += text
        else:
            out.append((kind, text, lead))
            lead = ""
    return out, lead


def _other_numbers(text: str) -> list[str]:
    if text.isdigit():
        n = int(text)
        return [str(n + 1), str(n * 2 if n > 1 else n + 5)]
    x = float(text)
    return [repr(round(x * 1.5, 2)), repr(round(x + 1, 2))]


def _clause_end(words: list[str], start: int) -> int:
    """Index of the word ending the clause at `start`: the next clause keyword at the same depth or `)`."""
    depth = 0
    for j in range(start + 1, len(words)):
        if words[j] == "(":
            depth += 1
        elif words[j] == ")":
            if depth == 0:
                return j
            depth -= 1
        elif depth == 0 and words[j] in _CLAUSE_END:
            return j
    return len(words)


def _conjuncts(words: list[str], start: int, end: int) -> list[tuple[int, int]]:
    """Spans that remove one AND-ed condition (with its AND) from words[start:end], if there are several."""
    cuts, depth, in_between = [], 0, False
    for j in range(start, end):
        depth += {"(": 1, ")": -1}.get(words[j], 0)
        if depth == 0 and words[j] == "between":
            in_between = True
        elif depth == 0 and words[j] == "and":
            if in_between:
                in_between = False
            else:
                cuts.append(j)
    if not cuts:
        return []
    bounds = [start, *cuts, end]
    spans = [(bounds[0], bounds[1] + 1)]
    spans += [(bounds[k], bounds[k + 1]) for k in range(1, len(bounds) - 1)]
    return spans
