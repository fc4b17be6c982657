"""Train an agent on a symmetry world, then evaluate it: the main job.

    python scripts/train_agent.py                          # RGrVAE on FlatLand-v0, defaults
    python scripts/train_agent.py forward --seed 1         # the supervised reference
    python scripts/train_agent.py --k 2 --action-steps 2   # RGrVAE on 2-step pairs
    python scripts/train_agent.py --resume runs/X/checkpoint.pt --total-steps 12000
    python scripts/train_agent.py --eval-only runs/X/checkpoint.pt
    python scripts/train_agent.py --help                   # every model; `rgrvae --help`: every flag
    tensorboard --logdir runs

Writes ``runs/<env>__<model>__<seed>__<time>/``: ``run.json``, TensorBoard events,
``checkpoint.pt`` (every --checkpoint-every updates, at the end, on Ctrl-C and SIGTERM),
``metrics.json`` (the metric suite and, for models with latent actions, an ``acceptance``
block) and ``latent_actions.png``. The flags are the agent's Config, the pair source's and
the run's dataclasses (agents/, flatland_env/pairs.py, agents/training/run.py).
Exit codes: 0 done, 1 training failed (NaN loss), 2 bad flags or checkpoint, 130 Ctrl-C, 143 SIGTERM.
"""

import sys

from agents.training.cli import train_main


def main(argv: list[str] | None = None) -> int:
    return train_main(argv, prog="train_agent.py", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
