"""RotatingCube: a non-commutative group built by closure, its laws on pixels, the metrics and an agent on it.

The API checkers, seeding, bad actions, the native vector env and the collector run for
every world in test_worlds.py, test_vector.py and test_transitions.py.
"""

from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from flatland_env import TransitionCollector, load_npz, save_npz, spec_from_json
from flatland_env.finite_group import FiniteGroupSpec
from flatland_env.play import play
from flatland_env.worlds.cube import RotatingCubeEnv, RotatingCubeVectorEnv, cube_spec
from vae.metrics import evaluate
from vae.metrics.equivariance import equivariance_error

ENV = RotatingCubeEnv()
SPEC = ENV.symmetry
A = {name: i for i, name in enumerate(SPEC.action_names)}
ALL = SPEC.all_acted_states()


def _frames_after(env, start, actions):
    """Observation after stepping ``env`` from orientation ``start`` through named actions."""
    obs, _ = env.reset(options={"factors": [start]})
    for name in actions:
        obs, *_ = env.step(A[name])
    return obs


def test_the_spec_is_the_rotation_group_of_the_cube():
    assert SPEC.order == 24 and SPEC.factor_sizes == (24,) and SPEC.factor_names == ("orientation",)
    assert SPEC.group_name == "rotations of the cube (order 24, isomorphic to S4)"
    els = SPEC.elements
    assert np.array_equal(els[0], np.eye(3)) and els.dtype == np.int64
    assert all(np.array_equal(g @ g.T, np.eye(3)) and round(np.linalg.det(g)) == 1 for g in els)
    assert len({g.tobytes() for g in els}) == 24
    # S4's element orders: 1 identity, 9 of order 2, 8 of order 3, 6 of order 4
    assert Counter(SPEC.element_order(i) for i in range(24)) == {1: 1, 2: 9, 3: 8, 4: 6}
    assert SPEC.generator_names == ("x+", "y+", "z+") and [SPEC.action_order(a) for a in range(6)] == [4] * 6
    assert [SPEC.inverse_action(a) for a in range(6)] == [1, 0, 3, 2, 5, 4]
    assert SPEC.symmetries() == ((0, 1), (2, 3), (4, 5))  # by axis
    assert not SPEC.is_abelian and SPEC.commutes(A["x+"], A["x-"]) and not SPEC.commutes(A["x+"], A["y+"])
    assert len(SPEC.non_commuting_pairs()) == 12  # every two actions about different axes
    # the action table is left multiplication by the action's matrix, and a Latin square
    mult = SPEC.multiplication_table()
    assert np.array_equal(SPEC.table, mult[SPEC.table[:, 0]])
    assert all(sorted(row) == list(range(24)) for row in mult) and all(sorted(c) == list(range(24)) for c in mult.T)
    for a, g in [(0, 5), (3, 17)]:
        assert np.array_equal(SPEC.element(int(SPEC.table[a, g])), np.array(SPEC.action_matrices[a]) @ els[g])
    described = SPEC.describe()
    assert described["abelian"] is False and described["generator_orders"] == {"x+": 4, "y+": 4, "z+": 4}
    assert ["x+", "y+"] in described["non_commuting"]


def test_json_round_trip_and_refusals(tmp_path):
    back = spec_from_json(SPEC.to_json())
    assert isinstance(back, FiniteGroupSpec) and back == SPEC and np.array_equal(back.table, SPEC.table)
    with TransitionCollector("RotatingCube-v0", num_envs=2, k=2, seed=0) as c:  # datasets carry the spec
        save_npz(tmp_path / "cube.npz", c.collect(10), c.spec)
    assert load_npz(tmp_path / "cube.npz")[1] == SPEC
    assert SPEC == cube_spec() and hash(SPEC) == hash(cube_spec())
    with pytest.raises(ValueError, match="not commutative: action 'x\\+' has no per-factor rotation angle"):
        SPEC.continuous_angle(0)
    with pytest.raises(ValueError, match="factors out of range; allowed 0 <= orientation < 24"):
        SPEC.apply(np.array([24]), 0)
    with pytest.raises(ValueError, match=r"actions must be integers in \[0, 6\)"):
        SPEC.apply(np.array([0]), 6)
    with pytest.raises(ValueError, match="is not an element"):
        SPEC.index_of(2 * np.eye(3, dtype=int))
    for kwargs, match in [
        ({"action_matrices": (((1, 1), (0, 1)),)}, "more than 10000 elements"),  # a shear: infinite order
        ({"action_matrices": (((2, 0), (0, 1)),)}, "determinant"),
        ({"action_matrices": (((1, 0), (0, 1)),)}, "identity"),
        ({"action_matrices": (((0, 1), (1, 0)),), "action_names": ("a", "b")}, "one distinct name"),
    ]:
        with pytest.raises(ValueError, match=match):
            FiniteGroupSpec(**{"action_names": ("a",), **kwargs})
    quarter = FiniteGroupSpec(("turn",), (((0, -1), (1, 0)),), label="quarter turns")
    assert quarter.order == 4 and quarter.is_abelian and quarter.group_name == "quarter turns (order 4)"


def test_group_laws_on_pixels():
    flip = {"x+": "x-", "x-": "x+", "y+": "y-", "y-": "y+", "z+": "z-", "z-": "z+"}
    for g in range(24):
        home = ENV.render_states(np.array([[g]]))[0]
        for name, inverse in flip.items():
            assert np.array_equal(_frames_after(ENV, g, [name, inverse]), home)
            assert np.array_equal(_frames_after(ENV, g, [name] * 4), home)
            assert not np.array_equal(_frames_after(ENV, g, [name] * 2), home)
        # x+ then y+ is not y+ then x+: the group does not commute, on every state
        assert not np.array_equal(_frames_after(ENV, g, ["x+", "y+"]), _frames_after(ENV, g, ["y+", "x+"]))
        assert np.array_equal(_frames_after(ENV, g, ["x+", "x-", "z+"]), _frames_after(ENV, g, ["z+"]))


def test_grey_cube_passes_both_checkers():
    gym_check_env(RotatingCubeEnv(obs_mode="grey"), skip_render_check=True)
    sb3_check_env(gym.make("RotatingCube-v0", obs_mode="grey"), warn=False)


def test_24_distinct_frames_and_closure():
    for mode in ("rgb", "grey"):
        frames = RotatingCubeEnv(obs_mode=mode).render_states(ALL)
        assert frames.shape == (24, 64, 64, 1 if mode == "grey" else 3)
        assert len({f.tobytes() for f in frames}) == 24
    # from any state, stepping through every action reaches exactly the 24 orientations (so 24 frames)
    for start in range(24):
        seen, frontier = {start}, [start]
        while frontier:
            nxt = SPEC.apply(np.repeat(np.array(frontier)[:, None], 6, 0), np.tile(np.arange(6), len(frontier)))
            frontier = sorted(set(nxt[:, 0].tolist()) - seen)
            seen |= set(frontier)
        assert seen == set(range(24))


def test_native_vector_env_steps_through_the_table():
    vec = gym.make_vec("RotatingCube-v0", num_envs=3)
    assert isinstance(vec, RotatingCubeVectorEnv) and vec.single_observation_space.shape == (64, 64, 3)
    _, info = vec.reset(seed=0)
    obs, *_, info2 = vec.step(np.array([0, 2, 4]))
    assert np.array_equal(info2["factors"], SPEC.apply(info["factors"], np.array([0, 2, 4])))
    assert np.array_equal(obs, ENV.render_states(info2["factors"]))


class MatrixModel:
    """An exact model of the cube: the latent is the flattened rotation matrix, rho(a) = R_a acting on it.

    It is a faithful linear representation of a non-commutative group, which no product of
    latent rotation planes can be.
    """

    def __init__(self, world):
        self.lookup = {f.tobytes(): g for g, f in enumerate(world.render_states(ALL))}

    def orientation(self, obs):
        return np.array([self.lookup[o.tobytes()] for o in obs])

    def encode(self, obs):
        return SPEC.elements[self.orientation(obs)].reshape(len(obs), 9).astype(np.float64)

    def action_representations(self):
        # vec(R g) = (R kron I) vec(g) for a row-major flattening
        return np.stack([np.kron(np.array(m), np.eye(3)) for m in SPEC.action_matrices])

    def infer_actions(self, obs, next_obs):
        g, h = self.orientation(obs), self.orientation(next_obs)
        return np.array([int(np.flatnonzero(SPEC.table[:, a] == b)[0]) for a, b in zip(g, h)])


def test_metric_suite_runs_what_applies_and_skips_naming_the_group():
    r = evaluate(MatrixModel(ENV), ENV, num_samples=100, progress=False)
    assert r["group"]["group"] == SPEC.group_name and r["group"]["abelian"] is False
    for name in ("independence", "d_lsbd"):
        assert "rotations of the cube (order 24, isomorphic to S4)" in r[name]["skipped"]
    ran = {m for m, v in r.items() if isinstance(v, dict) and "skipped" not in v} - {"group", "seconds"}
    assert ran == {"action_estimation", "beta_vae", "dci", "equivariance", "factor_vae", "group_relations", "mig",
                   "modularity_explicitness", "sap"}
    assert r["equivariance"]["relative_error"] < 1e-12 and r["action_estimation"]["accuracy"] == 1.0
    assert r["group_relations"]["max_error"] < 1e-9 and len(r["group_relations"]["learned_non_commuting"]) == 12


def test_mirror_actions_label_the_same_transitions_and_are_independent_of_the_world_labels():
    mirror = SPEC.mirror_actions()
    els, mats = SPEC.elements, np.array(SPEC.action_matrices)
    assert mirror.shape == (24, 6) and not mirror.flags.writeable
    for g in range(24):
        for a in range(6):
            assert np.array_equal(mats[a] @ els[g], els[g] @ mats[mirror[g, a]])  # R_a g = g R_b
        assert sorted(mirror[g]) == list(range(6))  # a relabelling at every state
    # the same set of transitions under both labellings, and each world action's mirror labels spread evenly
    world = {(g, int(SPEC.table[a, g])) for g in range(24) for a in range(6)}
    right = {(g, int(np.flatnonzero(np.all(els == els[g] @ m, axis=(1, 2)))[0])) for g in range(24) for m in mats}
    assert world == right
    assert all(np.bincount(mirror[:, a], minlength=6).tolist() == [4] * 6 for a in range(6))
    # abelian: the mirror labels are the world's; not closed under conjugation: no mirror labelling
    quarter = FiniteGroupSpec(("turn", "back"), (((0, -1), (1, 0)), ((0, 1), (-1, 0))))
    assert np.array_equal(quarter.mirror_actions(), np.tile([0, 1], (4, 1)))
    swaps = FiniteGroupSpec(("s12", "s23"), (((0, 1, 0), (1, 0, 0), (0, 0, 1)), ((1, 0, 0), (0, 0, 1), (0, 1, 0))))
    assert swaps.order == 6 and swaps.mirror_actions() is None  # (1 2) conjugated by (2 3) is (1 3), no action


def test_action_estimation_scores_the_mirror_labelling_too():
    """A learner of the mirror labelling is perfect on accuracy_mirror and at chance on the world's labels."""
    model = MatrixModel(ENV)
    mirror = SPEC.mirror_actions()

    class MirrorModel(MatrixModel):
        def infer_actions(self, obs, next_obs):
            g = self.orientation(obs)
            return mirror[g, super().infer_actions(obs, next_obs)]

    world = evaluate(model, ENV, num_samples=240, progress=False, metrics=["action_estimation"])["action_estimation"]
    assert world["accuracy"] == 1.0 and world["accuracy_mirror"] < 0.35
    mirrored = evaluate(MirrorModel(ENV), ENV, num_samples=240, progress=False,
                        metrics=["action_estimation"])["action_estimation"]
    assert mirrored["accuracy_mirror"] == 1.0 and mirrored["accuracy"] < 0.35


def test_equivariance_of_a_3d_representation_and_of_a_commutative_one():
    v0 = np.array([1.0, 2.0, 3.0])  # distinct magnitudes: g @ v0 tells every rotation apart
    lookup = MatrixModel(ENV).orientation

    def encode(obs):
        return SPEC.elements[lookup(obs)] @ v0

    rng = np.random.default_rng(0)
    rho = np.array(SPEC.action_matrices, dtype=np.float64)
    assert equivariance_error(encode, ENV, rng, rho, num_states=100)["relative_error"] < 1e-12
    # commuting matrices (the identity, say) cannot explain the moves
    assert equivariance_error(encode, ENV, rng, np.stack([np.eye(3)] * 6), num_states=100)["relative_error"] > 0.5


def test_a_tiny_rgrvae_trains_on_the_cube():
    import agents
    from flatland_env.pairs import PairSourceConfig

    agent = agents.RGrVAE(PairSourceConfig(env_id="RotatingCube-v0", num_envs=2), batch_size=16, channels=(8, 8, 8, 8),
                          hidden=32, latent_size=6)
    agent.learn(3, progress_bar=False)
    assert agent.num_steps == 3 and agent.spec == SPEC and agent.num_latent_actions == 6
    assert agent.encode(ENV.render_states(ALL[:4])).shape == (4, 6)


def test_hand_play_on_the_cube(tmp_path):
    shot = tmp_path / "cube.png"
    start = play("RotatingCube-v0", scale=2, seed=0, keys="space", max_frames=2)
    there_and_back = play("RotatingCube-v0", scale=2, seed=0, keys="1 3 4 2", screenshot=shot)  # x+ y+ y- x-
    assert there_and_back.steps == 4 and there_and_back.last_action == "x-" and shot.stat().st_size > 0
    assert there_and_back.factors == start.factors and isinstance(start.factors[0], int)
    swapped = [play("RotatingCube-v0", scale=1, seed=0, keys=k).factors for k in ("1 3", "3 1")]
    assert swapped[0] != swapped[1]
