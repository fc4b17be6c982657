"""Independence and D_LSBD of hand-built FlatLand codes whose answer is known, over several seeds.

Run from the repository root (``METRICS_ROOT=/work/main`` measures another checkout's metrics, e.g. the
code before a change; the synthetic encoders always come from this worktree's tests):

    OMP_NUM_THREADS=1 python experiments/known_codes.py [num_states] [num_seeds]
"""

import json
import math
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("METRICS_ROOT", HERE))
sys.path.insert(0, str(HERE / "tests" / "vae"))
sys.path.insert(0, str(ROOT))  # the metrics measured, not the editable install

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from vae_synthetic import TableEncoder, axis_embedding, replaced_plane, rotation_embedding, state_noise  # noqa: E402

import flatland_env  # noqa: E402,F401
import vae  # noqa: E402
from vae.metrics import d_lsbd, independence_score  # noqa: E402

torch.set_num_threads(1)
world = gym.make("FlatLand-v0").unwrapped
SIZES = (33, 33)
circle = rotation_embedding(SIZES)
Q = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))[0]

CODES = {
    "perfect": circle,
    "perfect, rotated (orthogonal Q)": lambda f: circle(f) @ Q.T,
    "perfect, sheared (x plane += 0.8 y plane)": lambda f: circle(f) @ (np.eye(4) + 0.8 * np.eye(4, k=2)).T,
    "perfect, y plane x0.1": lambda f: circle(f) * [1, 1, 0.1, 0.1],
    "axis-aligned x/33, y/33": axis_embedding(SIZES),
    "x only, y plane constant (0)": replaced_plane(circle, 1, lambda f: np.zeros((len(f), 2))),
    "x only, y plane 1e-3 noise": replaced_plane(circle, 1, state_noise(SIZES, 1e-3, seed=99)),
    "x only, y plane collapsed (amplitude 1e-6)": replaced_plane(circle, 1, lambda f: 1e-6 * circle(f)[:, 2:]),
}


def fmt(x):
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seeds = range(int(sys.argv[2]) if len(sys.argv) > 2 else 5)
    print(f"metrics from {Path(vae.__file__).parent.parent}, {n} states, seeds {list(seeds)}")
    for name, embed in CODES.items():
        enc = TableEncoder(world, embed)
        t = time.perf_counter()
        ind = [independence_score(enc, world, np.random.default_rng(s), n) for s in seeds]
        dt = (time.perf_counter() - t) / len(ind)
        scores = [r["independence"] for r in ind]
        lsbd = d_lsbd(enc, world, np.random.default_rng(0))
        row = {
            "independence": " ".join(fmt(s) for s in scores),
            "fit_ok": sorted({str(r.get("fit_ok", "-")) for r in ind}),
            "max_unexplained": fmt(max((r.get("max_unexplained_fraction", float("nan")) for r in ind), default=None)),
            "static": sorted({a for r in ind for a in r.get("static_actions", [])}),
            "s_per_run": round(dt, 3),
            "d_lsbd": fmt(lsbd["d_lsbd"]),
            "per_factor": [fmt(f["dispersion"]) for f in lsbd["per_factor"]],
        }
        print(f"{name}: {json.dumps(row)}", flush=True)
