"""The collector: no pair across a reset, k-step pairs equal k single steps, npz round trip."""

import gymnasium as gym
import numpy as np
import pytest

import flatland_env
from flatland_env.transitions import Transition, TransitionCollector, load_npz, save_npz

FIELDS = ("obs", "actions", "next_obs", "factors", "next_factors")
#: worlds whose pairs hold integer actions, checked exactly here; action vectors: test_continuous_pairs.py
DISCRETE_IDS = [i for i in flatland_env.symmetry_world_ids() if gym.make(i).unwrapped.symmetry.is_discrete]


def _equal(a: Transition, b: Transition) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


def _check_pairs(batch: Transition, collector: TransitionCollector) -> None:
    spec, env = collector.spec, collector.env.unwrapped
    f = batch.factors
    for j in range(batch.k):
        f = spec.apply(f, batch.actions[:, j])
    assert np.array_equal(f, batch.next_factors)
    render = env.observe if hasattr(env, "observe") else env.envs[0].unwrapped.render_states
    assert np.array_equal(render(batch.factors), batch.obs)
    assert np.array_equal(render(batch.next_factors), batch.next_obs)


@pytest.mark.parametrize("env_id", DISCRETE_IDS)
@pytest.mark.parametrize("mode", [None, "sync"])
@pytest.mark.parametrize("k", [1, 3])
def test_k_step_pairs_equal_k_single_steps_and_never_cross_a_reset(env_id, mode, k):
    episode = 5
    with TransitionCollector(env_id, num_envs=3, k=k, seed=2, chunk_steps=7, vectorization_mode=mode,
                             max_episode_steps=episode) as c:
        batch = c.collect(120 if env_id == "FlatLand-v0" else 40)
        assert batch.obs.dtype == np.uint8 and batch.actions.dtype == np.int64 and batch.actions.shape[1] == k
        _check_pairs(batch, c)


@pytest.mark.parametrize("mode", [None, "sync"])
@pytest.mark.parametrize("k", [1, 2, 4])
def test_exactly_the_windows_inside_episodes_are_paired(mode, k):
    m, steps, n = 4, 23, 3  # episodes: a start state + m steps, then the (ignored) reset step
    c = TransitionCollector("FlatLand-v0", num_envs=n, k=k, seed=0, chunk_steps=steps, vectorization_mode=mode,
                            max_episode_steps=m)
    expected = sum(j // (m + 1) == (j + k) // (m + 1) for j in range(steps + 1 - k))
    assert len(c.collect(n * expected)) == n * expected
    assert not c._pending  # the first chunk held exactly that many pairs


def test_native_and_sync_collectors_agree_and_are_deterministic():
    kw = dict(num_envs=4, k=2, seed=5, chunk_steps=9, max_episode_steps=6)
    a = TransitionCollector("FlatLand-v0", **kw).collect(300)
    b = TransitionCollector("FlatLand-v0", vectorization_mode="sync", **kw).collect(300)
    c = TransitionCollector("FlatLand-v0", **kw).collect(300)
    assert _equal(a, b) and _equal(a, c)
    assert not _equal(a, TransitionCollector("FlatLand-v0", **{**kw, "seed": 6}).collect(300))


def test_policy_stream_shuffle_and_vector_env_argument():
    env = gym.make_vec("FlatLand-v0", num_envs=2, max_episode_steps=4)
    right = lambda obs, factors: np.ones(len(factors), dtype=np.int64)  # noqa: E731
    c = TransitionCollector(env, policy=right, seed=0, shuffle=True)
    batches = c.stream(32)
    for _ in range(3):
        batch = next(batches)
        assert len(batch) == 32 and (batch.actions == 1).all()
        _check_pairs(batch, c)
    assert len(batch[3:7]) == 4 and batch[0].obs.shape == (1, 64, 64, 1)


def test_npz_round_trip(tmp_path):
    with TransitionCollector("Sprites-v0", num_envs=2, k=2, seed=0) as c:
        batch = c.collect(20)
        path = tmp_path / "pairs.npz"
        save_npz(path, batch, c.spec)
    loaded, spec = load_npz(path)
    assert _equal(batch, loaded) and spec == c.spec
    np.savez_compressed(tmp_path / "bad.npz", obs=batch.obs)
    with pytest.raises(ValueError, match="missing arrays"):
        load_npz(tmp_path / "bad.npz")


def test_bad_collector_input():
    with pytest.raises(ValueError, match="k must be"):
        TransitionCollector(k=0)
    for mode in (None, "sync"):
        with pytest.raises(ValueError, match="k=5 exceeds max_episode_steps=4"):
            TransitionCollector(k=5, num_envs=1, vectorization_mode=mode, max_episode_steps=4)
    with pytest.raises(ValueError, match="policy must be"):
        TransitionCollector(policy=3)
    with pytest.raises(ValueError, match="n must be"):
        TransitionCollector(num_envs=1).collect(0)
    bad = TransitionCollector(num_envs=2, policy=lambda obs, f: np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="policy must return 2 integers"):
        bad.collect(1)
    with pytest.raises(ValueError, match="Transition.actions"):
        Transition(np.zeros((2, 4, 4, 1), np.uint8), np.zeros(3), np.zeros((2, 4, 4, 1), np.uint8),
                   np.zeros((2, 2)), np.zeros((2, 2)))
