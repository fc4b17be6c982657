"""Run time and scores of DCI with a random forest vs gradient boosting (disentanglement_lib's choice).

FlatLand (33 x 33, circle code, L = 4) and Sprites-v0 (5 factors: 3, 6, 40, 32, 32 values; circle code per
factor, L = 10), exact or with 0.05 per-state noise, 2000 train / 1000 test as in the
suite. Latents are built from sampled factors directly (the run time depends on N, L and the
numbers of classes, not on how the latents were obtained).

    OMP_NUM_THREADS=1 python experiments/dci_estimators.py
"""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this worktree's packages, not the editable install

import numpy as np  # noqa: E402

from flatland_env import flatland_spec, sprites_spec  # noqa: E402
from vae.metrics.dci import dci_from_samples  # noqa: E402


def circle_code(f, sizes, noise, rng):
    th = 2 * np.pi * f / np.asarray(sizes)
    z = np.stack([np.cos(th), np.sin(th)], -1).reshape(len(f), -1)
    return z + noise * rng.normal(size=z.shape)


for name, spec in (("FlatLand", flatland_spec()), ("Sprites", sprites_spec())):
    rng = np.random.default_rng(0)
    for noise in (0.0, 0.05):
        ftr, fte = spec.sample_factors(rng, 2000), spec.sample_factors(rng, 1000)
        ztr, zte = circle_code(ftr, spec.factor_sizes, noise, rng), circle_code(fte, spec.factor_sizes, noise, rng)
        for est in ("random_forest", "gradient_boosting"):
            t = time.perf_counter()
            r = dci_from_samples(ztr, ftr, zte, fte, est, 0)
            dt = time.perf_counter() - t
            print(f"{name:8s} noise {noise:4.2f} {est:17s} {dt:7.1f} s  D {r['disentanglement']:.3f} "
                  f"C {r['completeness']:.3f} I {r['informativeness_test']:.3f}", flush=True)
