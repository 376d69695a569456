"""The synthetic SMPL-X file: the released file's layout, loadable by smplx, deterministic, and a
plausible human mannequin (checked on the raw arrays against smplx's own vertex ids)."""
import time

import numpy as np
import pytest
import smplx
import torch
from scipy.spatial import cKDTree
from smplx.joint_names import JOINT_NAMES
from smplx.vertex_ids import vertex_ids as SMPLX_VERTEX_IDS

import shutil

from ros_phmr.body import (is_synthetic_model, load_model_arrays, synthetic_smplx_arrays,
                           write_synthetic_smplx)

# Key, shape and dtype of the released SMPLX_NEUTRAL.npz (v1.1) for every numeric key smplx
# reads (the reference key table); object arrays and texture coordinates are left out on purpose.
RELEASED_LAYOUT = {
    "v_template": ((10475, 3), np.float64),
    "f": ((20908, 3), np.uint32),
    "shapedirs": ((10475, 3, 400), np.float64),
    "posedirs": ((10475, 3, 486), np.float64),
    "J_regressor": ((55, 10475), np.float64),
    "kintree_table": ((2, 55), np.int64),
    "weights": ((10475, 55), np.float64),
    "hands_componentsl": ((45, 45), np.float64),
    "hands_componentsr": ((45, 45), np.float64),
    "hands_meanl": ((45,), np.float64),
    "hands_meanr": ((45,), np.float64),
    "lmk_faces_idx": ((51,), np.int64),
    "lmk_bary_coords": ((51, 3), np.float64),
    "dynamic_lmk_faces_idx": ((79, 17), np.int64),
    "dynamic_lmk_bary_coords": ((79, 17, 3), np.float64),
}
J = {name: i for i, name in enumerate(JOINT_NAMES[:55])}
VID = SMPLX_VERTEX_IDS["smplx"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_smplx")
    start = time.perf_counter()
    path = write_synthetic_smplx(root, seed=0)
    return root, path, time.perf_counter() - start


@pytest.fixture(scope="module")
def raw(generated):
    with np.load(generated[1], allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


@pytest.fixture(scope="module")
def rest(raw):
    """Rest-pose vertices, joints (J_regressor @ v_template) and each vertex's dominant joint."""
    v = raw["v_template"]
    return v, raw["J_regressor"] @ v, raw["weights"].argmax(1)


def test_generation_is_fast_and_file_small(generated):
    assert generated[2] < 5.0
    assert generated[1].stat().st_size < 20e6
    assert generated[1] == generated[0] / "smplx" / "SMPLX_NEUTRAL.npz"


def test_keys_shapes_and_dtypes_equal_the_released_file(raw):
    assert set(raw) == set(RELEASED_LAYOUT)
    for key, (shape, dtype) in RELEASED_LAYOUT.items():
        assert raw[key].shape == shape, key
        assert raw[key].dtype == dtype, key


def test_loads_through_smplx_create_including_face_contour_and_mean_hands(generated):
    root = generated[0]
    with torch.no_grad():
        plain = smplx.create(str(root), model_type="smplx", flat_hand_mean=True)()
        contour = smplx.create(str(root), model_type="smplx", use_face_contour=True)()
        mean_hands = smplx.create(str(root), model_type="smplx", flat_hand_mean=False,
                                  use_pca=True, num_pca_comps=12, num_betas=16, num_expression_coeffs=50)()
    assert plain.vertices.shape == (1, 10475, 3) and plain.joints.shape == (1, 127, 3)
    assert contour.joints.shape == (1, 144, 3)
    assert torch.isfinite(mean_hands.vertices).all()
    # the mean hand is a real curl: flat and mean hands differ at the fingertips
    tips = [VID[k] for k in ("lindex", "lmiddle", "rindex")]
    assert (mean_hands.vertices[0, tips] - plain.vertices[0, tips]).norm(dim=-1).min() > 0.01


def test_our_loader_reads_it_as_float32(generated):
    arrays = load_model_arrays(generated[0])
    assert set(arrays) == set(RELEASED_LAYOUT)
    assert all(arrays[k].dtype == np.float32 for k in arrays if RELEASED_LAYOUT[k][1] == np.float64)


def test_same_seed_gives_same_bytes(generated, tmp_path):
    again = write_synthetic_smplx(tmp_path, seed=0)
    assert again.read_bytes() == generated[1].read_bytes()


def test_generated_model_is_recognised_as_synthetic_and_a_bare_npz_is_not(generated, tmp_path):
    root, path, _ = generated
    assert is_synthetic_model(path) and is_synthetic_model(root)  # file or folder
    elsewhere = tmp_path / "models" / "smplx"
    elsewhere.mkdir(parents=True)
    shutil.copy(path, elsewhere / path.name)  # same bytes, no marker: as a user's SMPL-X file
    assert not is_synthetic_model(elsewhere / path.name)


def test_other_seed_changes_random_parts_not_the_body(raw):
    other = synthetic_smplx_arrays(seed=1)
    assert np.array_equal(other["v_template"], raw["v_template"])
    assert not np.allclose(other["posedirs"], raw["posedirs"])
    assert not np.allclose(other["hands_componentsl"], raw["hands_componentsl"])


def test_values_are_valid(raw):
    np.testing.assert_allclose(raw["weights"].sum(1), 1.0, atol=1e-8)
    np.testing.assert_allclose(raw["J_regressor"].sum(1), 1.0, atol=1e-8)
    assert raw["weights"].min() >= 0 and raw["J_regressor"].min() >= 0
    for side in "lr":
        c = raw[f"hands_components{side}"]
        np.testing.assert_allclose(c @ c.T, np.eye(45), atol=1e-8)
        assert np.abs(raw[f"hands_mean{side}"]).max() > 0.1
    parents = raw["kintree_table"][0]
    assert parents[0] == 2 ** 32 - 1 and all(parents[i] < i for i in range(1, 55))
    assert (raw["lmk_faces_idx"] < 20908).all() and (raw["dynamic_lmk_faces_idx"] < 20908).all()
    for bary in (raw["lmk_bary_coords"], raw["dynamic_lmk_bary_coords"]):
        np.testing.assert_allclose(bary.sum(-1), 1.0, atol=1e-8)
        assert bary.min() >= 0
    assert np.abs(raw["posedirs"]).max() < 0.02           # correctives are small
    assert np.abs(raw["shapedirs"][:, :, 0]).max() > 0.01  # beta 0 does something


def test_mesh_is_closed_except_face_openings_and_wound_outwards(raw):
    v, f = raw["v_template"], raw["f"].astype(np.int64)
    assert f.min() == 0 and f.max() == 10474 and len(np.unique(f)) == 10475   # every vertex used
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    keys = edges[:, 0] * 10475 + edges[:, 1]
    assert len(np.unique(keys)) == len(keys)          # manifold, consistently oriented
    reverse = edges[:, 1] * 10475 + edges[:, 0]
    border = edges[~np.isin(reverse, keys)]
    assert len(border) < 60                            # only mouth and eye openings are open
    assert v[border.ravel(), 1].min() - v[:, 1].min() > 1.4   # ... and they are on the head
    tri = v[f]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert np.linalg.norm(cross, axis=1).min() > 1e-7     # no degenerate triangles
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    assert 0.04 < volume < 0.10                           # m^3, outward winding, human-sized


def test_mannequin_is_a_standing_t_posed_adult(rest):
    v, joints, owner = rest
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.5 < height < 1.9
    assert abs(joints[J["pelvis"], 0]) < 1e-6 and -0.45 < joints[J["pelvis"], 1] < -0.25
    assert owner[np.argmax(v[:, 1])] == J["head"]                       # head on top
    lowest = np.argsort(v[:, 1])[:50]
    assert set(owner[lowest]) <= {J[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder, wrist = joints[J[f"{side}_shoulder"]], joints[J[f"{side}_wrist"]]
        assert abs(wrist[1] - shoulder[1]) < 0.03                        # arms horizontal (T-pose)
        assert sign * wrist[0] > sign * shoulder[0] + 0.4                 # pointing sideways
        assert sign * joints[J[f"{side}_hip"], 0] > 0
        assert joints[J[f"{side}_ankle"], 1] < joints[J[f"{side}_knee"], 1] < joints[J[f"{side}_hip"], 1]
    spine = [J[n] for n in ("pelvis", "spine1", "spine2", "spine3", "neck", "head")]
    assert np.all(np.diff(joints[spine, 1]) > 0)


def test_left_and_right_halves_mirror_each_other(rest):
    v, _, _ = rest
    distance, _ = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))
    assert distance.max() < 1e-9
    assert (v[:, 0] > 1e-9).sum() == (v[:, 0] < -1e-9).sum()


def test_extra_keypoint_vertices_sit_on_the_named_body_parts(rest):
    v, joints, _ = rest
    head = joints[J["head"]]
    nose, leye, reye = v[VID["nose"]], v[VID["leye"]], v[VID["reye"]]
    assert abs(nose[0]) < 1e-6 and nose[2] > head[2] + 0.08                # nose in front
    assert nose[1] < leye[1] and leye[1] - nose[1] < 0.08
    assert leye[0] > 0.01 and reye[0] < -0.01 and leye[2] > head[2] + 0.05
    assert v[VID["lear"], 0] > 0.06 and v[VID["rear"], 0] < -0.06
    assert abs(v[VID["lear"], 2] - head[2]) < 0.04
    for side, big, small, heel, sign in (("left", "LBigToe", "LSmallToe", "LHeel", 1.0),
                                         ("right", "RBigToe", "RSmallToe", "RHeel", -1.0)):
        ankle = joints[J[f"{side}_ankle"]]
        for toe in (big, small):
            assert v[VID[toe], 2] > ankle[2] + 0.12 and v[VID[toe], 1] < ankle[1]
        assert sign * v[VID[small], 0] > sign * v[VID[big], 0]             # big toe is medial
        assert v[VID[heel], 2] < ankle[2] - 0.02 and v[VID[heel], 1] < ankle[1] - 0.05
        wrist = joints[J[f"{side}_wrist"]]
        tips = {name: v[VID[side[0] + name]] for name in ("thumb", "index", "middle", "ring", "pinky")}
        for tip in tips.values():
            assert sign * tip[0] > sign * wrist[0] + 0.09                  # fingertips beyond wrist
        assert tips["thumb"][2] > tips["index"][2] > tips["middle"][2] > tips["ring"][2] > tips["pinky"][2]
        assert sign * tips["middle"][0] == max(sign * t[0] for t in tips.values())


def test_face_landmarks_are_on_the_face(raw, rest):
    v, joints, _ = rest
    corners = v[raw["f"][raw["lmk_faces_idx"]].astype(np.int64)]           # (51, 3, 3)
    landmarks = np.einsum("lkc,lk->lc", corners, raw["lmk_bary_coords"])
    head = joints[J["head"]]
    assert (landmarks[:, 2] > head[2] + 0.05).all()                       # in front of the head
    assert (np.abs(landmarks[:, 1] - v[VID["nose"], 1]) < 0.08).all()
    brows, nostrils, mouth = landmarks[:10], landmarks[14:19], landmarks[31:]   # iBUG 17-26, 31-35, 48-67
    assert brows[:, 1].min() > v[VID["nose"], 1] > nostrils[:, 1].max()
    assert mouth[:, 1].max() < nostrils[:, 1].min()
    np.testing.assert_allclose(landmarks[:5, 0], -landmarks[5:10, 0][::-1], atol=0.01)
