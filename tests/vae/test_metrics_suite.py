"""evaluate(): which metrics run for which model, JSON output, and a real conv encoder."""

import json

import numpy as np
import pytest
import torch
from vae_synthetic import perfect_rho

from vae.metrics import Metric, evaluate, register_metric, registered_metrics
from vae.model import VAE
from vae.preprocess import obs_to_tensor, tensor_to_frames


class PerfectModel:
    """The synthetic perfect FlatLand encoder with a decoder, rho and action inference."""

    def __init__(self, world, encoder):
        self.world, self.enc = world, encoder

    def encode(self, obs):
        return self.enc(obs)

    def decode(self, z):
        th = np.arctan2(z[:, 1::2], z[:, 0::2])
        return self.world.render_states(np.round(th / (2 * np.pi) * 33).astype(int) % 33)

    def action_representations(self):
        return perfect_rho()

    def infer_actions(self, obs, nxt):
        d = (self.enc.factors(nxt) - self.enc.factors(obs)) % 33
        return np.where(d[:, 0] == 28, 0, np.where(d[:, 0] == 5, 1, np.where(d[:, 1] == 28, 2, 3)))


class VAEAdapter:
    """A randomly initialised backbone VAE behind the model surface evaluate() expects."""

    def __init__(self):
        torch.manual_seed(0)
        self.vae = VAE().eval()

    @torch.no_grad()
    def encode(self, obs):
        return self.vae.encode(obs_to_tensor(obs))[0].numpy()

    @torch.no_grad()
    def decode(self, z):
        return tensor_to_frames(torch.sigmoid(self.vae.decode(torch.as_tensor(z, dtype=torch.float32))))


def test_perfect_model_runs_every_metric_and_writes_json(tmp_path, flatland, perfect):
    out = tmp_path / "eval" / "perfect.json"
    r = evaluate(PerfectModel(flatland, perfect), flatland, num_samples=200, out_path=out, progress=False)
    names = registered_metrics()
    finite = [m for m in names if "continuous_world" not in names[m].needs]
    assert set(names) <= set(r) and not any("skipped" in r[m] for m in finite)
    assert r["continuous_actions"] == {"skipped": "the world's group is not continuous"}
    assert r["group"]["group"] == "C_33 x C_33"
    assert json.loads(out.read_text()) == r
    assert r["independence"]["independence"] > 0.999 and r["independence"]["fit_ok"] is True
    assert r["d_lsbd"]["d_lsbd"] < 1e-9
    assert r["equivariance"]["relative_error"] < 1e-12
    assert r["equivariance"]["action_map_source"].startswith("Hungarian")
    assert r["action_estimation"]["accuracy"] == 1.0 and r["action_estimation"]["chance"] == 0.25
    assert all(a["image_mse"] == 0.0 for a in r["independence"]["actions"])
    assert r["beta_vae"]["eval_accuracy"] == 1.0


def test_encoder_only_model_skips_what_does_not_apply(flatland, perfect):
    class EncodeOnly:
        encode = staticmethod(perfect)

    r = evaluate(EncodeOnly(), flatland, num_samples=40, progress=False,
                 metrics=["equivariance", "action_estimation", "d_lsbd"])
    assert r["equivariance"] == {"skipped": "model has no action_representations()"}
    assert r["action_estimation"] == {"skipped": "model has no infer_actions(obs, next_obs)"}
    assert r["d_lsbd"]["d_lsbd"] < 1e-9


def test_a_new_metric_is_one_registry_entry(flatland, perfect):
    """Registering a metric makes the suite run it, seeded by its name, with its needs checked."""
    seen = []

    def run(model, world, rng, n):
        seen.append(n)
        return {"first_draw": float(rng.random())}

    try:
        register_metric(Metric(name="zz_probe", run=run, default_samples=100))
        register_metric(Metric(name="zz_needs_decoder", run=run, needs=("decoder",)))

        class EncodeOnly:
            encode = staticmethod(perfect)

        r = evaluate(EncodeOnly(), flatland, num_samples=500, seed=4, progress=False,
                     metrics=["zz_probe", "zz_needs_decoder"])
        assert seen == [50]  # 100 at the reference suite size of 1000, scaled to 500
        assert r["zz_needs_decoder"] == {"skipped": "model has no decode(latents)"}
        expected = np.random.default_rng(registered_metrics()["zz_probe"].seed_sequence(4)).random()
        assert r["zz_probe"]["first_draw"] == expected
    finally:
        from vae.metrics import registry

        registry._REGISTRY.pop("zz_probe", None)
        registry._REGISTRY.pop("zz_needs_decoder", None)


def test_world_ids_are_refused_with_a_clear_error(perfect):
    with pytest.raises(ValueError, match="world object"):
        evaluate(PerfectModel(None, perfect), "FlatLand-v0")


def test_results_depend_on_seed_only(flatland, perfect):
    model = PerfectModel(flatland, perfect)
    a = evaluate(model, flatland, num_samples=40, progress=False, metrics=["mig", "beta_vae"], seed=3)
    b = evaluate(model, flatland, num_samples=40, progress=False, metrics=["beta_vae"], seed=3)
    assert a["beta_vae"] == b["beta_vae"]


def test_real_conv_encoder_smoke(flatland):
    r = evaluate(VAEAdapter(), flatland, num_samples=40, progress=False, metrics=["independence", "d_lsbd", "mig"])
    # An untrained encoder is not linear in the actions: the suite says so instead of trusting its score.
    ind = r["independence"]
    assert ind["fit_ok"] is False and ind["max_unexplained_fraction"] > ind["unexplained_threshold"]
    assert all(a["image_mse"] is not None for a in r["independence"]["actions"])
    assert r["d_lsbd"]["d_lsbd"] > 0.1


def test_d_lsbd_runs_on_large_grids_and_on_subgroup_orbits(flatland, perfect):
    """Sprites' acted grid (245,760 states) is sampled by lines; its offset-4 actions generate orbits."""
    import gymnasium as gym

    from vae.metrics.lsbd import d_lsbd

    sprites = gym.make("Sprites-v0", offset=4).unwrapped

    def copy_factors(obs):  # not a representation of anything: just check what runs and what is reported
        return np.random.default_rng(0).normal(size=(len(obs), 8))

    r = d_lsbd(copy_factors, sprites, np.random.default_rng(0), num_lines=8)
    assert r["estimator"].startswith("8 random lines")
    assert [(f["cycle"], f["orbit_order"], f["orbits"]) for f in r["per_factor"]] == [
        (6, 3, 2), (40, 10, 4), (32, 8, 4), (32, 8, 4)]


def test_bad_arguments(flatland, perfect):
    with pytest.raises(ValueError, match="encode"):
        evaluate(object(), flatland)
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate(PerfectModel(flatland, perfect), flatland, metrics=["fid"])
    with pytest.raises(ValueError, match="num_samples"):
        evaluate(PerfectModel(flatland, perfect), flatland, num_samples=0)
