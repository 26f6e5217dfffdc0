"""Rewrite the generated parts of docs/: the compatibility matrix in docs/planner.md, the report schema."""

from __future__ import annotations

from pathlib import Path

from quantop.planning.matrix import BEGIN, END, compatibility_markdown
from quantop.planning.vllm import MATRIX_BEGIN, MATRIX_END, vllm_matrix_markdown
from quantop.validation.report import report_schema_json

path = Path(__file__).resolve().parents[1] / "docs" / "planner.md"
text = path.read_text()
start, end = text.index(BEGIN), text.index(END) + len(END)
path.write_text(text[:start] + compatibility_markdown() + text[end:])

# The vLLM matrix in docs/engines.md.
path = Path(__file__).resolve().parents[1] / "docs" / "engines.md"
text = path.read_text()
start, end = text.index(MATRIX_BEGIN), text.index(MATRIX_END) + len(MATRIX_END)
path.write_text(text[:start] + vllm_matrix_markdown() + text[end:])

# The validation report's JSON Schema: one definition (quantop.validation.report), documented here.
schema = Path(__file__).resolve().parents[1] / "docs" / "validation-report.schema.json"
schema.write_text(report_schema_json())
