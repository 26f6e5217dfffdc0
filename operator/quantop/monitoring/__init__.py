"""Monitoring: how TGI is scraped (and, to come, operator metrics, rules and dashboards)."""

from .scrape import POD_LABELS, tgi_relabel_configs, tgi_relabelings

__all__ = ["POD_LABELS", "tgi_relabel_configs", "tgi_relabelings"]
