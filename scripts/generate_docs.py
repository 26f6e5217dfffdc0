"""Rewrite the generated sections of docs/ (the compatibility matrix in docs/planner.md)."""

from __future__ import annotations

from pathlib import Path

from quantop.planning.matrix import BEGIN, END, compatibility_markdown

path = Path(__file__).resolve().parents[1] / "docs" / "planner.md"
text = path.read_text()
start, end = text.index(BEGIN), text.index(END) + len(END)
path.write_text(text[:start] + compatibility_markdown() + text[end:])
