"""Sweeps: one run of the main job per seed and point of a grid of flags, on a local pool or on Ray.

A sweep is data: :func:`plan_sweep` turns seeds, a grid and fixed flags into :class:`SweepRun`
records, each a name and the ``train_agent.py`` flags of one run. Runs are tasks: each is a
``train_agent.py`` process writing its usual folder under the sweep's folder, so a crash, a bad
flag or a NaN in one run cannot take the others down, and the same task runs on this machine
(:func:`run_local`, a pool sized to the cores) or on a Ray cluster (:func:`run_ray`, one task
per run asking for its CPU threads and a share of a GPU). The summary is read back from the run
folders (:func:`summarise`), so a sweep stopped midway and started again with the same command
skips the finished runs and resumes the others from their checkpoints.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from flatland_env.validation import check_choice, check_nonnegative_int

Backend = Literal["local", "ray"]
BACKENDS: tuple[str, ...] = ("local", "ray")

#: flags a sweep sets per run itself; in a grid or among the fixed flags they would clash with it
RESERVED_FLAGS = ("seed", "run_dir", "resume", "eval_only", "threads")

#: exit codes of the main job that mean "stopped by a signal": not a failure, never retried
INTERRUPTED = (130, 143)

SUMMARY_NAME = "summary"

#: the process that trains one run: the main job's entry point, with the flags after it
TRAIN = (sys.executable, "-c", "import sys; from agents.training.cli import train_main; "
         "sys.exit(train_main(sys.argv[1:], prog='train_agent.py'))")


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its folder's name, its seed, its grid values and the main job's flags."""

    name: str
    seed: int
    settings: dict[str, str] = field(default_factory=dict)
    argv: tuple[str, ...] = ()


def _flag_name(flag: str) -> str:
    return flag.lstrip("-").split("=", 1)[0].replace("-", "_")


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    """``["lr=1e-3,3e-4", "channels=32 32 32 32,32 64 64 32"]`` -> ``{"lr": ["1e-3", "3e-4"], "channels": [...]}``.

    Values are separated by commas; a value with spaces is a flag taking several values.
    """
    grid: dict[str, list[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = _flag_name(name)
        choices = [v.strip() for v in values.split(",")]
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not all(choices):
            raise ValueError(f"a grid is FLAG=VALUE[,VALUE...] (e.g. lr=1e-3,3e-4), got {item!r}")
        if name in RESERVED_FLAGS or name in grid:
            why = "is set by the sweep itself" if name in RESERVED_FLAGS else "is given twice"
            raise ValueError(f"grid flag {name!r} {why}; reserved: {', '.join(RESERVED_FLAGS)}")
        grid[name] = choices
    return grid


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-")


def plan_sweep(model: str, seeds: list[int], grid: dict[str, list[str]] | None = None,
               flags: list[str] | None = None) -> list[SweepRun]:
    """Every (grid point, seed) as a run; the model's subcommand and ``flags`` go to each run unchanged."""
    grid, flags = dict(grid or {}), list(flags or [])
    if not seeds:
        raise ValueError(f"seeds must be one or more integers >= 0, got {seeds!r}")
    seeds = [check_nonnegative_int(f"seeds[{i}]", s) for i, s in enumerate(seeds)]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must differ, got {seeds!r}")
    clash = sorted({_flag_name(f) for f in flags if f.startswith("--")} & (set(RESERVED_FLAGS) | set(grid)))
    if clash:
        raise ValueError(f"the sweep sets {', '.join(clash)} per run; leave them out of the fixed flags")
    runs = []
    for values in itertools.product(*grid.values()):
        settings = dict(zip(grid, values))
        point = [arg for k, v in settings.items() for arg in (f"--{k.replace('_', '-')}", *v.split())]
        stem = "_".join(f"{k}={_slug(v)}" for k, v in settings.items())
        for seed in seeds:
            name = "_".join(p for p in (model, stem, f"s{seed}") if p)
            runs.append(SweepRun(name, seed, settings, (model, *flags, *point, "--seed", str(seed))))
    return runs


# -- one run ------------------------------------------------------------------------------------------------
def run_state(run_dir: Path) -> Literal["finished", "partial", "new"]:
    """finished: metrics.json is written; partial: a checkpoint to resume from; new: neither."""
    if (run_dir / "metrics.json").is_file():
        return "finished"
    return "partial" if (run_dir / "checkpoint.pt").is_file() else "new"


def run_one(run: SweepRun, out: str, threads: int = 1, retries: int = 1,
            launch: Callable[..., subprocess.Popen] = subprocess.Popen) -> dict[str, Any]:
    """Train one run to its end in ``out/<name>`` (resuming a checkpoint there), retrying a failure ``retries``
    times; returns its outcome. Interrupted (KeyboardInterrupt here, or the process by a signal), the run
    saves its checkpoint and the interruption propagates."""
    run_dir, log = Path(out) / run.name, Path(out) / "logs" / f"{run.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    attempts, code = 0, None
    while run_state(run_dir) != "finished" and attempts <= retries:
        attempts += 1
        resume = ["--resume", str(run_dir / "checkpoint.pt")] if run_state(run_dir) == "partial" else []
        argv = [*TRAIN, *run.argv, "--run-dir", str(run_dir), "--threads", str(threads), *resume]
        with open(log, "a") as sink:
            sink.write(f"$ attempt {attempts}: train_agent.py {' '.join(argv[len(TRAIN):])}\n")
            sink.flush()
            proc = launch(argv, stdout=sink, stderr=subprocess.STDOUT)
            try:
                code = proc.wait()
            except KeyboardInterrupt:  # the run saves a checkpoint on SIGINT; give it the time to
                proc.send_signal(signal.SIGINT)
                proc.wait()
                raise
        if code in INTERRUPTED:
            raise KeyboardInterrupt(f"{run.name} was stopped by a signal (exit {code})")
    return {"name": run.name, "attempts": attempts, "exit_code": code,
            "error": None if run_state(run_dir) == "finished" else _last_error(log)}


def _last_error(log: Path) -> str:
    """The last line of a failed run's log that says what went wrong (tyro and the main job print 'error')."""
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() and not ln.startswith("$")]
    return (errors or lines or ["no output"])[-1][:500]


# -- backends -----------------------------------------------------------------------------------------------
def run_local(runs: list[SweepRun], out: str, threads: int = 1, jobs: int = 0, retries: int = 1) -> list[dict]:
    """Every run on this machine, ``jobs`` at a time (0: as many as the cores hold at ``threads`` each)."""
    jobs = jobs or max(1, (os.cpu_count() or 1) // max(1, threads))
    stop = threading.Event()
    children: list[subprocess.Popen] = []

    def launch(argv: list[str], **kwargs: Any) -> subprocess.Popen:
        if stop.is_set():
            raise KeyboardInterrupt("the sweep is stopping")
        # own process group: Ctrl-C reaches the sweep alone, which then stops each run so it saves
        proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
        children.append(proc)
        return proc

    def task(run: SweepRun) -> dict[str, Any]:
        return run_one(run, out, threads, retries, launch)

    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = [pool.submit(task, r) for r in runs]
    try:
        return [f.result() for f in futures]
    except KeyboardInterrupt:
        stop.set()
        for f in futures:
            f.cancel()
        for proc in children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # each run saves its checkpoint and exits 130
        for proc in children:
            proc.wait()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_ray(runs: list[SweepRun], out: str, threads: int = 1, retries: int = 1, address: str = "",
            gpus_per_run: float | None = None) -> list[dict]:
    """Every run as a Ray task asking for ``threads`` CPUs and ``gpus_per_run`` of a GPU (None: a quarter where
    the cluster has GPUs, else none). Starts a local Ray unless ``address`` names a cluster to join; every node
    needs this package installed and ``out`` on a shared file system."""
    try:
        import ray
    except ImportError:
        raise ValueError("--backend ray needs Ray: pip install -e '.[scale]'") from None
    ray.init(address=address or None, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        if gpus_per_run is None:
            gpus_per_run = 0.25 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        task = ray.remote(num_cpus=threads, num_gpus=gpus_per_run, max_retries=0)(run_one)
        refs = [task.remote(r, str(Path(out).resolve()), threads, retries) for r in runs]
        try:
            return ray.get(refs)
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref)  # raises KeyboardInterrupt in run_one, which stops its run so it saves
            raise
    finally:
        ray.shutdown()


# -- the summary --------------------------------------------------------------------------------------------
def run_row(run: SweepRun, out: str, outcome: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run's line of the summary, read from its folder (and its outcome, when it ran in this sweep)."""
    run_dir = Path(out) / run.name
    row: dict[str, Any] = {"name": run.name, "seed": run.seed, **run.settings, "status": run_state(run_dir)}
    if outcome:
        row.update(attempts=outcome["attempts"], exit_code=outcome["exit_code"])
        if outcome["error"]:
            row.update(status="failed", error=outcome["error"])
    metrics_file = run_dir / "metrics.json"
    if row["status"] == "finished":
        from agents.training.evaluation import headline

        record = json.loads(metrics_file.read_text())
        row.update(pairs_seen=record.get("pairs_seen"),
                   train_seconds=(record.get("run") or {}).get("train_seconds"),
                   stop_reason=(record.get("run") or {}).get("stop_reason"),
                   learned=(record.get("verdict") or {}).get("learned"),
                   verdict=(record.get("verdict") or {}).get("summary"),
                   passed=((record.get("acceptance") or {}).get("passed") or {}).get("all"),
                   **headline(record))
    return row


def summarise(runs: list[SweepRun], out: str, outcomes: list[dict] | None = None) -> list[dict[str, Any]]:
    """The sweep's table, written to ``out/summary.json`` and ``out/summary.csv``; returns its rows."""
    by_name = {o["name"]: o for o in outcomes or []}
    rows = [run_row(r, out, by_name.get(r.name)) for r in runs]
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / f"{SUMMARY_NAME}.json").write_text(
        json.dumps({"runs": [asdict(r) for r in runs], "rows": rows}, indent=2) + "\n")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns)
    writer.writeheader()
    writer.writerows(rows)
    (Path(out) / f"{SUMMARY_NAME}.csv").write_text(buffer.getvalue())
    return rows


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt here while the sweep runs, so ``kill`` stops it as cleanly as
    Ctrl-C (each run saves its checkpoint). A shell starts background jobs with SIGINT ignored, and SIGTERM would
    otherwise end the driver at once and leave its runs going in their own sessions."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")

    old = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def sweep(runs: list[SweepRun], out: str, backend: Backend = "local", threads: int = 1, jobs: int = 0,
          retries: int = 1, address: str = "", gpus_per_run: float | None = None) -> list[dict[str, Any]]:
    """Run what is not finished on ``backend``, then write and return the summary. On Ctrl-C or SIGTERM the runs save
    their checkpoints, the summary says what finished, and KeyboardInterrupt propagates."""
    check_choice("backend", backend, BACKENDS)
    todo = [r for r in runs if run_state(Path(out) / r.name) != "finished"]
    outcomes: list[dict] = []
    try:
        with stop_signals_interrupt():
            if backend == "local":
                outcomes = run_local(todo, out, threads, jobs, retries)
            elif todo:
                outcomes = run_ray(todo, out, threads, retries, address, gpus_per_run)
    finally:
        rows = summarise(runs, out, outcomes)
    return rows
