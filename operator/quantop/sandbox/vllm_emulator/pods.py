"""What the sandbox's node simulator runs for a vLLM container: the emulator with the pod's own arguments."""

from __future__ import annotations

from quantop.sandbox.tgi_emulator import profile_for

#: vLLM method -> the TGI emulator profile that plays it (vLLM's bitsandbytes is 4-bit in flight).
PROFILE_METHOD = {"awq_marlin": "awq", "gptq_marlin": "gptq", "bitsandbytes": "bitsandbytes-nf4"}


def _arg(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def vllm_emulate_args(container_args: list[str], port: int, gpu: str) -> list[str]:
    """`quantop emulate --engine vllm ...` arguments for a container built by resources/vllm.py."""
    method = _arg(container_args, "--quantization") or "none"
    model = container_args[0] if container_args and not container_args[0].startswith("-") else "model"
    argv = ["emulate", "--engine", "vllm", "--port", str(port), "--model-id", model]
    argv += ["--profile", profile_for(gpu, PROFILE_METHOD.get(method, method)).name]
    if max_len := _arg(container_args, "--max-model-len"):
        argv += ["--max-total-tokens", max_len]
    if seqs := _arg(container_args, "--max-num-seqs"):
        argv += ["--max-num-seqs", seqs]
    return argv
