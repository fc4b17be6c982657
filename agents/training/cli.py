"""The command lines of the run layer, derived from the dataclasses: train and evaluate.

``train`` has one subcommand per registered agent (``rgrvae`` by default), whose flags are
that agent's Config, the pair source's :class:`~flatland_env.pairs.PairSourceConfig` and the
:class:`~agents.training.run.RunConfig`, all flat (``--gamma``, ``--k``, ``--total-steps``).
A new Config field is a new flag, and a new agent a new subcommand, with no edit here.
Configs validate themselves, so a bad value is reported by tyro with exit code 2 before
anything is built.

Exit codes: 0 done, 1 training failed (NaN loss), 2 bad flags, world or checkpoint,
130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union

import tyro

from agents.base import AGENTS, agent_class
from agents.checkpoint import CheckpointError, load_checkpoint
from agents.files import prepare_dir
from agents.hardware import describe_hardware
from agents.training import run as runs
from agents.training.evaluation import METRICS_NAME, headline
from flatland_env.pairs import PairSourceConfig
from flatland_env.registration import world_agent_settings

DEFAULT_MODEL = "rgrvae"


def train_command(model: str) -> type:
    """The dataclass of one ``train`` subcommand: the agent's Config, the data and the run, flags unprefixed."""
    cls = agent_class(model)
    flat = tyro.conf.OmitArgPrefixes
    command = dataclasses.make_dataclass(
        f"Train_{model}",
        [
            ("agent", Annotated[cls.Config, flat], dataclasses.field(default_factory=cls.Config)),
            ("data", Annotated[PairSourceConfig, flat], dataclasses.field(default_factory=PairSourceConfig)),
            ("run", Annotated[runs.RunConfig, flat], dataclasses.field(default_factory=runs.RunConfig)),
        ],
    )
    command.__doc__ = (cls.__doc__ or model).strip().splitlines()[0]
    command.model = model
    return command


def parse_train_args(
    argv: list[str] | None = None, prog: str | None = None, description: str | None = None
) -> tuple[str, Any, bool]:
    """(model, parsed command, whether the model was named) from the command line.

    Without a subcommand the model is the resumed or evaluated checkpoint's, else rgrvae, so
    ``train_agent.py --seed 3`` and ``train_agent.py --resume ckpt`` work as written.
    """
    import agents  # noqa: F401  (registers every agent)

    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {name: train_command(name) for name in sorted(AGENTS)}
    named = bool(argv) and argv[0] in commands
    if not named and not {"-h", "--help"} & set(argv[:1]):
        argv.insert(0, _implied_model(argv))
    union = Union[tuple(Annotated[c, tyro.conf.subcommand(n)] for n, c in commands.items())]  # type: ignore[misc]
    # a named wrapper field, so a config's validation error reads "Error parsing model.agent: <message>"
    wrapper = dataclasses.make_dataclass("Train", [("model", Annotated[union, tyro.conf.OmitSubcommandPrefixes])])
    parsed = tyro.cli(wrapper, args=argv, prog=prog, description=description).model
    return parsed.model, parsed, named


def _implied_model(argv: list[str]) -> str:
    """The model a checkpoint flag implies (its algo), else the default."""
    for flag in ("--resume", "--eval-only", "--eval_only"):
        if flag in argv and argv.index(flag) + 1 < len(argv):
            try:
                return str(load_checkpoint(argv[argv.index(flag) + 1])["algo"])
            except CheckpointError:
                return DEFAULT_MODEL  # RunConfig's validation reports the bad file
    return DEFAULT_MODEL


def flags_given(argv: list[str]) -> set[str]:
    """Config field names set on a command line (``--latent-size 8``, ``--latent_size=8``, ``--no-progress``)."""
    names = {a[2:].split("=", 1)[0].replace("-", "_") for a in argv if a.startswith("--")}
    return names | {n[3:] for n in names if n.startswith("no_")}


def apply_world_settings(config: Any, env_id: str, given: set[str]) -> tuple[Any, dict[str, Any]]:
    """``config`` with the settings the world suggests for the fields the user did not set, and those of them
    that change a value. When ``group`` ends up so3, the plane options the user did not set are turned off
    with it (the block has no planes to tie, realign or restart by)."""
    fields = {f.name for f in dataclasses.fields(config)}
    suggested = {k: v for k, v in world_agent_settings(env_id).items() if k in fields and k not in given}
    if suggested.get("group", getattr(config, "group", None)) == "so3":  # a 3-D block has no planes: their options off
        plane_off = getattr(config, "PLANE_OPTIONS", {})
        suggested = {**suggested, **{k: v for k, v in plane_off.items() if k not in given and k not in suggested}}
    chosen = {k: v for k, v in suggested.items() if getattr(config, k) != v}
    return (dataclasses.replace(config, **chosen) if chosen else config), chosen


def _as_flags(settings: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        return " ".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)

    return " ".join(f"--{k.replace('_', '-')} {value(v)}" for k, v in settings.items())


def _changed(obj: Any) -> list[str]:
    """Fields of a config dataclass that differ from its defaults (what the user set)."""
    default = type(obj)()
    return [f.name for f in dataclasses.fields(obj) if getattr(obj, f.name) != getattr(default, f.name)]


def train_main(argv: list[str] | None = None, prog: str | None = None, description: str | None = None) -> int:
    """``scripts/train_agent.py``: train (or resume, or only evaluate) and print the headline metrics."""
    argv = list(sys.argv[1:] if argv is None else argv)
    model, cmd, named = parse_train_args(argv, prog or Path(sys.argv[0]).name, description)
    agent_cfg, data_cfg, run_cfg = cmd.agent, cmd.data, cmd.run
    try:
        runs.set_threads(run_cfg.threads)
        if run_cfg.eval_only:
            changed = [n for n in _changed(agent_cfg) + _changed(data_cfg) if n != "device"]
            if changed:
                raise ValueError("--eval-only evaluates the checkpoint as saved; drop "
                                 + ", ".join("--" + n.replace("_", "-") for n in changed))
            device = agent_cfg.device if agent_cfg.device != "auto" else None
            record = runs.evaluate_checkpoint(run_cfg.eval_only, run_cfg.run_dir or None, run_cfg.eval_samples,
                                              device=device, progress=run_cfg.progress)
            print(json.dumps(headline(record), indent=2))
            return 0
        if run_cfg.resume:
            device = agent_cfg.device if agent_cfg.device != "auto" else None
            agent = runs.resume_agent(run_cfg.resume, model if named else None, agent_cfg, data_cfg, device)
            run_dir = run_cfg.run_dir or str(Path(run_cfg.resume).parent)
        else:
            agent_cfg, suggested = apply_world_settings(agent_cfg, data_cfg.env_id, flags_given(argv))
            if suggested:
                print(f"{data_cfg.env_id} suggests {_as_flags(suggested)} (applied; a flag you pass wins)")
            agent = runs.build_agent(model, agent_cfg, data_cfg)
            run_dir = run_cfg.run_dir or str(runs.default_run_dir(data_cfg.env_id, model, agent_cfg.seed))
        if agent.num_steps > run_cfg.total_steps:
            raise ValueError(f"the checkpoint is at update {agent.num_steps}, beyond --total-steps "
                             f"{run_cfg.total_steps}")
        prepare_dir(run_dir)
    except (ValueError, CheckpointError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    print(f"{agent.algo} on {agent.source.env_id}: precision {agent.precision} "
          f"({describe_hardware(agent.device)}); run folder {run_dir} (tensorboard --logdir {run_dir})")
    try:
        result = runs.train(agent, run_cfg, run_dir, resumed_from=run_cfg.resume or None)
    except runs.RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, folder removed mid-run
        print(f"error: writing the run's files failed: {e}", file=sys.stderr)
        return 1
    if result.status != "finished":
        return result.exit_code
    print(json.dumps(headline(result.metrics), indent=2))
    if "verdict" in result.metrics:
        print(f"verdict: {result.agent.algo} {result.metrics['verdict']['summary']}")
    print(f"metrics: {Path(run_dir) / METRICS_NAME}")
    return 0


@dataclass
class EvaluateArgs:
    """Evaluate a saved agent: the metric suite -> metrics.json (+ acceptance block and PNG summary)."""

    checkpoint: Annotated[str, tyro.conf.Positional]
    """checkpoint written by scripts/train_agent.py"""
    out_dir: str = ""
    """where metrics.json and latent_actions.png go (default: the checkpoint's folder)"""
    eval_samples: int = 1000
    """sample size of the metric suite"""
    seed: int = 0
    """seed of the evaluation samples"""
    device: str = ""
    """device to load the agent on (default: the checkpoint's)"""
    threads: int = 0
    """CPU threads of torch (0: torch's default)"""
    progress: bool = True
    """show a progress bar over the metrics"""


def evaluate_main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """``scripts/evaluate.py``. Exit codes: 0 done, 2 bad flags or an unreadable / foreign / non-finite checkpoint."""
    args = tyro.cli(EvaluateArgs, args=argv, prog=prog, description=EvaluateArgs.__doc__)
    try:
        runs.set_threads(args.threads)
        record = runs.evaluate_checkpoint(args.checkpoint, args.out_dir or None, args.eval_samples, args.seed,
                                          args.device or None, args.progress)
    except (ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evaluation interrupted; nothing was written", file=sys.stderr)
        return 130
    print(json.dumps(headline(record), indent=2))
    return 0
