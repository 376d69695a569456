"""Contact refinement: perturbed synthetic pairs brought back into contact with the 2D joints
kept; the lean subset skinning against the full body model; left/right readings; bad input;
the worker (latest wins, callbacks with the source stamp, failures survived)."""
import threading

import numpy as np
import pytest
import torch

from ros_phmr.bench.refine_bench import DEFAULT_K, contact_scene, perturb, region_distance
from ros_phmr.body import BodyModel, pose_from_axis_angle
from ros_phmr.demo import synthetic_model_path
from ros_phmr.refine import (ContactConstraint, ContactRefiner, RefineConfig, RefineWorker, region_choices,
                             samples_from_tables)
from ros_phmr.refine.constraints import _sample_assignments
from ros_phmr.refine.problem import _Problem

ITERATIONS = RefineConfig().iterations  # what ships is what is tested


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The optimisation is many small ops: one thread avoids oversubscription on shared CI."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def body():
    return BodyModel.from_file(synthetic_model_path())


@pytest.fixture(scope="module")
def refiner(body):
    return ContactRefiner(body, RefineConfig(iterations=ITERATIONS))


@pytest.mark.parametrize("kind, seed", [("hand_on_shoulder", 0), ("hand_on_shoulder", 1), ("handshake", 0)])
def test_refinement_restores_contact_and_keeps_2d(body, refiner, kind, seed):
    a, b, constraint, touching = contact_scene(body, kind)
    pa, pb = perturb(body, [a, b], seed=seed)
    (ra, rb), = touching
    assert region_distance(body, a, ra, b, rb) < 0.002
    before = region_distance(body, pa, ra, pb, rb)
    assert before > 0.05  # pushed apart in depth: the monocular ambiguity
    result = refiner.refine([pa, pb], [constraint], DEFAULT_K)
    after = region_distance(body, result.people[0], ra, result.people[1], rb)
    assert after < 0.02, (before, after)
    assert result.contact_after[0] < result.contact_before[0]
    assert result.iterations == ITERATIONS
    change = np.linalg.norm(np.concatenate([r.joints_2d[:22] - p.joints_2d[:22]
                                            for r, p in zip(result.people, (pa, pb))]), axis=1)
    assert change.mean() < 5.0 and result.reprojection_change_px == pytest.approx(change.mean(), rel=1e-5)
    # Only pose and translation moved; the rest is as given.
    for r, p in zip(result.people, (pa, pb)):
        assert r.track_id == p.track_id and np.array_equal(r.betas, p.betas)
        assert np.array_equal(r.global_orient, p.global_orient)


def test_unconstrained_people_are_untouched(body, refiner):
    a, b, constraint, _ = contact_scene(body, "handshake")
    bystander = perturb(body, [b, b], seed=5)[1]
    from dataclasses import replace
    bystander = replace(bystander, track_id=7)
    result = refiner.refine([bystander, a, b], [constraint], DEFAULT_K)
    assert result.people[0] is bystander
    assert not np.array_equal(result.people[1].body_pose, a.body_pose)


def test_subset_skinning_matches_the_body_model(body, refiner):
    rng = np.random.default_rng(0)
    a, b, constraint, _ = contact_scene(body, "hand_on_shoulder")
    from dataclasses import replace
    people = [replace(p, betas=rng.normal(0, 1, 10), expression=rng.normal(0, 1, 10),
                      left_hand_pose=rng.normal(0, 0.3, (15, 3)), jaw_pose=rng.normal(0, 0.2, 3))
              for p in (a, b)]
    problem = _Problem(refiner, people, [0, 1], [constraint], DEFAULT_K)
    x = torch.as_tensor(rng.normal(0, 0.2, problem.x.shape), dtype=torch.float32)
    verts, joints = problem.pose(x)
    # The same people through the full model, with the increments applied.
    n = 2
    f32 = lambda name: torch.as_tensor(np.stack([getattr(p, name) for p in people]), dtype=torch.float32)  # noqa: E731
    rot = pose_from_axis_angle(f32("global_orient"), f32("body_pose"), f32("left_hand_pose"),
                               f32("right_hand_pose"), f32("jaw_pose"))
    rot["body_pose"] = rot["body_pose"] @ _quaternion_rotation(x[:, :-3].view(n, 21, 3))
    full = body(**rot, betas=f32("betas"), expression=f32("expression"), transl=f32("transl") + x[:, -3:])
    assert torch.allclose(verts, full.vertices[:, refiner.subset], atol=2e-5)
    assert torch.allclose(joints, full.joints[:, :55], atol=2e-5)


def _quaternion_rotation(w):
    """Reference for the increments: the unit quaternion (1, w/2) normalised, as a matrix."""
    from scipy.spatial.transform import Rotation
    q = np.concatenate([0.5 * w.reshape(-1, 3).numpy(), np.ones((w[..., 0].numel(), 1))], 1)  # x, y, z, w
    mats = Rotation.from_quat(q / np.linalg.norm(q, axis=1, keepdims=True)).as_matrix()
    return torch.as_tensor(mats, dtype=torch.float32).view(*w.shape[:-1], 3, 3)


def test_left_right_readings():
    names = ["left_hand", "right_hand", "back", "left_shoulder", "right_shoulder", "chest"]
    assert region_choices("Hands", names) == ["left_hand", "right_hand"]
    assert region_choices("shoulder (back)", names) == ["left_shoulder", "right_shoulder"]
    assert region_choices("chest", names) == ["chest"]
    readings = _sample_assignments([("hand", "shoulder")], names)
    assert sorted(map(tuple, readings)) == sorted([
        (("left_hand", "left_shoulder"),), (("left_hand", "right_shoulder"),),
        (("right_hand", "left_shoulder"),), (("right_hand", "right_shoulder"),)])
    # One person's hand named twice: both hands must be used (ProsePose's rule).
    readings = _sample_assignments([("hand", "back"), ("hand", "chest")], names)
    assert sorted(map(tuple, readings)) == [
        (("left_hand", "back"), ("right_hand", "chest")),
        (("right_hand", "back"), ("left_hand", "chest"))]
    assert _sample_assignments([], names) == [[]]
    # '/' alternatives: any of them.
    assert region_choices("chest / hand", names) == ["chest", "left_hand", "right_hand"]
    assert len(_sample_assignments([("chest/back", "hand")], names)) == 4


def test_samples_from_vlm_tables():
    tables = [
        "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hand | shoulder |\n| Chest | chest |",
        "Reasoning first.\n\n| Person 1 Body Part | Person 2 Body Part |\n| :-- | :-- |\n",
        "| hand/arm | back |",
    ]
    assert samples_from_tables(tables) == [[("hand", "shoulder"), ("Chest", "chest")], [],
                                           [("hand/arm", "back")]]


@pytest.mark.parametrize("constraint, message", [
    (ContactConstraint(0, 5, [[("hand", "shoulder")]]), "no person with id 5"),
    (ContactConstraint(0, 1, [[("hand", "elbowpit")]]), "unknown body region 'elbowpit'"),
    (ContactConstraint(1, 1, [[("hand", "shoulder")]]), "names person 1 twice"),
    (ContactConstraint(0, 1, []), "empty sample list"),
    (ContactConstraint(0, 1, [[], []]), "every sample is empty"),
    (ContactConstraint(0, 1, [[("hand",)]]), "two names"),
    (ContactConstraint(0, 1, [[("hand/arm/leg", "hand/arm/leg")] * 3]), "at most 256"),
])
def test_bad_constraints_are_refused(body, refiner, constraint, message):
    a, b, _, _ = contact_scene(body, "handshake")
    with pytest.raises(ValueError, match=message):
        refiner.refine([a, b], [constraint], DEFAULT_K)


def test_worker_delivers_latest_and_rejects_bad_requests(body, refiner, caplog):
    a, b, constraint, _ = contact_scene(body, "handshake")
    pa, pb = perturb(body, [a, b], seed=2)
    got, release = [], threading.Event()

    def callback(people, stamp):
        release.wait(10)  # hold the worker busy so that requests pile up
        got.append((stamp, people))

    worker = RefineWorker(refiner, callback)
    try:
        assert worker.submit([pa, pb], [constraint], DEFAULT_K, stamp=1.0) == []
        for stamp in (2.0, 3.0):
            worker.submit([pa, pb], [constraint], DEFAULT_K, stamp=stamp)
        drops = worker.submit([pa, pb], [ContactConstraint(0, 9, [[("hand", "hand")]])], DEFAULT_K, stamp=4.0)
        assert [d.kind for d in drops] == ["contact_constraint_invalid"] and "id 9" in drops[0].detail
        assert "no person with id 9" in caplog.text
        release.set()
        assert worker.wait_idle(60)
    finally:
        worker.close()
    stamps = [s for s, _ in got]
    assert stamps[-1] == 3.0 and 4.0 not in stamps and len(stamps) <= 2  # 2.0 replaced by 3.0
    assert worker.counts["rejected"] == 1 and worker.counts["replaced"] >= 1
    refined = got[-1][1]
    assert [p.track_id for p in refined] == [0, 1]
    assert region_distance(body, refined[0], "right_hand", refined[1], "right_hand") < 0.02


def test_worker_survives_a_failing_refinement(body, refiner, caplog):
    a, b, constraint, _ = contact_scene(body, "handshake")
    got = []
    worker = RefineWorker(refiner, lambda people, stamp: got.append(stamp))
    try:
        worker.submit([a, b], [constraint], np.full((3, 3), np.nan), stamp=1.0)  # bad K
        assert worker.wait_idle(60)
        worker.submit([a, b], [constraint], DEFAULT_K, stamp=2.0)
        assert worker.wait_idle(60)
    finally:
        worker.close()
    assert got == [2.0] and worker.counts["failed"] == 1
    assert "contact refinement failed" in caplog.text


def test_optimisation_takes_no_host_data(body, refiner):
    """A CUDA graph replays device work only: the whole optimisation (``run``: targets, every
    step, contact before/after) builds no tensor from host data and reads no value back (an
    H2D copy inside a step broke capture on the H200)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    a, b, constraint, _ = contact_scene(body, "handshake")
    problem = _Problem(refiner, [a, b], [0, 1], [constraint], DEFAULT_K)
    seen = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(str(func))
            return func(*args, **(kwargs or {}))

    with Record():
        problem.run()
    forbidden = ("lift_fresh", "_local_scalar_dense", "nonzero", "item", "masked_select", "_to_copy")
    assert len(seen) > 100 * ITERATIONS and not [op for op in seen if any(f in op for f in forbidden)]


def test_a_filled_problem_runs_like_a_fresh_one(body, refiner):
    """What a CUDA graph replay does: another problem of the same padded layout copied into a
    problem's buffers, then the whole optimisation run again from them."""
    problems = []
    for kind in ("hand_on_shoulder", "hug"):
        a, b, constraint, _ = contact_scene(body, kind)
        problems.append(_Problem(refiner, perturb(body, [a, b], seed=3), [0, 1], [constraint], DEFAULT_K))
    static, fresh = problems
    assert static.signature() == fresh.signature()  # different constraints, one padded layout
    static.run()
    fresh.run()
    static.fill(fresh)
    static.run()
    assert torch.allclose(static.x, fresh.x, atol=1e-6)
    assert torch.equal(static.after, fresh.after) and torch.equal(static.before, fresh.before)
    assert static.constraint_samples == fresh.constraint_samples


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_replay_matches_eager_cuda():
    """On CUDA the whole optimisation is one graph, captured on the first call of a layout
    and replayed afterwards (also for another scene of the same padded layout)."""
    body = BodyModel.from_file(synthetic_model_path()).to("cuda")
    graphed = ContactRefiner(body, RefineConfig(iterations=ITERATIONS))
    eager = ContactRefiner(body, RefineConfig(iterations=ITERATIONS, cuda_graph=False))
    cpu_body = BodyModel.from_file(synthetic_model_path())
    for kind in ("hand_on_shoulder", "handshake", "hand_on_shoulder"):
        a, b, constraint, touching = contact_scene(cpu_body, kind)
        people = perturb(cpu_body, [a, b], seed=0)
        g = graphed.refine(people, [constraint], DEFAULT_K)
        e = eager.refine(people, [constraint], DEFAULT_K)
        (ra, rb), = touching
        assert region_distance(cpu_body, g.people[0], ra, g.people[1], rb) < 0.02
        assert g.reprojection_change_px < 5.0
        # Same kernels, but CUDA's atomic gradient sums differ in the last bits from run to
        # run and Adam magnifies tiny gradients: close, not identical.
        for pg, pe in zip(g.people, e.people):
            assert np.allclose(pg.body_pose, pe.body_pose, atol=0.02)
            assert np.allclose(pg.transl, pe.transl, atol=0.005)
        assert g.contact_after == pytest.approx(e.contact_after, abs=0.003)
    assert len(graphed._graphs) == 1 and graphed.config.cuda_graph
