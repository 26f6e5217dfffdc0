"""Build-time generators of committed files: the Grafana dashboards and the built-in text-to-SQL set.

They are not part of the product: the operator image does not ship them, and `make generate` runs them
with `PYTHONPATH=tools` (pytest and mypy have tools/ on their path, so the drift tests import them).
"""
