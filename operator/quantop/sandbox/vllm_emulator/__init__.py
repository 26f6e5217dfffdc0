"""A faithful stand-in for vLLM's OpenAI-compatible server: same routes, payloads, errors and metric names."""

from .server import VllmEmulator

__all__ = ["VllmEmulator"]
