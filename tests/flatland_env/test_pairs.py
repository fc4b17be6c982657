"""Pair sources: the collector and a saved dataset serve the same batches, carry the world, resume exactly."""

from __future__ import annotations

import numpy as np
import pytest

from flatland_env.pairs import CollectorSource, DatasetSource, PairSourceConfig, make_pair_source, split_labels
from flatland_env.transitions import TransitionCollector, save_npz


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "pairs.npz"
    with TransitionCollector("FlatLand-v0", num_envs=2, seed=5, shuffle=True) as c:
        save_npz(path, c.collect(50), c.spec, env_id="FlatLand-v0", env_kwargs={})
    return path


def _equal(a, b) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("obs", "next_obs", "actions", "factors"))


def test_collector_source_carries_the_world_and_its_spec():
    source = make_pair_source(PairSourceConfig(num_envs=2), seed=0)
    assert isinstance(source, CollectorSource)
    assert source.spec.group_name == "C_33 x C_33" and source.observation_space.shape == (64, 64, 1)
    batch = source.next_batch(12)
    np.testing.assert_array_equal(batch.obs, source.world.render_states(batch.factors))
    np.testing.assert_array_equal(source.spec.apply(batch.factors, batch.actions[:, 0]), batch.next_factors)


def test_dataset_source_serves_every_pair_once_per_pass(dataset):
    source = make_pair_source(PairSourceConfig(dataset=str(dataset)), seed=0)
    assert isinstance(source, DatasetSource) and source.world is not None
    first_pass = [source.next_batch(10) for _ in range(5)]
    keys = {tuple(f) + tuple(n) for b in first_pass for f, n in zip(b.factors, b.next_factors)}
    all_keys = {tuple(f) + tuple(n) for f, n in zip(source.pairs.factors, source.pairs.next_factors)}
    assert keys == all_keys
    assert source.next_batch(60).obs.shape == (60, 64, 64, 1)  # crosses into the next passes


@pytest.mark.parametrize("kind", ["collector", "dataset"])
def test_state_dict_resumes_bit_for_bit(kind, dataset):
    config = PairSourceConfig(num_envs=2, noise="salt", dataset=str(dataset) if kind == "dataset" else "")
    source = make_pair_source(config, seed=3, noise_seed=4)
    for _ in range(3):
        source.next_batch(7)
    state = source.state_dict()
    expected = [source.next_batch(9) for _ in range(4)]
    restored = make_pair_source(config, seed=3, noise_seed=4)
    restored.load_state_dict(state)
    assert all(_equal(a, b) for a, b in zip(expected, [restored.next_batch(9) for _ in range(4)]))


def test_split_labels_gives_the_learner_frames_only():
    batch = make_pair_source(PairSourceConfig(num_envs=2), seed=0).next_batch(4)
    pairs, truth = split_labels(batch)
    assert set(vars(pairs)) == {"obs", "next_obs"} and truth.actions.shape == (4, 1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"env_id": "CartPole-v1"}, "not a symmetry world"),
        ({"env_id": "Nope-v0"}, "not registered"),
        ({"num_envs": 0}, "num_envs"),
        ({"num_envs": 100_000}, "num_envs"),
        ({"k": 0}, "k must be"),
        ({"noise": "fog"}, "noise"),
        ({"dataset": "/no/such.npz"}, "no file"),
        ({"background_dir": "/tmp"}, "only with noise=backgrounds"),
        ({"noise": "backgrounds", "background_dir": "/no/such/dir"}, "does not exist"),
    ],
)
def test_bad_configs_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PairSourceConfig(**kwargs)


def test_dataset_mismatch_is_a_clear_error(dataset, tmp_path):
    with pytest.raises(ValueError, match="1-step pairs"):
        make_pair_source(PairSourceConfig(dataset=str(dataset), k=2), seed=0)
    with pytest.raises(ValueError, match="recorded on 'FlatLand-v0'"):
        make_pair_source(PairSourceConfig(dataset=str(dataset), env_id="Sprites-v0"), seed=0)
    text = tmp_path / "text.npz"
    text.write_text("not a dataset")
    with pytest.raises(ValueError, match="not a readable"):
        make_pair_source(PairSourceConfig(dataset=str(text)), seed=0)


def test_k_larger_than_a_rollout_chunk_is_served():
    source = make_pair_source(PairSourceConfig(num_envs=2, k=300), seed=0)
    batch = source.next_batch(3)
    assert batch.actions.shape == (3, 300)
    state = batch.factors
    for t in range(300):
        state = source.spec.apply(state, batch.actions[:, t])
    np.testing.assert_array_equal(state, batch.next_factors)


def test_k_beyond_the_episode_is_refused():
    with pytest.raises(ValueError, match="max_episode_steps"):
        make_pair_source(PairSourceConfig(num_envs=2, k=1001), seed=0)


@pytest.mark.parametrize("kind", ["collector", "dataset"])
def test_prefetching_serves_the_same_batches_and_resumes_exactly(kind, dataset):
    config = PairSourceConfig(num_envs=2, noise="uniform", dataset=str(dataset) if kind == "dataset" else "")
    plain = make_pair_source(config, seed=1, noise_seed=2)
    ahead = make_pair_source(config, seed=1, noise_seed=2)
    ahead.prefetch()
    assert all(_equal(plain.next_batch(6), ahead.next_batch(6)) for _ in range(4))
    state = ahead.state_dict()  # holds the batch drawn in the background, not yet served
    assert "buffered" in state
    expected = [plain.next_batch(6) for _ in range(3)]
    restored = make_pair_source(config, seed=1, noise_seed=2)
    restored.load_state_dict(state)
    assert all(_equal(a, restored.next_batch(6)) for a in expected)
    first = ahead.next_batch(9)  # a new batch size: the 6 pairs drawn ahead come first, then 3 more
    assert _equal(first[:6], expected[0]) and len(first) == 9
    ahead.close()
