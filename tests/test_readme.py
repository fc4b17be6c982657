"""The README's result tables are exactly what the kept results under results/ give, and its commands are true."""

from pathlib import Path

import pytest

from experiments.claims import EXPERIMENTS, readme_sections
from experiments.reproduce import markers

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _between(text: str, name: str) -> str:
    begin, end = markers(name)
    assert begin in text and end in text, f"README lacks the markers of {name}"
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


SHOWN = sorted(n for n in readme_sections(REPO / "results") if markers(n)[0] in README)


@pytest.mark.parametrize("name", SHOWN)
def test_readme_section_equals_what_the_kept_results_give(name):
    generated = readme_sections(REPO / "results")[name].strip()
    assert _between(README, name) == generated, f"run `python scripts/reproduce.py tables` to regenerate {name}"


def test_every_claim_and_benchmark_has_a_section_in_the_readme():
    expected = {"main_job", "comparison", "benchmark_train", "benchmark_env", *EXPERIMENTS} - {"claim1", "claim2"}
    assert expected <= set(SHOWN)  # claims 1 and 2 appear in the comparison section


def test_the_two_commands_are_in_the_readme_and_ci_runs_the_test_command():
    run = "pip install torch==2.13.0 && pip install -e . && python scripts/train_agent.py"
    test = 'pip install torch==2.13.0 && pip install -e ".[test,scale]" && python -m pytest -q'
    assert run in README and test in README
    ci = (REPO / ".ci" / "run").read_text()
    assert "torch==2.13.0" in ci and '".[test,scale]"' in ci and "python -m pytest -q" in ci


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_claim_with_kept_runs_has_its_summary_figure(name, tmp_path):
    from experiments.reproduce import kept_records

    experiment = EXPERIMENTS[name]
    assert experiment.figure is not None, f"{name} has no summary figure"
    records = kept_records(experiment, REPO / "results")
    if records:  # without kept runs the README says so (the section test) and there is nothing to draw
        experiment.figure(records, tmp_path / "summary.png")
        assert (tmp_path / "summary.png").stat().st_size > 5000
        assert (REPO / "results" / name / "summary.png").is_file(), "run `python scripts/reproduce.py tables`"
