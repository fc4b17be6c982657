"""Train an agent on a symmetry world, then evaluate it: the main job (issue 4).

    python scripts/train_agent.py                          # RGrVAE on FlatLand-v0, defaults
    python scripts/train_agent.py --model forward --seed 1 # the supervised reference
    python scripts/train_agent.py --resume runs/X/checkpoint.pt --total-steps 12000
    python scripts/train_agent.py --eval-only runs/X/checkpoint.pt
    tensorboard --logdir runs

Writes ``runs/<env>__<model>__<seed>__<time>/``: TensorBoard events, ``checkpoint.pt``
(every --checkpoint-every updates and at the end), ``metrics.json`` (the metric suite and,
for models with latent actions, an ``acceptance`` block) and ``latent_actions.png``.
Hyperparameter flags left unset take the model's Config default (agents/*.py).
Exit codes: 0 done, 1 training failed (NaN loss), 2 bad flags or checkpoint, 130 Ctrl-C.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Literal

import tyro

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents import run  # noqa: E402
from agents.checkpoint import CheckpointError  # noqa: E402

Noise = Literal["none", "uniform", "salt", "backgrounds"]


def model_default(name: str, doc: str) -> object:
    """tyro help for a hyperparameter flag, with each model's default read from its Config dataclass."""
    defaults = ", ".join(f"{m} {v}" for m, v in run.model_defaults(name).items())
    return tyro.conf.arg(help=doc, help_behavior_hint=f"(default: {defaults})")


DEFAULT_TOTAL_STEPS = run.DEFAULT_TOTAL_STEPS


@dataclass
class Args:
    env_id: str = "FlatLand-v0"
    """registered symmetry world"""
    model: Literal["rgrvae", "forward", "vae"] = "rgrvae"
    """rgrvae (unsupervised latent actions), forward (supervised by true actions) or vae (plain beta-VAE)"""
    total_steps: int = DEFAULT_TOTAL_STEPS
    """gradient updates in all (a resumed run trains only the remaining ones)"""

    # agent hyperparameters: None = the model's Config default (shown per model; absent = does not apply)
    latent_size: Annotated[int | None, model_default("latent_size", "latent dimensions, two per plane")] = None
    beta: Annotated[float | None, model_default("beta", "weight of the KL term")] = None
    gamma: Annotated[float | None, model_default("gamma", "weight of the latent prediction loss")] = None
    lr: Annotated[float | None, model_default("lr", "learning rate of the VAE")] = None
    policy_lr: Annotated[float | None, model_default("policy_lr", "learning rate of the policy")] = None
    angle_lr: Annotated[float | None, model_default("angle_lr", "learning rate of the representation angles")] = None
    entropy_weight: Annotated[float | None, model_default("entropy_weight", "weight of the policy entropy bonus")] = None
    regret: Annotated[float | None, model_default("regret", "weight of the regret term")] = None
    structure: Annotated[tuple[str, ...] | None, model_default("structure", "group structure per latent plane")] = None
    num_envs: Annotated[int | None, model_default("num_envs", "vector envs producing transitions")] = None
    batch_size: Annotated[int | None, model_default("batch_size", "pairs per update")] = None
    seed: Annotated[int | None, model_default("seed", "seed of the model, the data and the sampling")] = None
    device: Annotated[str | None, model_default("device", "auto (CUDA when present), cpu or cuda")] = None
    noise: Annotated[Noise | None, model_default("noise", "visual noise on training pairs")] = None
    k: Annotated[int | None, model_default("k", "actions between the two frames of a pair (k-step pairs)")] = None
    action_steps: Annotated[int | None, model_default("action_steps", "policy steps that explain one pair")] = None
    discounted: Annotated[bool | None, model_default("discounted", "multi-step: discounted returns instead of per-step rewards")] = None
    change_of_basis: Annotated[bool | None, model_default("change_of_basis", "learn a change of basis C: rho' = C^-1 rho C")] = None
    capacity: Annotated[float | None, model_default("capacity", "KL capacity C for annealing (0 disables)")] = None
    output_selu: Annotated[bool | None, model_default("output_selu", "SELU on the encoder output, as the original code")] = None
    bf16: Annotated[bool | None, model_default("bf16", "bfloat16 autocast for the conv nets")] = None
    background_dir: Annotated[str | None, model_default("background_dir", "folder of background images for --noise backgrounds (empty: procedural)")] = None
    lr_final_frac: Annotated[float | None, model_default("lr_final_frac", "final learning rate as a fraction of the initial one")] = None
    lr_decay_steps: int | None = None
    """updates of the cosine learning-rate decay (default: --total-steps, i.e. decay over the whole run; 0: constant)"""

    # the run
    run_dir: str | None = None
    """output folder (default runs/<env>__<model>__<seed>__<time>; with --resume the checkpoint's folder)"""
    checkpoint_every: int = 1000
    """updates between checkpoints (one is also written at the end and on Ctrl-C)"""
    log_every: int = 50
    """updates between TensorBoard scalars"""
    image_every: int = 1000
    """updates between TensorBoard image panels"""
    eval_samples: int = 1000
    """sample size of the final metric suite"""
    resume: str | None = None
    """continue training from this checkpoint (its hyperparameters, step count, optimiser and RNG state)"""
    eval_only: str | None = None
    """only evaluate this checkpoint (metrics.json and the PNG go to its folder, or --run-dir)"""
    progress: bool = True
    """show progress bars"""
    threads: int | None = None
    """CPU threads of torch (default: torch's, one per core; 1 is faster on a machine shared with other jobs)"""


#: the Args fields that are agent hyperparameters (the rest configure the run)
HPARAM_FLAGS = tuple(f.name for f in fields(Args) if run.model_defaults(f.name) and f.name != "lr_decay_steps")


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, description=__doc__)
    try:
        run.set_threads(args.threads)
        if args.eval_only is not None:
            ignored = [n for n in HPARAM_FLAGS if n != "device" and getattr(args, n) is not None]
            if args.resume is not None or ignored:
                raise ValueError("--eval-only evaluates the checkpoint as saved; drop --resume and hyperparameter flags")
            record = run.evaluate_checkpoint(args.eval_only, args.run_dir, args.eval_samples, device=args.device,
                                             progress=args.progress)
            print(json.dumps(run.headline(record), indent=2))
            return 0
        spec = run.make_spec(
            model=args.model,
            env_id=args.env_id,
            flags={
                **{name: getattr(args, name) for name in HPARAM_FLAGS},
                # decay over the whole run by default; a resumed run keeps its checkpoint's schedule
                "lr_decay_steps": args.lr_decay_steps
                if args.lr_decay_steps is not None or args.resume is not None
                else args.total_steps,
            },
            total_steps=args.total_steps,
            run_dir=args.run_dir,
            checkpoint_every=args.checkpoint_every,
            log_every=args.log_every,
            image_every=args.image_every,
            eval_samples=args.eval_samples,
            resume=args.resume,
            progress=args.progress,
        )
        agent = run.make_agent(spec)  # builds the networks: the last checks (group structure, sizes)
    except (ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    print(f"run directory: {spec.run_dir}  (tensorboard --logdir {spec.run_dir.parent})")
    try:
        result = run.train(spec, agent)
    except run.RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if result.status == "interrupted":
        return 130
    print(json.dumps(run.headline(result.metrics), indent=2))
    print(f"metrics: {spec.run_dir / run.METRICS_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
