"""Pairs of the continuous world: action vectors as labels, the torus group law on the recorded states, seeding.

Discrete worlds are covered by test_transitions.py and test_pairs.py, unchanged: integer actions (B, k) int64.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from flatland_env.pairs import CollectorSource, DatasetSource, PairSourceConfig, make_pair_source, split_labels
from flatland_env.transitions import Transition, TransitionCollector, _box_bounds, load_npz, save_npz

ENV_ID = "FlatLandContinuous-v0"
#: the world's own ground truth: apply(state, action) = (state + action * 16.5) mod 33
SPEC = gym.make(ENV_ID).unwrapped.symmetry
FIELDS = ("obs", "actions", "next_obs", "factors", "next_factors")


def _equal(a: Transition, b: Transition) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


def _torus_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Largest distance between two batches of states on the torus (0 and 33 are the same point)."""
    d = np.abs(a - b) % 33.0
    return float(np.minimum(d, 33.0 - d).max())


def _check_contract(batch: Transition, n: int, k: int) -> None:
    """Shapes and dtypes of a continuous batch, and the group law of its recorded actions on its recorded states."""
    assert batch.obs.shape == batch.next_obs.shape == (n, 64, 64, 1) and batch.obs.dtype == np.uint8
    assert batch.actions.shape == (n, k, 2) and batch.actions.dtype == np.float32 and batch.k == k
    assert np.abs(batch.actions).max() <= 1.0
    for f in (batch.factors, batch.next_factors):
        assert f.shape == (n, 2) and f.dtype == np.float64 and f.min() >= 0.0 and f.max() < 33.0
    state = batch.factors
    for j in range(k):  # the recorded vectors, one after the other: exactly what the world did
        state = SPEC.apply(state, batch.actions[:, j])
    np.testing.assert_array_equal(state, batch.next_factors)
    # composition is the sum of the vectors on the torus (summed in float64; equal up to float rounding)
    total = batch.actions.astype(np.float64).sum(axis=1)
    assert _torus_gap(SPEC.apply(batch.factors, total), batch.next_factors) < 1e-9


@pytest.mark.parametrize("mode", [None, "sync"])
@pytest.mark.parametrize("k", [1, 2])
def test_pairs_carry_action_vectors_and_obey_the_group_law(mode, k):
    with TransitionCollector(ENV_ID, num_envs=3, k=k, seed=2, shuffle=True, chunk_steps=7, vectorization_mode=mode,
                             max_episode_steps=5) as c:
        batch = c.collect(30)
        _check_contract(batch, 30, k)
        env = c.env.unwrapped
        render = env.observe if mode is None else env.envs[0].unwrapped.render_states
        np.testing.assert_array_equal(render(batch.factors), batch.obs)
        np.testing.assert_array_equal(render(batch.next_factors), batch.next_obs)


def test_seeded_collection_is_deterministic_and_native_equals_sync():
    kw = dict(num_envs=2, k=2, seed=5, chunk_steps=6, max_episode_steps=4)
    a = TransitionCollector(ENV_ID, **kw).collect(25)
    assert _equal(a, TransitionCollector(ENV_ID, **kw).collect(25))
    assert _equal(a, TransitionCollector(ENV_ID, vectorization_mode="sync", **kw).collect(25))
    assert not np.array_equal(a.actions, TransitionCollector(ENV_ID, **{**kw, "seed": 6}).collect(25).actions)


def test_collector_state_dict_resumes_bit_for_bit():
    kw = dict(num_envs=2, k=2, seed=1, chunk_steps=5, max_episode_steps=4, shuffle=True)
    c = TransitionCollector(ENV_ID, **kw)
    c.collect(7)
    state = c.state_dict()
    assert state["actions"].dtype == np.float32 and state["states"].dtype == np.float64
    expected = [c.collect(6) for _ in range(3)]
    restored = TransitionCollector(ENV_ID, **kw)
    restored.load_state_dict(state)
    assert all(_equal(e, restored.collect(6)) for e in expected)


def test_a_policy_steps_with_exactly_the_vectors_it_returns():
    push = lambda obs, factors: np.tile([0.25, -0.1], (len(factors), 1))  # noqa: E731  float64 in, float32 recorded
    batch = TransitionCollector(ENV_ID, num_envs=2, k=2, seed=0, policy=push).collect(12)
    _check_contract(batch, 12, 2)
    assert np.array_equal(batch.actions, np.broadcast_to(np.float32([0.25, -0.1]), (12, 2, 2)))


@pytest.mark.parametrize("output", [np.zeros(2), np.zeros((2, 3)), np.zeros((2,), np.int64), np.full((2, 2), 1.5),
                                    np.array([[0.0, np.nan], [0.0, 0.0]]), "left", None])
def test_a_wrong_policy_output_names_the_expected_shape_and_bounds(output):
    c = TransitionCollector(ENV_ID, num_envs=2, seed=0, policy=lambda obs, factors: output)
    with pytest.raises(ValueError, match=r"policy output must be real numbers of shape \(2, 2\), each in \[-1, 1\]"):
        c.collect(1)


def test_pair_source_serves_vectors_as_labels_only():
    source = make_pair_source(PairSourceConfig(env_id=ENV_ID, num_envs=2, k=2), seed=0)
    assert isinstance(source, CollectorSource) and source.spec == SPEC
    batch = source.next_batch(9)
    _check_contract(batch, 9, 2)
    pairs, truth = split_labels(batch)
    assert set(vars(pairs)) == {"obs", "next_obs"} and truth.actions.shape == (9, 2, 2)
    np.testing.assert_array_equal(source.world.render_states(truth.factors), pairs.obs)
    source.close()


def test_noisy_pair_source_resumes_bit_for_bit():
    config = PairSourceConfig(env_id=ENV_ID, num_envs=2, k=1, noise="salt")
    source = make_pair_source(config, seed=3, noise_seed=4)
    source.next_batch(5)
    state = source.state_dict()
    expected = [source.next_batch(7) for _ in range(2)]
    restored = make_pair_source(config, seed=3, noise_seed=4)
    restored.load_state_dict(state)
    assert all(_equal(e, restored.next_batch(7)) for e in expected)


def test_dataset_round_trip_keeps_vectors_and_states(tmp_path):
    path = tmp_path / "continuous.npz"
    with TransitionCollector(ENV_ID, num_envs=2, k=2, seed=0, shuffle=True) as c:
        batch = c.collect(16)
        save_npz(path, batch, c.spec, env_id=ENV_ID, env_kwargs={})
    loaded, spec = load_npz(path)
    assert _equal(batch, loaded) and spec == SPEC and loaded.actions.dtype == np.float32
    source = make_pair_source(PairSourceConfig(env_id=ENV_ID, dataset=str(path), k=2), seed=0)
    assert isinstance(source, DatasetSource) and source.world is not None
    _check_contract(source.next_batch(20), 20, 2)  # crosses into a second pass


def test_transition_shapes_and_action_spaces():
    frames = np.zeros((2, 4, 4, 1), np.uint8)
    states = np.zeros((2, 2))
    assert Transition(frames, np.zeros((2, 3, 2), np.float32), frames, states, states).k == 3
    with pytest.raises(ValueError, match=r"actions must be \(B, k\) or \(B, k, action_dim\)"):
        Transition(frames, np.zeros((2, 1, 2, 1)), frames, states, states)
    assert _box_bounds(spaces.Discrete(4), "w", uniform=True) is None
    low, high = _box_bounds(spaces.Box(-1.0, 1.0, (2,), np.float32), "w", uniform=True)
    assert low.dtype == np.float64 and high.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="unbounded; pass a policy"):
        _box_bounds(spaces.Box(-np.inf, np.inf, (2,)), "w", uniform=True)
    assert _box_bounds(spaces.Box(-np.inf, np.inf, (2,)), "w", uniform=False) is not None
    with pytest.raises(ValueError, match="Discrete or Box actions"):
        _box_bounds(spaces.MultiDiscrete([2, 2]), "w", uniform=True)
