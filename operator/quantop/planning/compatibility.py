"""Method x GPU: the guide's hardware table, corrected by what TGI's kernels really do.

Guide: FP8 ✅ H100, ⚠️ A100, ❌ A10/T4/V100; INT4 ⚠️ T4, ❌ V100; INT8 ⚠️ V100.
TGI (server/text_generation_server/layers/): `fp8.py:get_fp8_linear` picks the Marlin FP8
kernel (weight-only W8A16) below compute capability 8.9 and native W8A8 (CUTLASS) from 8.9
(on 8.9 only with USE_CUTLASS_W8A8=1); Marlin needs 8.0, so fp8 fails on 7.x. That is why the
guide's own benchmark could run `--quantize fp8` on an A10 (8.6) while its table says ❌:
it ran weight-only. The Marlin/exllama kernels behind gptq, awq, marlin and exl2 need 8.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from quantop.api import PREQUANTIZED_METHODS, QuantizationMethod, Reason

from .catalog import GpuSpec
from .models import ModelInfo

Q = QuantizationMethod


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    NO = "no"

    @property
    def icon(self) -> str:
        return {"ok": "✅", "warn": "⚠️", "no": "❌"}[self.value]


@dataclass(frozen=True)
class Compat:
    level: Level
    reason: str
    message: str
    #: A fix that is not another method (the planner adds the methods that run and fit on that GPU).
    fix: str = ""


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _gpu(gpu: GpuSpec) -> str:
    return f"{gpu.name.upper()} (compute capability {gpu.cc:.1f})"


def compatibility(method: QuantizationMethod, gpu: GpuSpec, model: ModelInfo) -> Compat:
    cc = gpu.cc
    ok = Compat(Level.OK, Reason.PLANNED, f"{method.value} runs natively on {_gpu(gpu)}")
    if method in PREQUANTIZED_METHODS and model.quantized_format != method:
        have = f"it is {model.quantized_format.value}" if model.quantized_format else "it is not pre-quantized"
        return Compat(
            Level.NO,
            Reason.REQUIRES_PREQUANTIZED_MODEL,
            f"--quantize {method.value} needs a checkpoint already quantized with {method.value} ({model.id}: {have})",
            f"use {_a(method.value)} repository (set spec.model.quantizedFormat if quantop does not know it)",
        )
    if method == Q.NONE:
        if cc < 8.0:
            return Compat(Level.OK, Reason.PLANNED, f"unquantized fp16 on {_gpu(gpu)} (bfloat16 needs 8.0+)")
        return Compat(Level.OK, Reason.PLANNED, f"unquantized bfloat16 on {_gpu(gpu)}: the baseline")
    if method == Q.FP8:
        if cc >= 9.0:
            return Compat(Level.OK, Reason.PLANNED, f"fp8 runs native W8A8 FP8 kernels on {_gpu(gpu)}")
        if cc >= 8.9:
            return Compat(
                Level.WARN,
                Reason.SUPPORTED_WITH_CAVEATS,
                f"fp8 on {_gpu(gpu)} runs weight-only Marlin FP8 unless the pod sets USE_CUTLASS_W8A8=1: "
                "weights halved vs fp16; native FP8 compute needs that switch",
            )
        if cc >= 8.0:
            return Compat(
                Level.WARN,
                Reason.SUPPORTED_WITH_CAVEATS,
                f"fp8 on {gpu.name.upper()} runs weight-only (Marlin W8A16, compute capability {gpu.cc:.1f}): "
                "weights halved vs fp16, no FP8 compute speed-up",
            )
        return Compat(
            Level.NO,
            Reason.METHOD_UNSUPPORTED_ON_GPU,
            f"fp8 needs compute capability 8.0+ (weight-only) or 8.9+ (native); {_gpu(gpu)} has neither",
        )
    if method in (Q.EETQ, Q.BITSANDBYTES):
        if cc < 7.5:
            return Compat(
                Level.WARN,
                Reason.SUPPORTED_WITH_CAVEATS,
                f"8-bit {method.value} on {_gpu(gpu)} works with caveats (the guide marks INT8 partial on V100): "
                "expect little or no speed-up; validate latency before trusting it",
            )
        if method == Q.BITSANDBYTES:
            return Compat(
                Level.OK,
                Reason.PLANNED,
                f"bitsandbytes 8-bit runs on {_gpu(gpu)}; it halves weight memory but is much slower than fp16 "
                "(the guide measured 0.4x; TGI deprecates it): eetq gives the same memory at full speed",
            )
        return ok
    if method in (Q.BITSANDBYTES_NF4, Q.BITSANDBYTES_FP4, Q.GPTQ, Q.AWQ):
        if cc < 7.5:
            return Compat(
                Level.NO,
                Reason.METHOD_UNSUPPORTED_ON_GPU,
                f"4-bit {method.value} is not supported on {_gpu(gpu)} (the guide marks INT4 unsupported on V100)",
                "use a newer GPU",
            )
        if cc < 8.0:
            return Compat(
                Level.WARN,
                Reason.SUPPORTED_WITH_CAVEATS,
                f"4-bit {method.value} on {_gpu(gpu)} falls back to slower kernels (Marlin/exllama need 8.0+): "
                "memory quartered vs fp16, latency higher",
            )
        if method in (Q.BITSANDBYTES_NF4, Q.BITSANDBYTES_FP4):
            return Compat(
                Level.OK,
                Reason.PLANNED,
                f"{method.value} runs on {_gpu(gpu)}; it quarters weight memory but dequantizes on the fly "
                "(the guide measured 0.7x speed on an A10)",
            )
        return ok
    if method in (Q.MARLIN, Q.EXL2, Q.COMPRESSED_TENSORS):
        if cc < 8.0:
            return Compat(
                Level.NO,
                Reason.METHOD_UNSUPPORTED_ON_GPU,
                f"{method.value} kernels (Marlin/exllamav2/CUTLASS) need compute capability 8.0+; {_gpu(gpu)} has less",
            )
        return ok
    return ok  # pragma: no cover - every method is handled above
