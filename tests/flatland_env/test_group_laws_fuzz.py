"""Property tests of the group laws, on states and pixels, for random worlds, states and action words."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flatland_env  # noqa: F401  (registers the worlds)

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: (env id, keyword arguments) of the worlds fuzzed: FlatLand lattices with various steps, Sprites offsets and shapes
WORLDS = st.one_of(
    st.builds(lambda g, s: ("FlatLand-v0", {"grid_size": g, "step": s % (g - 1) + 1, "radius": 4}),
              st.integers(5, 33), st.integers(1, 40)),
    st.builds(lambda o, shapes: ("Sprites-v0", {"offset": o, "shapes": shapes}), st.sampled_from([1, 2, 3, 4, 5, 7]),
              st.sampled_from([("square", "ellipse", "heart"), ("heart",), ("square",), ("ellipse", "heart")])),
)


def _world(case):
    env_id, kwargs = case
    return gym.make(env_id, **kwargs).unwrapped


def _action_and_start(case, data, n: int | None = None):
    """A world, one of its actions and ``n`` start states (one state when ``n`` is None), drawn from ``data``."""
    world = _world(case)
    spec = world.symmetry
    a = data.draw(st.integers(0, spec.num_actions - 1))
    start = spec.sample_factors(np.random.default_rng(data.draw(st.integers(0, 2**31))), n or 1)
    return world, spec, a, start if n else start[0]


@FUZZ
@given(case=WORLDS, data=st.data())
def test_a_word_then_its_inverse_is_the_identity_on_pixels(case, data):
    world = _world(case)
    spec = world.symmetry
    start = spec.sample_factors(np.random.default_rng(data.draw(st.integers(0, 2**31))), 1)[0]
    word = data.draw(st.lists(st.integers(0, spec.num_actions - 1), min_size=1, max_size=12))
    world.reset(options={"factors": start})
    for a in word:
        world.step(a)
    for a in reversed(word):
        world.step(spec.inverse_action(a))
    assert np.array_equal(world.factors, start)
    assert np.array_equal(world._observe(), world.render_states(start[None])[0])


@FUZZ
@given(case=WORLDS, data=st.data())
def test_each_action_repeated_its_order_returns_home_and_not_before(case, data):
    world, spec, a, start = _action_and_start(case, data, n=1)
    state, seen = start, []
    for _ in range(spec.action_order(a)):
        seen.append(state)
        state = spec.apply(state, np.array([a]))
    assert np.array_equal(state, start)
    assert len({tuple(s[0]) for s in seen}) == spec.action_order(a)  # the orbit has exactly `order` states


@FUZZ
@given(case=WORLDS, data=st.data())
def test_each_action_repeated_its_order_on_pixels_returns_the_frame(case, data):
    world, spec, a, start = _action_and_start(case, data)
    order = spec.pixel_action_order(a, start)
    assert spec.action_order(a) % order == 0
    world.reset(options={"factors": start})
    for _ in range(order):
        world.step(a)
    assert np.array_equal(world._observe(), world.render_states(start[None])[0])
    assert np.array_equal(world.render_states(spec.pixel_canonical(world.factors[None])), world._observe()[None])


@FUZZ
@given(case=WORLDS, data=st.data())
def test_actions_on_a_cyclic_product_commute(case, data):
    world = _world(case)
    spec = world.symmetry
    a, b = (data.draw(st.integers(0, spec.num_actions - 1)) for _ in range(2))
    start = spec.sample_factors(np.random.default_rng(data.draw(st.integers(0, 2**31))), 5)
    ab = spec.apply(spec.apply(start, np.full(5, a)), np.full(5, b))
    ba = spec.apply(spec.apply(start, np.full(5, b)), np.full(5, a))
    assert np.array_equal(ab, ba)
    assert np.array_equal(world.render_states(ab), world.render_states(ba))


@FUZZ
@given(case=WORLDS, seed=st.integers(0, 2**31), steps=st.integers(1, 60))
def test_the_vector_env_follows_the_spec(case, seed, steps):
    env_id, kwargs = case
    vec = gym.make_vec(env_id, num_envs=3, **kwargs)
    rng = np.random.default_rng(seed)
    vec.reset(seed=seed)
    state = vec.unwrapped.factors
    for _ in range(steps):
        actions = rng.integers(0, vec.single_action_space.n, size=3)
        obs, *_ = vec.step(actions)
        state = vec.unwrapped.symmetry.apply(state, actions)
        assert np.array_equal(vec.unwrapped.factors, state)
    assert np.array_equal(obs, vec.unwrapped.render_states(state))
    vec.close()
