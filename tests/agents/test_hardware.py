"""Device and precision are decided from what the hardware reports, both ways, with the queries mocked."""

from __future__ import annotations

import pytest
import torch
from agent_helpers import tiny_agent

from agents import hardware
from agents.hardware import choose_precision, resolve_device

CPU = torch.device("cpu")
CUDA = torch.device("cuda")


def _cpu(monkeypatch, amx: bool, avx512_bf16: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)


@pytest.mark.parametrize(
    "amx, avx512_bf16, expected", [(False, False, "fp32"), (True, False, "bf16"), (False, True, "bf16")]
)
def test_auto_picks_bf16_only_on_cpus_with_native_bf16(monkeypatch, amx, avx512_bf16, expected):
    _cpu(monkeypatch, amx, avx512_bf16)
    assert choose_precision("auto", CPU) == expected


@pytest.mark.parametrize("supported, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_on_cuda_follows_the_devices_bf16_support(monkeypatch, supported, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    assert choose_precision("auto", CUDA) == expected


def test_an_explicit_precision_is_kept_whatever_the_hardware(monkeypatch):
    _cpu(monkeypatch, False, False)
    assert choose_precision("bf16", CPU) == "bf16"
    _cpu(monkeypatch, True, True)
    assert choose_precision("fp32", CPU) == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("fp16", CPU)


def test_a_cpu_without_the_queries_counts_as_without_native_bf16(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    assert hardware.cpu_has_native_bf16() is False


def test_the_agent_records_the_precision_it_chose(monkeypatch):
    _cpu(monkeypatch, False, False)
    assert tiny_agent().precision == "fp32"
    _cpu(monkeypatch, False, True)
    assert tiny_agent().precision == "bf16"


def test_cuda_asked_for_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
