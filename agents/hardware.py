"""Which device and which precision a run uses, decided from what the hardware reports.

bf16 autocast halves the memory traffic of the conv nets, but it is only fast where the
hardware computes bf16 natively: CUDA devices with bf16 support, and CPUs with AMX or
AVX512-BF16 instructions (as torch reports them). Elsewhere, e.g. on an AVX2 laptop CPU,
torch falls back to slow kernels and bf16 is several times slower than float32, so
``precision="auto"`` picks float32 there.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when present; everything also runs on CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here; use 'cpu' or 'auto'")
    return torch.device(device)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AMX tiles or AVX512-BF16), as torch reports it."""
    queries = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, q, lambda: False)()) for q in queries)


def cuda_has_bf16(device: torch.device) -> bool:
    """Whether a CUDA device supports bf16 (Ampere and newer)."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def choose_precision(precision: str, device: torch.device) -> Literal["fp32", "bf16"]:
    """The precision a run uses: ``precision`` itself, or for "auto" bf16 only where it is native (see module doc)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision  # type: ignore[return-value]
    native = cuda_has_bf16(device) if device.type == "cuda" else device.type == "cpu" and cpu_has_native_bf16()
    return "bf16" if native else "fp32"


def describe_hardware(device: torch.device) -> str:
    """One line for the start of a run: device, CPU capability, threads."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.backends.cpu.get_cpu_capability()}, native bf16: {cpu_has_native_bf16()}, " \
           f"{torch.get_num_threads()} threads)"
