"""Rigging of the synthetic mannequin: skinning weights, joint regressor, blend shapes, hands and
face landmarks, all derived from the mesh and skeleton so that they behave like SMPL-X's.

Everything is a smooth function of the rest-pose geometry (so the mesh stays closed under any
shape or expression) and is made exactly left/right symmetric through the mesh's mirror map.
"""
from typing import Sequence, Tuple

import numpy as np
from scipy.optimize import nnls
from scipy.spatial import cKDTree

from ros_phmr.body import layout
from ros_phmr.body import mannequin_skeleton as skel
from ros_phmr.body.mannequin_mesh import MannequinMesh

_J = {name: i for i, name in enumerate(layout.JOINT_NAMES)}
_FINGER_CHAINS = ("index", "middle", "pinky", "ring", "thumb")
# Joints whose bones may claim a vertex of each (left-side) part, and how wide the blend is (m).
_PART_BONES = {
    "trunk": (["pelvis", "spine1", "spine2", "spine3", "neck", "head", "left_collar", "right_collar",
               "left_hip", "right_hip", "left_shoulder", "right_shoulder"], 0.030),
    "left_leg": (["pelvis", "left_hip", "left_knee", "left_ankle"], 0.030),
    "left_foot": (["left_ankle", "left_foot"], 0.020),
    "left_arm": (["left_collar", "left_shoulder", "left_elbow", "left_wrist"], 0.025),
    "left_hand": (["left_wrist"] + [f"left_{f}1" for f in _FINGER_CHAINS], 0.010),
}
for _finger in _FINGER_CHAINS:
    _PART_BONES[f"left_{_finger}"] = (["left_wrist"] + [f"left_{_finger}{k}" for k in (1, 2, 3)],
                                      0.007 if _finger == "thumb" else 0.006)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def _segment_distance(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Distance (V,) of points to a segment and the closest points on it (V, 3)."""
    d = end - start
    length2 = float(d @ d)
    t = np.zeros(len(points)) if length2 == 0 else np.clip((points - start) @ d / length2, 0.0, 1.0)
    closest = start + t[:, None] * d
    return np.linalg.norm(points - closest, axis=1), closest


def _bone_distances(points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Distance of every point to every joint's bone segments (V, 55) and the closest bone
    points (V, 55, 3)."""
    dist = np.full((len(points), layout.NUM_JOINTS), np.inf)
    closest = np.repeat(points[:, None], layout.NUM_JOINTS, axis=1)
    for joint, segments in skel.bone_segments().items():
        for start, end in segments:
            d, c = _segment_distance(points, start, end)
            better = d < dist[:, joint]
            dist[better, joint] = d[better]
            closest[better, joint] = c[better]
    return dist, closest


def _side_swap(name: str) -> str:
    for a, b in (("left_", "right_"), ("right_", "left_")):
        if name.startswith(a):
            return b + name[len(a):]
    return name


def _jaw_share(points: np.ndarray) -> np.ndarray:
    """How much each head vertex belongs to the lower jaw (V,): below the line from the mouth
    to the jaw hinge, above the line under the jaw, in front of the ears."""
    x, h, z = points.T
    below_mouth_line = _sigmoid((1.506 + 0.5 * np.clip(0.085 - z, 0.0, None) - h) / 0.0025)
    above_throat = _sigmoid((h - (1.470 + 0.6 * (0.05 - z))) / 0.004)
    in_front = _sigmoid(z / 0.006)
    narrow = _sigmoid((0.085 - np.abs(x)) / 0.004)
    return below_mouth_line * above_throat * in_front * narrow


def skinning_weights(mesh: MannequinMesh) -> np.ndarray:
    """LBS weights (V, 55): soft bone membership within each body part, blended near joints."""
    points = mesh.points
    dist, _ = _bone_distances(points)
    weights = np.zeros((len(points), layout.NUM_JOINTS))
    for part_id, part in enumerate(mesh.part_names):
        rows = np.nonzero(mesh.part == part_id)[0]
        if part.endswith("_eye"):
            weights[rows, _J[f"{part[:-4]}_eye_smplhf"]] = 1.0
            continue
        left_name = part if part == "trunk" or part.startswith("left_") else _side_swap(part)
        bones, width = _PART_BONES[left_name]
        if part != left_name:
            bones = [_side_swap(b) for b in bones]
        cols = [_J[b] for b in bones]
        d = dist[np.ix_(rows, cols)]
        sigma = np.full(len(rows), width)
        if part == "trunk":   # the head needs sharper boundaries than the torso
            sigma = np.interp(points[rows, 1], [1.44, 1.50], [width, 0.012])
        logits = -(d ** 2 - d.min(1, keepdims=True) ** 2) / (2.0 * sigma[:, None] ** 2)
        soft = np.exp(logits)
        soft[soft < 1e-3] = 0.0
        weights[np.ix_(rows, cols)] = soft / soft.sum(1, keepdims=True)
    trunk = mesh.part == mesh.part_names.index("trunk")
    jaw = np.where(trunk, _jaw_share(points), 0.0)
    weights *= (1.0 - jaw)[:, None]
    weights[:, _J["jaw"]] += jaw
    weights[weights < 1e-4] = 0.0
    weights /= weights.sum(1, keepdims=True)
    return symmetrize_rows(weights, mesh.mirror)


def symmetrize_rows(per_vertex_joint: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Average a (V, 55) table with its mirror image (vertex and joint swapped left/right)."""
    joint_mirror = skel.joint_mirror()
    return 0.5 * (per_vertex_joint + per_vertex_joint[mirror][:, joint_mirror])


def joint_regressor(mesh: MannequinMesh, weights: np.ndarray) -> Tuple[np.ndarray, float]:
    """J_regressor (55, V): for each joint a convex combination of nearby vertices that lands
    on the skeleton joint (eyes: the eyeball's vertex mean). Also returns the largest miss (m)."""
    points = mesh.points
    targets = skel.rest_joints()
    regressor = np.zeros((layout.NUM_JOINTS, len(points)))
    worst = 0.0
    for joint in range(layout.NUM_JOINTS):
        name = layout.JOINT_NAMES[joint]
        if name.startswith("right_"):
            continue
        if name.endswith("_eye_smplhf"):
            rows = np.nonzero(weights[:, joint] > 0.999)[0]
            regressor[joint, rows] = 1.0 / len(rows)
            continue
        parent = layout.PARENTS[joint]
        share = weights[:, joint] + (weights[:, parent] if parent >= 0 else 0.0)
        pool = np.nonzero(share > 0.05)[0]
        near = _surrounding(points, pool, targets[joint])
        w, miss = _convex_weights(points[near], targets[joint])
        regressor[joint, near] = w
        worst = max(worst, miss)
    for joint, name in enumerate(layout.JOINT_NAMES):
        if name.startswith("right_"):
            regressor[joint] = regressor[_J[_side_swap(name)]][mesh.mirror]
        elif not name.startswith("left_"):   # midline joints: average with the mirror image
            regressor[joint] = 0.5 * (regressor[joint] + regressor[joint][mesh.mirror])
    return regressor, worst


def _surrounding(points: np.ndarray, pool: np.ndarray, target: np.ndarray, per_octant: int = 6) -> np.ndarray:
    """The ``per_octant`` pool vertices nearest to ``target`` in each of the 8 octants around
    it, so the chosen vertices enclose the target whenever the pool does."""
    offset = points[pool] - target
    octant = (offset > 0).astype(int) @ np.array([1, 2, 4])
    order = np.argsort(np.linalg.norm(offset, axis=1), kind="stable")
    chosen = [order[octant[order] == k][:per_octant] for k in range(8)]
    return pool[np.sort(np.concatenate(chosen))]


def _convex_weights(points: np.ndarray, target: np.ndarray) -> Tuple[np.ndarray, float]:
    """Non-negative weights summing to 1 whose combination of ``points`` hits ``target``,
    staying close to uniform (least squares with heavily weighted constraints)."""
    count = len(points)
    stiff = 1e4
    a = np.concatenate([stiff * (points - target).T, stiff * np.ones((1, count)), np.eye(count)])
    b = np.concatenate([np.zeros(3), [stiff], np.full(count, 1.0 / count)])
    w, _ = nnls(a, b, maxiter=50 * count)
    w /= w.sum()
    return w, float(np.linalg.norm(w @ points - target))


# ----------------------------------------------------------------------------- blend shapes

def _band(h: np.ndarray, rise: Sequence[float], fall: Sequence[float]) -> np.ndarray:
    return np.interp(h, [rise[0], rise[1], fall[0], fall[1]], [0.0, 1.0, 1.0, 0.0])


def _blob(points: np.ndarray, center: Sequence[float], radius: float, mirrored: bool = False) -> np.ndarray:
    """Gaussian bump (V,) around a face point (and its mirror image), front half only."""
    c = np.asarray(center, float)
    centers = [c, c * np.array([-1.0, 1.0, 1.0])] if mirrored else [c]
    xy = points[:, :2]
    value = sum(np.exp(-np.sum((xy - cc[:2]) ** 2, 1) / (2 * radius ** 2)) for cc in centers)
    return value * (points[:, 2] > 0.0)


def shape_directions(mesh: MannequinMesh, weights: np.ndarray) -> np.ndarray:
    """The first 8 body shape directions (V, 3, 8), per unit beta (metres).

    0 height (uniform scale about the pelvis), 1 girth, 2 shoulder breadth, 3 belly,
    4 leg length, 5 head size, 6 arm length, 7 hip width.
    """
    p = mesh.points
    x, h, z = p.T
    part = np.asarray(mesh.part_names)[mesh.part]
    is_eye = np.char.endswith(part.astype(str), "_eye")
    pelvis = skel.rest_joints()[_J["pelvis"]]
    _, closest = _bone_distances(p)
    radial = np.einsum("vj,vjc->vc", weights, p[:, None] - closest)
    dirs = np.zeros((len(p), 3, 8))
    dirs[:, :, 0] = 0.045 * (p - pelvis)
    girth = np.where(h > 1.47, 0.03, 0.10) * np.where(is_eye, 0.0, 1.0)
    dirs[:, :, 1] = girth[:, None] * radial
    dirs[:, 0, 2] = np.sign(x) * 0.10 * np.minimum(np.abs(x), 0.175) * _band(h, (1.15, 1.32), (1.46, 1.50))
    belly = np.exp(-((h - 1.05) / 0.09) ** 2) * np.clip(z / 0.08, 0.0, 1.0) * np.exp(-(x / 0.13) ** 2)
    dirs[:, 2, 3] = 0.035 * belly
    dirs[:, 1, 4] = -0.05 * np.clip((0.85 - h) / 0.85, 0.0, 1.0)
    head_center = np.array([0.0, 1.585, 0.012])
    dirs[:, :, 5] = 0.06 * (p - head_center) * _band(h, (1.45, 1.50), (9.0, 10.0))[:, None]
    dirs[:, 0, 6] = np.sign(x) * 0.04 * np.clip((np.abs(x) - 0.18) / 0.52, 0.0, 1.0)
    dirs[:, 0, 7] = 0.08 * x * np.clip((1.0 - h) / 0.12, 0.0, 1.0)
    return _symmetrize_field(dirs, mesh.mirror)


def expression_directions(mesh: MannequinMesh, weights: np.ndarray) -> np.ndarray:
    """The first 10 expression directions (V, 3, 10), moving only face vertices.

    0 mouth open, 1 smile, 2 brows up, 3 cheeks puffed, 4 lips pushed forward, 5 frown,
    6 nose wrinkle, 7 mouth to the left, 8 jaw forward, 9 mouth corners down.
    """
    p = mesh.points
    x = p[:, 0]
    trunk = mesh.part == mesh.part_names.index("trunk")
    face = trunk & (p[:, 1] > 1.45) & (p[:, 2] > 0.0)
    jaw = weights[:, _J["jaw"]] * face
    corners = _blob(p, (0.028, 1.505, 0.0), 0.010, mirrored=True) * face
    brows = _blob(p, (0.033, 1.607, 0.0), 0.012, mirrored=True) * face
    cheeks = _blob(p, (0.045, 1.525, 0.0), 0.014, mirrored=True) * face
    mouth = _blob(p, (0.0, 1.505, 0.0), 0.016) * face
    nose = _blob(p, (0.0, 1.560, 0.0), 0.012) * face
    side = np.sign(x)
    dirs = np.zeros((len(p), 3, 10))
    dirs[:, :, 0] = jaw[:, None] * np.array([0.0, -0.008, -0.003])
    dirs[:, :, 1] = corners[:, None] * np.stack([0.003 * side, np.full_like(x, 0.004), np.full_like(x, -0.001)], 1)
    dirs[:, 1, 2] = 0.004 * brows
    dirs[:, :, 3] = cheeks[:, None] * np.stack([0.004 * side, np.zeros_like(x), np.full_like(x, 0.003)], 1)
    dirs[:, :, 4] = mouth[:, None] * np.stack([-0.15 * x, np.zeros_like(x), np.full_like(x, 0.005)], 1)
    dirs[:, :, 5] = brows[:, None] * np.stack([-0.002 * side, np.full_like(x, -0.003), np.zeros_like(x)], 1)
    dirs[:, :, 6] = nose[:, None] * np.array([0.0, 0.002, -0.001])
    dirs[:, 0, 7] = 0.004 * mouth
    dirs[:, 2, 8] = 0.004 * jaw
    dirs[:, 1, 9] = -0.004 * corners
    return dirs


def _symmetrize_field(dirs: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Average a (V, 3, K) displacement field with its mirror image (removes rounding noise)."""
    flipped = dirs[mirror].copy()
    flipped[:, 0] *= -1.0
    return 0.5 * (dirs + flipped)


def pose_correctives(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Small pose-corrective directions (V, 3, 486): each joint's 9 rotation features push the
    vertices in its blend zone by a few millimetres, like SMPL-X's correctives near joints."""
    blend = 4.0 * weights * (1.0 - weights)                         # (V, 55), 1 at 50/50 blends
    mixing = rng.normal(0.0, 0.002, size=(layout.NUM_JOINTS - 1, 3, 9))
    dirs = blend[:, None, 1:, None] * mixing.transpose(1, 0, 2)[None]  # (V, 3, 54, 9)
    return dirs.reshape(len(weights), 3, layout.NUM_POSE_FEATURES)


# ----------------------------------------------------------------------------- hands

def hand_pca(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(components_left, components_right, mean_left, mean_right): orthonormal 45x45 rows and a
    relaxed finger curl (axis-angle per finger joint, SMPL-X hand joint order)."""
    q, r = np.linalg.qr(rng.normal(size=(45, 45)))
    components_left = (q * np.sign(np.diag(r))).T
    flip = np.tile([1.0, -1.0, -1.0], 15)     # mirroring x negates an axis-angle's y and z
    curl = {"index": (0.20, 0.30, 0.18), "middle": (0.22, 0.34, 0.20), "pinky": (0.30, 0.38, 0.22),
            "ring": (0.26, 0.36, 0.21)}
    mean = []
    for finger in _FINGER_CHAINS:
        for k in range(3):
            if finger == "thumb":
                mean.append((0.20 + 0.05 * k, 0.08, -0.10))
            else:
                mean.append((0.03 * (2 - k), 0.0, -curl[finger][k]))   # flex about -z towards the palm
    mean_left = np.asarray(mean).ravel() + rng.normal(0.0, 0.01, size=45)
    return components_left, components_left * flip, mean_left, mean_left * flip


# ----------------------------------------------------------------------------- landmarks

def _face_landmark_targets() -> np.ndarray:
    """(51, 2) x/y targets of the 68-point face layout minus the jaw contour, subject's right
    (x < 0) first as in the iBUG convention."""
    brow = [(-0.058, 1.604), (-0.048, 1.608), (-0.038, 1.610), (-0.027, 1.609), (-0.015, 1.606)]
    nose_bridge = [(0.0, 1.590), (0.0, 1.578), (0.0, 1.566), (0.0, 1.552)]
    nostrils = [(-0.014, 1.537), (-0.007, 1.535), (0.0, 1.534), (0.007, 1.535), (0.014, 1.537)]
    right_eye = [(-0.050, 1.590), (-0.041, 1.598), (-0.029, 1.598), (-0.019, 1.590), (-0.029, 1.582), (-0.041, 1.582)]
    left_eye = [(0.019, 1.590), (0.029, 1.598), (0.041, 1.598), (0.050, 1.590), (0.041, 1.582), (0.029, 1.582)]
    outer_lip = [(-0.030, 1.505), (-0.019, 1.517), (-0.008, 1.520), (0.0, 1.519), (0.008, 1.520),
                 (0.019, 1.517), (0.030, 1.505), (0.019, 1.492), (0.008, 1.489), (0.0, 1.488),
                 (-0.008, 1.489), (-0.019, 1.492)]
    inner_lip = [(-0.026, 1.505), (-0.008, 1.514), (0.0, 1.514), (0.008, 1.514), (0.026, 1.505),
                 (0.008, 1.495), (0.0, 1.495), (-0.008, 1.495)]
    mirror_brow = [(-bx, by) for bx, by in brow[::-1]]
    points = brow + mirror_brow + nose_bridge + nostrils + right_eye + left_eye + outer_lip + inner_lip
    return np.asarray(points)


def _barycentric_2d(tri: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (F, 3) of a 2-D point in triangles (F, 3, 2)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1, v2 = b - a, c - a, point - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    den = np.where(np.abs(den) < 1e-15, 1e-15, den)
    l1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    l2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    return np.stack([1.0 - l1 - l2, l1, l2], 1)


def _front_surface_hits(mesh: MannequinMesh, targets: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For each x/y target, the front-most face of the face skin under it (looking along -z) and
    the barycentric coordinates of the hit; targets over a hole take the nearest face."""
    skin = mesh.part == mesh.part_names.index("trunk")
    tri = mesh.points[mesh.faces]
    normal_z = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2]
    candidates = np.nonzero(skin[mesh.faces].all(1) & (normal_z > 0) & (tri[:, :, 2].min(1) > 0.0)
                            & (tri[:, :, 1].min(1) > 1.45))[0]
    faces_idx, bary = [], []
    for target in targets:
        lam = _barycentric_2d(tri[candidates][:, :, :2], target)
        inside = np.nonzero((lam >= -1e-9).all(1))[0]
        if len(inside):
            depth = (lam[inside] * tri[candidates[inside]][:, :, 2]).sum(1)
            pick = inside[np.argmax(depth)]
            coords = lam[pick]
        else:
            center = tri[candidates][:, :, :2].mean(1)
            pick = int(np.argmin(np.linalg.norm(center - target, axis=1)))
            coords = np.clip(lam[pick], 0.0, None)
        faces_idx.append(candidates[pick])
        bary.append(coords / coords.sum())
    return np.asarray(faces_idx), np.asarray(bary)


def face_landmarks(mesh: MannequinMesh) -> Tuple[np.ndarray, np.ndarray]:
    """lmk_faces_idx (51,) and lmk_bary_coords (51, 3) on the mannequin's face."""
    return _front_surface_hits(mesh, _face_landmark_targets())


def contour_landmarks(mesh: MannequinMesh) -> Tuple[np.ndarray, np.ndarray]:
    """dynamic_lmk_faces_idx (79, 17) and dynamic_lmk_bary_coords (79, 17, 3): the 17 jaw
    contour points as seen for neck yaw -39..39 degrees (the visible contour slides around)."""
    skin = np.nonzero((mesh.part == mesh.part_names.index("trunk"))[mesh.faces].all(1))[0]
    tri = mesh.points[mesh.faces[skin]]                                   # (Fs, 3, 3)
    yaw = np.radians(np.arange(layout.DYNAMIC_LANDMARK_BINS) - (layout.DYNAMIC_LANDMARK_BINS - 1) // 2)
    base = np.radians(np.linspace(-80.0, 80.0, layout.DYNAMIC_LANDMARKS))
    angle = np.clip(base[None] + 0.5 * yaw[:, None], -np.radians(88.0), np.radians(88.0))  # (79, 17)
    height = 1.478 + 0.07 * np.abs(np.sin(angle)) ** 1.5
    targets = np.stack([0.09 * np.sin(angle), height, 0.012 + 0.11 * np.cos(angle)], -1).reshape(-1, 3)
    _, nearest = cKDTree(tri.mean(1)).query(targets)
    bary = _closest_barycentric(tri[nearest], targets)
    shape = (layout.DYNAMIC_LANDMARK_BINS, layout.DYNAMIC_LANDMARKS)
    return skin[nearest].reshape(shape), bary.reshape(shape + (3,))


def _closest_barycentric(tri: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (K, 3) of points' projections onto triangles (K, 3, 3), clamped
    into the triangle."""
    e1, e2, d = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], points - tri[:, 0]
    a11, a12, a22 = (e1 * e1).sum(1), (e1 * e2).sum(1), (e2 * e2).sum(1)
    b1, b2 = (d * e1).sum(1), (d * e2).sum(1)
    det = a11 * a22 - a12 ** 2
    l1, l2 = (a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det
    coords = np.clip(np.stack([1.0 - l1 - l2, l1, l2], 1), 0.0, None)
    return coords / coords.sum(1, keepdims=True)


def kintree_table() -> np.ndarray:
    """(2, 55) int64 as in the released file: parents (root stored as 2**32 - 1) and joint ids."""
    parents = np.asarray(layout.PARENTS, np.int64)
    parents[0] = 2 ** 32 - 1
    return np.stack([parents, np.arange(layout.NUM_JOINTS)])

