"""Explicitness of the axis-aligned FlatLand code (x/33, y/33, 0, 0) at latent scales 0.1, 1 and 10.

    OMP_NUM_THREADS=1 python experiments/explicitness_scale.py
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this worktree's packages, not the editable install
sys.path.insert(0, str(ROOT / "tests" / "vae"))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from vae_synthetic import TableEncoder  # noqa: E402

import flatland_env  # noqa: E402,F401
from vae.metrics import modularity_explicitness  # noqa: E402

world = gym.make("FlatLand-v0").unwrapped
for scale in (0.1, 1.0, 10.0):
    enc = TableEncoder(world, lambda f, s=scale: s * np.concatenate([f / 33.0, np.zeros((len(f), 2))], axis=1))
    r = modularity_explicitness(enc, world, np.random.default_rng(0), 2000, 1000)
    print(f"scale {scale:5.1f}: explicitness test {r['explicitness_test']:.4f} train {r['explicitness_train']:.4f}")
