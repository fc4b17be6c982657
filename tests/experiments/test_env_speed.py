"""The worlds' benchmark: variants parse or fail clearly, tiny runs give positive rates, and the record it keeps
is the one the README's table reads."""

from __future__ import annotations

import json

import pytest

from experiments.benchmarks import env_section
from experiments.env_speed import (
    collector_rate,
    env_record,
    measure_worlds,
    parse_variant,
    single_env_rate,
    with_relative_rates,
)


def test_a_variant_names_a_world_and_its_keyword_arguments():
    assert parse_variant("Sprites-v0") == ("Sprites-v0", {})
    assert parse_variant("Sprites-v0:offset=4,shapes=square,heart") == (
        "Sprites-v0", {"offset": 4, "shapes": "square,heart"})
    assert parse_variant("FlatLand-v0:size=-3") == ("FlatLand-v0", {"size": -3})


@pytest.mark.parametrize("text", ["Sprites-v0:shapes", "Sprites-v0:offset=4,5", ":offset=4", "Sprites-v0:=4"])
def test_a_malformed_variant_is_refused_with_the_form_expected(text):
    with pytest.raises(ValueError, match=r"expected ID:key=value"):
        parse_variant(text)


def test_tiny_runs_give_positive_rates():
    assert single_env_rate("FlatLand-v0", 50) > 0
    assert collector_rate("FlatLand-v0", transitions=64, batch_size=32, num_envs=2, k=1) > 0


def test_rows_are_relative_to_flatland_only_when_it_was_measured():
    rows = [{"env_id": "FlatLand-v0", "env_kwargs": {}, "transitions_per_second": 200.0},
            {"env_id": "Sprites-v0", "env_kwargs": {}, "transitions_per_second": 50.0}]
    assert [r["transitions_relative_to_flatland"] for r in with_relative_rates(rows)] == [1.0, 0.25]
    assert "transitions_relative_to_flatland" not in rows[0]  # the rows given are left as they were
    variant_only = [{"env_id": "FlatLand-v0", "env_kwargs": {"size": 8}, "transitions_per_second": 1.0}]
    assert with_relative_rates(variant_only)[0]["transitions_relative_to_flatland"] is None


def test_the_kept_record_renders_as_the_readme_table():
    cases = [("FlatLand-v0", {}), parse_variant("Sprites-v0:shapes=square,heart")]
    rows = with_relative_rates(list(measure_worlds(cases, steps=20, transitions=32, batch_size=16, num_envs=2, k=1)))
    record = json.loads(json.dumps(env_record(rows, num_envs=2, k=1, batch_size=16, load=0.5)))
    assert list(record) == ["hardware", "load_average", "num_envs", "k", "batch_size", "rows"]
    assert record["hardware"].endswith(" cores")
    table = env_section(record)
    assert "| Sprites-v0 | shapes=square,heart |" in table and "| FlatLand-v0 | defaults |" in table
    assert "load average 0.50" in table


def test_the_script_keeps_its_record_where_asked(load_script, tmp_path, capsys):
    out = tmp_path / "env.json"
    argv = ["--steps", "20", "--transitions", "32", "--batch-size", "16", "--num-envs", "2",
            "--worlds", "FlatLand-v0", "--out", str(out)]
    assert load_script("benchmark_env").main(argv) == 0
    printed = capsys.readouterr().out
    assert "collector rate relative to FlatLand-v0: FlatLand-v0 1.00" in printed and f"kept: {out}" in printed
    assert [r["env_id"] for r in json.loads(out.read_text())["rows"]] == ["FlatLand-v0"]
