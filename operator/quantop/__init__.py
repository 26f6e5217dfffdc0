"""quantop: serve quantized LLMs with TGI on Kubernetes, promoted only after they prove themselves."""

__version__ = "0.1.0"
