"""The paper's claims as experiments: which runs each needs, how to run them, and the tables they give.

An :class:`Experiment` lists its runs (model, world and options, seeds) and knows how to
turn their records into a README table and a summary figure. :func:`run_experiment` trains
every run that has no result yet (so an interrupted reproduction continues where it
stopped), and keeps each run's small ``metrics.json`` and ``run.json`` under
``results/<experiment>/<run>/``; checkpoints and TensorBoard events stay in the work folder.
:func:`update_readme` rewrites the README's tables between their markers from ``results/``
alone, so no result number in the README is typed by hand.

The experiments themselves are defined in :mod:`experiments.claims`.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from agents.base import agent_class
from agents.files import prepare_dir, write_json
from agents.training.evaluation import METRICS_NAME, evaluate_agent
from agents.training.provenance import changed_since
from agents.training.run import DEFAULT_TOTAL_STEPS, RUN_NAME, RunConfig, RunError, train
from flatland_env.pairs import PairSourceConfig

#: claims are reported on seeds from here up; seeds below are for tuning (docs/method.md, "The learning study")
FIRST_REPORT_SEED = 100

#: where a run asked to be measured on noisy frames keeps that record
NOISY_METRICS_NAME = "metrics_noisy.json"
#: what a run that stopped with a training error leaves in its results folder instead of a metrics.json
FAILED_NAME = "failed.json"


@dataclass(frozen=True)
class RunPlan:
    """One run of an experiment: a model on a world with options, for one seed."""

    name: str
    model: str
    seed: int
    agent: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    total_steps: int = DEFAULT_TOTAL_STEPS
    #: also evaluate on frames with this kind of visual noise (written to metrics_noisy.json)
    eval_noise: str = ""
    eval_samples: int = 1000


@dataclass(frozen=True)
class Experiment:
    """A claim of the paper: its runs for given seeds, and the table and figure its records give."""

    name: str
    claim: str
    default_seeds: tuple[int, ...]
    plans: Callable[[tuple[int, ...]], list[RunPlan]]
    table: Callable[[dict[str, dict]], str]
    figure: Callable[[dict[str, dict], Path], None] | None = None

    def runs(self, seeds: tuple[int, ...] | None = None) -> list[RunPlan]:
        return self.plans(tuple(self.default_seeds if not seeds else seeds))


def run_experiment(
    experiment: Experiment,
    seeds: tuple[int, ...] | None = None,
    results_root: str | Path = "results",
    work_root: str | Path = "runs/reproduce",
    threads: int = 0,
    progress: bool = True,
    log: Callable[[str], None] = print,
    only: str = "",
) -> dict[str, dict]:
    """Train every run of the experiment that has no kept result yet (only those matching the glob ``only``)."""
    from fnmatch import fnmatch

    from agents.training.run import set_threads

    set_threads(threads)
    records = {}
    for plan in experiment.runs(seeds):
        if only and not fnmatch(plan.name, only):
            continue
        kept = Path(results_root) / experiment.name / plan.name
        if (kept / METRICS_NAME).is_file():
            stale = changed_since(load_records(kept)["metrics"].get("provenance"))
            log(f"{experiment.name}/{plan.name}: kept result, skipped"
                + (f" (stale: {stale}; delete {kept} to redo it)" if stale else ""))
        else:
            start = time.perf_counter()
            try:
                _run(plan, Path(work_root) / experiment.name / plan.name, kept, progress)
            except RunError as e:  # a run that cannot finish is a result too: kept, shown, retried next time
                prepare_dir(kept)
                write_json(kept / FAILED_NAME, {"run": plan.name, "seed": plan.seed, "error": str(e)})
                log(f"{experiment.name}/{plan.name}: stopped without a result: {e}")
                continue
            (kept / FAILED_NAME).unlink(missing_ok=True)
            log(f"{experiment.name}/{plan.name}: {time.perf_counter() - start:.0f} s")
        records[plan.name] = load_records(kept)
    return records


def _run(plan: RunPlan, work: Path, kept: Path, progress: bool) -> None:
    cls = agent_class(plan.model)
    agent = cls(PairSourceConfig(**plan.data), cls.Config(seed=plan.seed, **plan.agent))
    run = RunConfig(total_steps=plan.total_steps, eval_samples=plan.eval_samples, progress=progress)
    if work.exists():  # an unfinished earlier attempt: start it again from scratch
        shutil.rmtree(work)
    result = train(agent, run, work)
    if result.status != "finished":
        raise KeyboardInterrupt(f"{plan.name} was interrupted; run the experiment again to redo it")
    if plan.eval_noise:
        from flatland_env.wrappers import NoisyWorld

        clean = agent.world
        agent.world = NoisyWorld(clean, plan.eval_noise, seed=plan.seed)
        try:
            noisy = evaluate_agent(agent, work / "noisy", plan.eval_samples, progress=progress)
        finally:
            agent.world = clean
        write_json(work / NOISY_METRICS_NAME, noisy)
    prepare_dir(kept)
    for name in (RUN_NAME, METRICS_NAME, NOISY_METRICS_NAME):
        if (work / name).is_file():
            shutil.copyfile(work / name, kept / name)


def load_records(folder: str | Path) -> dict:
    """A kept run's records: ``metrics`` (metrics.json), ``run`` (run.json) and, if present, ``noisy``."""
    folder = Path(folder)
    out = {"metrics": json.loads((folder / METRICS_NAME).read_text())}
    if (folder / RUN_NAME).is_file():
        out["run"] = json.loads((folder / RUN_NAME).read_text())
    if (folder / NOISY_METRICS_NAME).is_file():
        out["noisy"] = json.loads((folder / NOISY_METRICS_NAME).read_text())
    return out


def kept_records(experiment: Experiment, results_root: str | Path = "results") -> dict[str, dict]:
    """Every kept run of an experiment (whatever seeds they used), by run name."""
    root = Path(results_root) / experiment.name
    if not root.is_dir():
        return {}
    return {p.name: load_records(p) for p in sorted(root.iterdir()) if (p / METRICS_NAME).is_file()}


# -- the README ------------------------------------------------------------------------------------
def markers(name: str) -> tuple[str, str]:
    return f"<!-- results:{name} -->", f"<!-- /results:{name} -->"


def replace_between_markers(text: str, name: str, body: str) -> str:
    """``text`` with the part between the markers of ``name`` replaced by ``body`` (the markers must exist)."""
    begin, end = markers(name)
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"the README has no markers {begin} ... {end}")
    return pattern.sub(lambda _: f"{begin}\n{body.strip()}\n{end}", text)


def failed_runs(experiment: Experiment, results_root: str | Path = "results") -> dict[str, dict]:
    """Runs of an experiment that stopped without a result (a training error), by run name."""
    root = Path(results_root) / experiment.name
    if not root.is_dir():
        return {}
    return {p.name: json.loads((p / FAILED_NAME).read_text()) for p in sorted(root.iterdir())
            if (p / FAILED_NAME).is_file() and not (p / METRICS_NAME).is_file()}


def stale_runs(experiment: Experiment, results_root: str | Path = "results") -> dict[str, str]:
    """Kept runs of an experiment that today's code may not reproduce, by run name, with the reason
    (:func:`~agents.training.provenance.changed_since`)."""
    reasons = {name: changed_since(r["metrics"].get("provenance"))
               for name, r in kept_records(experiment, results_root).items()}
    return {name: why for name, why in reasons.items() if why}


def check_report_seeds(seeds: tuple[int, ...], tuning: bool = False) -> None:
    """Claims are reported on held-out seeds: refuse seeds below FIRST_REPORT_SEED unless this is tuning."""
    low = [s for s in seeds if s < FIRST_REPORT_SEED]
    if low and not tuning:
        raise ValueError(f"seeds {low} are tuning seeds (below {FIRST_REPORT_SEED}); claims are reported on seeds "
                         f">= {FIRST_REPORT_SEED}. Pass --tuning to run them anyway")


def generated_sections(experiments: dict[str, Experiment], results_root: str | Path = "results") -> dict[str, str]:
    """Every experiment's table, made from its kept records (empty experiments say so), and its failed runs."""
    out = {}
    for name, exp in experiments.items():
        records = kept_records(exp, results_root)
        body = exp.table(records) if records else f"_No kept results yet: `python scripts/reproduce.py {name}`._"
        failed = failed_runs(exp, results_root)
        if failed:
            body += "\n\nRuns that stopped without a result (rerunning the claim retries them):\n\n" + "\n".join(
                f"- `{run}`: {record['error']}" for run, record in failed.items())
        missing = [p.name for p in exp.runs() if p.name not in records and p.name not in failed]
        if records and missing:
            body += (f"\n\nPlanned runs not yet run ({len(missing)}; `python scripts/reproduce.py {name}` runs "
                     f"them): " + ", ".join(f"`{m}`" for m in missing) + ".")
        out[name] = body
    return out


def update_readme(readme: str | Path, sections: dict[str, str]) -> str:
    """Rewrite the README's generated sections in place; return the new text."""
    path = Path(readme)
    text = path.read_text()
    for name, body in sections.items():
        begin, _ = markers(name)
        if begin in text:
            text = replace_between_markers(text, name, body)
    path.write_text(text)
    return text


def save_figures(experiments: dict[str, Experiment], results_root: str | Path = "results") -> list[Path]:
    """Each experiment's summary figure, next to its kept results."""
    written = []
    for name, exp in experiments.items():
        records = kept_records(exp, results_root)
        if exp.figure is not None and records:
            path = Path(results_root) / name / "summary.png"
            exp.figure(records, path)
            written.append(path)
    return written


def describe(plan: RunPlan) -> str:
    """A run's settings in one line, for logs and tables."""
    parts = [plan.model, f"seed {plan.seed}", f"{plan.total_steps} updates"]
    parts += [f"{k}={v}" for k, v in {**plan.data, **plan.agent}.items()]
    return ", ".join(parts)
