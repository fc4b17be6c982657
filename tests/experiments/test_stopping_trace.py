"""The stopping trace: held-out seeds are refused, a traced run records every check of the rule beside the
criteria, and a kept trace replays with the current default rule."""

from __future__ import annotations

import json

import pytest
import torch

from agents.rgrvae import RGrVAE
from experiments.stopping_trace import check_tuning_seeds, replay, trace, trace_path


def _write_trace(path, errors):
    checks = [{"pairs_seen": 32 * (i + 1), "self_error": e, "passed": i % 2 == 1, "equivariance_error": e}
              for i, e in enumerate(errors)]
    path.write_text(json.dumps({"checks": checks}))
    return path


def test_held_out_seeds_are_refused():
    check_tuning_seeds([0, 99])
    with pytest.raises(ValueError, match="held out for reporting"):
        check_tuning_seeds([1, 100])


def test_a_trace_is_kept_per_seed_and_tag(tmp_path):
    assert trace_path(tmp_path, 3, "_fp32") == tmp_path / "stopping_s3_fp32.json"


def test_replay_finds_where_the_default_rule_stops(tmp_path):
    rule = RGrVAE.Config()
    flat = [rule.stop_error / 2] * (rule.stop_patience + 3)
    stops = rule.stop_patience  # the first check with `patience` checks after an earlier one
    text = replay(_write_trace(tmp_path / "flat.json", flat))
    assert f"the default rule stops at {32 * (stops + 1)} pairs; criteria met there: {stops % 2 == 1}" in text
    high = _write_trace(tmp_path / "high.json", [1.0] * 10)
    assert replay(high) == f"{high}: the default rule does not stop within the trace"


def test_a_traced_run_records_each_check_beside_the_criteria():
    torch.set_num_threads(1)
    seen = []
    record = trace(0, total_steps=1, eval_samples=20, rule=RGrVAE.Config(stop_check_every=1), on_check=seen.append)
    assert record["rule"]["stop_check_every"] == 1 and record["config"]["stop_error"] == 0.0  # measured, not applied
    assert record["checks"] == seen and [c["update"] for c in seen] == [1]
    assert set(seen[0]) >= {"self_error", "rule_would_stop", "accuracy", "equivariance_error", "passed"}


def test_the_script_replays_kept_traces_and_refuses_held_out_seeds(load_script, tmp_path, capsys):
    script = load_script("trace_stopping")
    path = _write_trace(tmp_path / "high.json", [1.0] * 5)
    assert script.main(["--replay", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: the default rule does not stop within the trace\n"
    assert script.main(["--seeds", "0", "100"]) == 2
    assert "held out for reporting" in capsys.readouterr().err
