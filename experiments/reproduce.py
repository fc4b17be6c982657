"""The paper's claims as experiments: which runs each needs, how to run them, and the tables they give.

An :class:`Experiment` lists its runs (model, world and options, seeds) and knows how to
turn their records into a README table and a summary figure. :func:`run_experiment` trains
every run that has no result yet as a sweep (:mod:`experiments.sweep`: each run a
``train_agent.py`` process, on a local pool or as Ray tasks on a cluster, resumed from its
checkpoint after a stop), and keeps each run's small ``metrics.json`` and ``run.json`` under
``results/<experiment>/<run>/``; checkpoints and TensorBoard events stay in the work folder.
:func:`plan_run` is the bridge: a :class:`RunPlan` as the main job's command line.
:func:`update_readme` rewrites the README's tables between their markers from ``results/``
alone, so no result number in the README is typed by hand.

The experiments themselves are defined in :mod:`experiments.claims`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Callable

from agents.base import BaseAgent, agent_class
from agents.files import prepare_dir, write_json
from agents.training.evaluation import METRICS_NAME, evaluate_agent
from agents.training.provenance import changed_since
from agents.training.run import CHECKPOINT_NAME, DEFAULT_TOTAL_STEPS, RUN_NAME, set_threads
from experiments.sweep import BACKENDS, Backend, SweepRun, sweep
from flatland_env.pairs import PairSourceConfig
from flatland_env.registration import world_agent_settings
from flatland_env.validation import check_choice, check_int, check_number

#: claims are reported on seeds from here up; seeds below are for tuning (docs/method.md, "The learning study")
FIRST_REPORT_SEED = 100

#: where a run asked to be measured on noisy frames keeps that record
NOISY_METRICS_NAME = "metrics_noisy.json"
#: what a run that stopped with a training error leaves in its results folder instead of a metrics.json
FAILED_NAME = "failed.json"
#: times a failed run is tried again (resumed from its last checkpoint) before it is kept as failed
RETRIES = 1


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
    threads: int = 1,
    progress: bool = True,
    log: Callable[[str], None] = print,
    only: str = "",
    backend: Backend = "local",
    jobs: int = 0,
    address: str = "",
    gpus_per_run: float | None = None,
) -> dict[str, dict]:
    """Train every run of the experiment that has no kept result yet (only those matching the glob ``only``) as one
    sweep on ``backend`` into ``work_root/<experiment>/``, keep what each gave, and return the kept runs' records.

    ``threads`` is each run's torch threads (and the CPUs a Ray task asks for); ``jobs`` the local runs at a time
    (0: cores // threads); ``address`` the Ray cluster to join (empty: a local Ray); ``progress`` the progress
    bars of the noisy-frame evaluations, which run here once their runs finished. On Ctrl-C the runs save their
    checkpoints and KeyboardInterrupt propagates; the same call later resumes them.
    """
    check_choice("backend", backend, BACKENDS)
    threads, jobs = check_int("threads", threads, 1), check_int("jobs", jobs, 0)
    if gpus_per_run is not None:
        check_number("gpus_per_run", gpus_per_run, 0.0, 1.0)
    set_threads(threads)  # this process's own torch: the noisy-frame evaluations
    results, work = Path(results_root) / experiment.name, Path(work_root) / experiment.name
    plans = [p for p in experiment.runs(seeds) if not only or fnmatch(p.name, only)]
    todo = [p for p in plans if not _skip_kept(results / p.name, f"{experiment.name}/{p.name}", log)]
    if todo:
        runs = [plan_run(p) for p in todo]  # a plan the main job cannot take stops everything before it starts
        for plan in todo:
            _clear_foreign_work(work / plan.name, f"{experiment.name}/{plan.name}", log)
        log(f"{experiment.name}: {len(todo)} run(s) on {backend} into {work} (logs: {work / 'logs'})")
        rows = {r["name"]: r for r in sweep(runs, str(work), backend, threads, jobs, RETRIES, address, gpus_per_run)}
        for plan in todo:
            keep_run(plan, rows[plan.name], work / plan.name, results / plan.name, progress,
                     lambda line, p=plan: log(f"{experiment.name}/{p.name}: {line}"))
    return {p.name: load_records(results / p.name) for p in plans if (results / p.name / METRICS_NAME).is_file()}


def _skip_kept(kept: Path, label: str, log: Callable[[str], None]) -> bool:
    """Whether a run has a kept result (then it is skipped, and said to be stale where the code changed since)."""
    if not (kept / METRICS_NAME).is_file():
        return False
    stale = changed_since(load_records(kept)["metrics"].get("provenance"))
    log(f"{label}: kept result, skipped" + (f" (stale: {stale}; delete {kept} to redo it)" if stale else ""))
    return True


def _clear_foreign_work(run_dir: Path, label: str, log: Callable[[str], None]) -> None:
    """Remove a run's work folder that other code made: resuming or adopting it would mix code versions in one
    result (and a stale result deleted to redo it must be trained again). Today's code's folders are resumed."""
    if not run_dir.exists():
        return
    record = run_dir / (METRICS_NAME if (run_dir / METRICS_NAME).is_file() else RUN_NAME)
    try:
        why = changed_since(json.loads(record.read_text()).get("provenance"))
    except (OSError, ValueError):
        why = f"its {record.name} is missing or unreadable"
    if why:
        shutil.rmtree(run_dir)
        log(f"{label}: its work folder was made by other code ({why}); training it from scratch")


def keep_run(plan: RunPlan, row: dict[str, Any], run_dir: Path, kept: Path, progress: bool = True,
             log: Callable[[str], None] = print) -> None:
    """Keep what a run of the sweep gave: its records (after the noisy-frame evaluation it asks for), or, where it
    stopped without a result, ``failed.json`` with its error, so the README shows it and a rerun retries it."""
    prepare_dir(kept)
    if row["status"] != "finished":
        error = re.sub(r"^error:\s*", "", row.get("error") or f"the run ended {row['status']}")
        write_json(kept / FAILED_NAME, {"run": plan.name, "seed": plan.seed, "error": error})
        log(f"stopped without a result: {error}")
        return
    start = time.perf_counter()
    if plan.eval_noise:
        evaluate_noisy(plan, run_dir, progress)
    for name in (RUN_NAME, METRICS_NAME, NOISY_METRICS_NAME):
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, kept / name)
    (kept / FAILED_NAME).unlink(missing_ok=True)
    run = json.loads((kept / METRICS_NAME).read_text()).get("run") or {}
    seconds = (run.get("train_seconds") or 0) + (run.get("evaluate_seconds") or 0) + time.perf_counter() - start
    log(f"{seconds:.0f} s")


def evaluate_noisy(plan: RunPlan, run_dir: Path, progress: bool = True) -> None:
    """Measure a finished run on frames with ``plan.eval_noise`` (``metrics_noisy.json``), from its checkpoint, so
    it works whichever machine trained it; a record newer than the run's metrics is kept as is."""
    from flatland_env.wrappers import NoisyWorld

    out = run_dir / NOISY_METRICS_NAME
    if out.is_file() and out.stat().st_mtime_ns >= (run_dir / METRICS_NAME).stat().st_mtime_ns:
        return
    agent = BaseAgent.load(run_dir / CHECKPOINT_NAME)
    agent.world = NoisyWorld(agent.world, plan.eval_noise, seed=plan.seed)
    write_json(out, evaluate_agent(agent, run_dir / "noisy", plan.eval_samples, progress=progress))


# -- a plan as the main job's command line ----------------------------------------------------------------
def plan_run(plan: RunPlan) -> SweepRun:
    """A plan as a sweep's run: ``train_agent.py``'s flags for its model, settings, budget and seed.

    ``train_agent.py`` gives fields a flag does not set the settings the world suggests; those are pinned to the
    Config's defaults here, so the run trains exactly ``Config(seed=plan.seed, **plan.agent)`` on
    ``PairSourceConfig(**plan.data)``, as the plan says.
    """
    cls = agent_class(plan.model)
    default = cls.Config()
    _check_fields(plan.name, "agent", plan.agent, {f.name for f in dataclasses.fields(default)} - {"seed"})
    _check_fields(plan.name, "data", plan.data, {f.name for f in dataclasses.fields(PairSourceConfig)})
    suggested = world_agent_settings(plan.data.get("env_id", PairSourceConfig.env_id))
    pinned = {k: getattr(default, k) for k in suggested if hasattr(default, k) and k not in plan.agent}
    argv = [plan.model, *config_flags({**pinned, **plan.agent}), *config_flags(plan.data),
            "--total-steps", str(plan.total_steps), "--eval-samples", str(plan.eval_samples),
            "--seed", str(plan.seed), "--no-progress"]
    settings = {"model": plan.model, **{k: _as_text(v) for k, v in {**plan.data, **plan.agent}.items()}}
    return SweepRun(plan.name, plan.seed, settings, tuple(argv))


def _check_fields(name: str, what: str, settings: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ValueError(f"run {name}: {what} settings {unknown} are not flags of the main job; "
                         f"choose from {', '.join(sorted(allowed))}")


def config_flags(settings: dict[str, Any]) -> list[str]:
    """Config fields as ``train_agent.py`` flags, spelt as tyro reads them: ``--latent-size 8``, a tuple as its
    values (``--channels 32 64 64 32``), a bool as ``--flag`` / ``--no-flag``, None as ``None``, a dict as its
    keys and values (``--env-kwargs offset 4 shapes heart``)."""
    out: list[str] = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else f"--no-{flag[2:]}")
        elif isinstance(value, dict):
            out += [flag, *(x for key, v in value.items() for x in (str(key), _dict_value(name, key, v)))]
        elif isinstance(value, (tuple, list)):
            out += [flag, *map(_scalar, value)]
        else:
            out += [flag, _scalar(value)]
    return out


def _scalar(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _dict_value(name: str, key: Any, value: Any) -> str:
    """A dict's value as a flag's word; refused where the command line would read it back as something else
    (it reads numbers as numbers and all else as text)."""
    if isinstance(value, str) and not _reads_as_number(value) and value.strip() == value and value:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _scalar(value)
    raise ValueError(f"{name}[{key!r}] = {value!r} cannot pass through the main job's command line: "
                     "its values are read as numbers where they look like one and as text otherwise")


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _as_text(value: Any) -> str:
    """A setting as one cell of the sweep's summary."""
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return " ".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


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
