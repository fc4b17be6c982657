"""The training benchmark: wrong settings fail before anything is timed, a tiny run gives a full row, and the
record it keeps is the one the README's speed table reads."""

from __future__ import annotations

import pytest
import torch

from experiments.benchmarks import train_section
from experiments.throughput import benchmark_agent, check_benchmark, train_record


def test_settings_default_to_every_agent():
    models, device, data = check_benchmark((), ("fp32",), 0, "cpu", "FlatLand-v0")
    assert "rgrvae" in models and list(models) == sorted(models)
    assert device == torch.device("cpu") and data.env_id == "FlatLand-v0"


@pytest.mark.parametrize(("models", "precisions", "batch_size", "message"), [
    (("nope",), ("fp32",), 0, "unknown model 'nope'"),
    (("vae",), ("fp16",), 0, "precisions must be fp32 or bf16"),
    (("vae",), ("fp32",), -1, "batch_size must be >= 0"),
])
def test_wrong_settings_are_refused(models, precisions, batch_size, message):
    with pytest.raises(ValueError, match=message):
        check_benchmark(models, precisions, batch_size, "cpu", "FlatLand-v0")


def test_a_tiny_run_gives_a_row_that_renders_in_the_readme_table():
    torch.set_num_threads(1)
    _, _, data = check_benchmark(("vae",), ("fp32",), 4, "cpu", "FlatLand-v0")
    row = benchmark_agent("vae", "fp32", data, batch_size=4, device="cpu", updates=1, warmup=0, peak=10.0)
    assert row["batch_size"] == 4 and row["pairs_per_second"] > 0 and row["mflop_per_pair"] > 0
    assert row["share_of_peak"] == pytest.approx(row["gflops"] / 10.0)
    record = train_record([row], "cpu (test)", "FlatLand-v0", updates=1, warmup=0, peak=10.0, auto_precision="fp32")
    assert record["torch"] == torch.__version__
    assert "| vae | fp32 | 4 |" in train_section(record)
