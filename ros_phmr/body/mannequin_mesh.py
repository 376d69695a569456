"""The synthetic mannequin's surface: exactly 10475 vertices and 20908 triangles, like SMPL-X v1.1.

One closed, outward-wound surface (trunk and head as one tube; legs split off the trunk's bottom
ring; arms, thumbs and feet grow out of rectangular holes in their parent tube; fingers split
off the palm's last ring) plus two separate eyeballs. Like the real SMPL-X mesh it is open at
the mouth and at the eye sockets: those three holes are what makes the counts come out exactly
(for this topology F = 2V - 42). The leftover vertex budget is met by splitting a few long
torso edges. The left half is built once and mirrored, so the mesh is exactly symmetric.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
from scipy.interpolate import PchipInterpolator

from ros_phmr.body import layout
from ros_phmr.body import mannequin_skeleton as skel
from ros_phmr.body.tube_mesh import (
    MeshBuilder, drop_unreferenced, patch_hole, points_at_fractions, pole_cap, split_edge,
    strip_faces, superellipse_curve, sweep_rings, uv_sphere)

TRUNK_SEGMENTS = 64
CROTCH_BRIDGE = 7          # midline vertices between the legs; leg rings get 64/2 + 1 + 7 = 40
HEAD_CENTER = np.array([0.0, 1.585, 0.012])
HEAD_RADII = np.array([0.077, 0.118, 0.097])
EYE_HEIGHT, EYE_X = 1.590, 0.033
EYEBALL_RADIUS = 0.0125
MOUTH_HEIGHT = 1.497
FINGERS = ("index", "middle", "ring", "pinky")   # front (thumb side) to back across the palm

# Trunk cross-sections below the head: height, half-width x, front z, back z, superellipse exponent.
_TORSO_TABLE = np.array([
    (0.830, 0.160, 0.100, -0.125, 2.4), (0.880, 0.165, 0.105, -0.130, 2.4),
    (0.950, 0.160, 0.105, -0.115, 2.4), (1.020, 0.140, 0.100, -0.095, 2.3),
    (1.100, 0.145, 0.110, -0.090, 2.3), (1.200, 0.160, 0.125, -0.090, 2.4),
    (1.280, 0.170, 0.115, -0.095, 2.5), (1.340, 0.175, 0.095, -0.100, 2.6),
    (1.400, 0.170, 0.072, -0.098, 2.6), (1.430, 0.140, 0.055, -0.090, 2.4),
    (1.450, 0.090, 0.040, -0.075, 2.2), (1.470, 0.058, 0.038, -0.068, 2.0),
    (1.500, 0.056, 0.040, -0.066, 2.0), (1.600, 0.056, 0.040, -0.066, 2.0),
])
# Leg cross-sections: height, centre x, centre z, front, back, side radius, exponent.
_LEG_TABLE = np.array([
    (0.795, 0.088, 0.000, 0.082, 0.092, 0.086, 2.0), (0.650, 0.094, 0.002, 0.070, 0.075, 0.070, 2.0),
    (0.520, 0.099, 0.005, 0.056, 0.055, 0.052, 2.0), (0.490, 0.100, 0.005, 0.054, 0.050, 0.050, 2.0),
    (0.400, 0.099, -0.002, 0.048, 0.060, 0.050, 2.0), (0.300, 0.098, -0.008, 0.044, 0.054, 0.045, 2.0),
    (0.180, 0.096, -0.015, 0.036, 0.038, 0.034, 2.0), (0.100, 0.095, -0.022, 0.032, 0.033, 0.031, 2.0),
    (0.060, 0.095, -0.028, 0.036, 0.042, 0.033, 2.2), (0.030, 0.095, -0.030, 0.040, 0.046, 0.035, 2.4),
    (0.012, 0.095, -0.030, 0.036, 0.044, 0.032, 2.4), (0.000, 0.095, -0.030, 0.030, 0.038, 0.028, 2.4),
])
# Foot cross-sections along z: z, centre x, centre y, top, bottom, half-width, exponent.
_FOOT_TABLE = np.array([
    (0.030, 0.096, 0.050, 0.038, 0.040, 0.040, 2.4), (0.080, 0.102, 0.036, 0.030, 0.027, 0.046, 2.6),
    (0.120, 0.108, 0.024, 0.020, 0.019, 0.047, 2.6), (0.160, 0.112, 0.019, 0.016, 0.015, 0.043, 2.6),
    (0.180, 0.114, 0.018, 0.014, 0.013, 0.038, 2.6),
])
# Arm cross-sections along x: x, front/back (z) radius, up/down (y) radius, exponent.
_ARM_TABLE = np.array([
    (0.190, 0.058, 0.058, 2.0), (0.260, 0.050, 0.052, 2.0), (0.350, 0.046, 0.046, 2.0),
    (0.440, 0.040, 0.038, 2.0), (0.520, 0.042, 0.038, 2.0), (0.640, 0.033, 0.025, 2.1),
    (0.705, 0.030, 0.020, 2.2), (0.725, 0.041, 0.018, 2.8), (0.755, 0.045, 0.016, 3.2),
    (0.785, 0.045, 0.0145, 3.2),
])


@dataclass
class MannequinMesh:
    """The finished surface, in floor coordinates (soles at y = 0)."""

    points: np.ndarray            # (10475, 3) float64
    faces: np.ndarray             # (20908, 3) int64, outward winding
    part: np.ndarray              # (10475,) index into part_names
    part_names: List[str]
    mirror: np.ndarray            # (10475,) index of each vertex's mirror image (x -> -x)
    keypoints: Dict[str, int]     # smplx extra-keypoint name -> vertex id (== smplx's id)


def build_mannequin_mesh() -> MannequinMesh:
    """Build the mannequin surface with SMPL-X's vertex and face counts and keypoint ids."""
    mesh = MeshBuilder()
    trunk = _build_trunk(mesh)
    num_shared, num_trunk_faces = mesh.num_vertices, len(mesh.faces())
    left_keypoints = _build_left_limbs(mesh, trunk)
    _build_left_eye(mesh, trunk, left_keypoints)
    points, faces, part = mesh.points(), mesh.faces(), mesh.parts()
    trunk_faces, left_faces = faces[:num_trunk_faces], faces[num_trunk_faces:]

    mirror = _mirror_map(trunk, num_shared, len(points))
    names = list(mesh.part_names)
    right_part = np.array([_right_part_id(names, name) for name in mesh.part_names])
    points = np.concatenate([points, points[num_shared:] * np.array([-1.0, 1.0, 1.0])])
    part = np.concatenate([part, right_part[part[num_shared:]]])
    faces = np.concatenate([trunk_faces, left_faces, mirror[left_faces][:, ::-1]])

    points, faces, new_index, part, mirror = drop_unreferenced(points, faces, part, mirror)
    mirror = new_index[mirror]
    left_keypoints = {name: int(new_index[v]) for name, v in left_keypoints.items()}

    points, faces, part, mirror = _fill_vertex_budget(points, faces, part, mirror)
    keypoints = _mirror_keypoints(left_keypoints, mirror)
    return _place_keypoints(MannequinMesh(points, faces, part, names, mirror, keypoints))


# ----------------------------------------------------------------------------- trunk and head

@dataclass
class _Trunk:
    rings: List[np.ndarray]
    heights: np.ndarray
    bridge: np.ndarray
    pole: int
    arm_loop: np.ndarray
    eye_loop: np.ndarray


def _trunk_heights() -> np.ndarray:
    torso = np.linspace(0.830, 1.306, 19)
    shoulders = np.array([1.330, 1.352, 1.374, 1.396, 1.418, 1.440])  # the arm hole's rows
    neck = np.array([1.455, 1.468, 1.480])
    start = np.arcsin((1.490 - HEAD_CENTER[1]) / HEAD_RADII[1])
    latitudes = np.linspace(start, np.radians(84.0), 25)
    head = HEAD_CENTER[1] + HEAD_RADII[1] * np.sin(latitudes)
    return np.concatenate([torso, shoulders, neck, head])


def _smooth_max(a, b, softness=0.008):
    return 0.5 * (a + b + np.sqrt((a - b) ** 2 + softness ** 2))


def _trunk_section(h: float) -> Tuple[float, float, float, float]:
    """(half-width, front z, back z, exponent) of the trunk/neck/head at height h."""
    table = _TORSO_TABLE
    rx, zf, zb, n = (float(PchipInterpolator(table[:, 0], table[:, k])(min(h, 1.6))) for k in range(1, 5))
    s = np.sqrt(max(0.0, 1.0 - ((h - HEAD_CENTER[1]) / HEAD_RADII[1]) ** 2))
    if h > 1.44:
        fade = float(np.clip(1.0 - (h - 1.50) / 0.05, 0.0, 1.0))   # the neck ends inside the head
        rx, zf, zb = rx * fade, zf * fade, zb * fade
        chin = 0.020 * np.exp(-((h - 1.483) / 0.012) ** 2)
        rx = _smooth_max(rx, HEAD_RADII[0] * s)
        zf = _smooth_max(zf, HEAD_CENTER[2] + HEAD_RADII[2] * s + chin)
        zb = -_smooth_max(-zb, HEAD_RADII[2] * s - HEAD_CENTER[2])
    return rx, zf, zb, n


def _face_relief(x: np.ndarray, h: np.ndarray, z: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Nose, brow and ear bumps as (dx, dz) offsets of head vertices (left half, x >= 0)."""
    nose_profile = np.interp(h, [1.525, 1.540, 1.550, 1.575, 1.598, 1.610],
                             [0.0, 0.016, 0.022, 0.011, 0.003, 0.0])
    front = np.clip(z / 0.05, 0.0, 1.0)
    nose = nose_profile * np.exp(-(x / 0.011) ** 2) * front
    brow = 0.004 * np.exp(-((h - 1.607) / 0.006) ** 2) * np.exp(-((x - 0.033) / 0.022) ** 2) * front
    ear = 0.012 * np.exp(-((h - 1.575) / 0.022) ** 2 - ((z + 0.005) / 0.014) ** 2) * np.clip(x / 0.05, 0, 1)
    return ear, nose + brow


def _build_trunk(mesh: MeshBuilder) -> _Trunk:
    size = TRUNK_SEGMENTS
    heights = _trunk_heights()
    half = np.arange(size // 2 + 1) / size
    rings = []
    for h in heights:
        rx, zf, zb, n = _trunk_section(h)
        zx = points_at_fractions(superellipse_curve(zf, -zb, rx, n), half)  # (33, 2): (z, x)
        x, z = zx[:, 1].copy(), zx[:, 0].copy()
        x[0] = x[-1] = 0.0
        if h > 1.44:
            dx, dz = _face_relief(x, np.full_like(x, h), z)
            x, z = x + dx, z + dz
        full_x = np.concatenate([x, -x[1:-1][::-1]])
        full_z = np.concatenate([z, z[1:-1][::-1]])
        rings.append(mesh.add_vertices(np.stack([full_x, np.full(size, h), full_z], 1), "trunk"))
    top = HEAD_CENTER + np.array([0.0, HEAD_RADII[1], 0.0])
    pole = pole_cap(mesh, rings[-1], top, "trunk", at_end=True)

    ring0 = mesh.points()[rings[0]]
    t = np.arange(1, CROTCH_BRIDGE + 1) / (CROTCH_BRIDGE + 1)
    z_back, z_front = ring0[size // 2, 2], ring0[0, 2]
    bridge_points = np.stack([np.zeros_like(t), heights[0] - 0.06 * np.sqrt(np.sin(np.pi * t)),
                              z_back + (z_front - z_back) * t], 1)
    bridge = mesh.add_vertices(bridge_points, "trunk")

    skip = np.zeros((len(rings) - 1, size), bool)
    shoulder_rows = (int(np.argmin(np.abs(heights - 1.330))), int(np.argmin(np.abs(heights - 1.440))))
    arm_loop, arm_skip = patch_hole(rings, shoulder_rows, (size // 4 - 6, size // 4 + 6))
    mouth_row = int(np.argmin(np.abs(heights - MOUTH_HEIGHT)))
    _, mouth_skip = patch_hole(rings, (mouth_row, mouth_row + 2), (-4, 4))
    eye_row = int(np.argmin(np.abs(0.5 * (heights[:-1] + heights[1:]) - EYE_HEIGHT)))
    eye_x = mesh.points()[rings[eye_row]][:, 0]
    column_x = 0.5 * (eye_x[1:size // 2 - 2] + eye_x[2:size // 2 - 1])   # centre of quads c+1..c+2
    eye_col = int(np.argmin(np.abs(column_x - EYE_X)))
    eye_loop, eye_skip = patch_hole(rings, (eye_row, eye_row + 1), (eye_col, eye_col + 3))
    for hole in (arm_skip, eye_skip):
        skip |= hole | hole[:, ::-1]          # quad k <-> quad size-1-k is the mirror image
    skip |= mouth_skip
    mesh.add_faces(strip_faces(mesh.points(), rings, skip=skip, mirror_diagonals=True))
    return _Trunk(rings, heights, bridge, pole, arm_loop, eye_loop)


def _mirror_map(trunk: _Trunk, num_shared: int, num_points: int) -> np.ndarray:
    """Mirror index for the shared (trunk) vertices and the left vertices' future copies."""
    mirror = np.arange(num_points + (num_points - num_shared))
    size = TRUNK_SEGMENTS
    for ring in trunk.rings:
        mirror[ring] = ring[(-np.arange(size)) % size]
    left = np.arange(num_shared, num_points)
    mirror[left] = left + (num_points - num_shared)
    mirror[left + (num_points - num_shared)] = left
    return mirror


def _right_part_id(names: List[str], name: str) -> int:
    if not name.startswith("left_"):
        return names.index(name)
    right = "right_" + name[5:]
    if right not in names:
        names.append(right)
    return names.index(right)


# ----------------------------------------------------------------------------- limbs

def _interp_rows(table: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Columns 1.. of a table interpolated (monotone cubic) at positions along column 0."""
    order = np.argsort(table[:, 0])
    return np.stack([PchipInterpolator(table[order, 0], table[order, k])(at)
                     for k in range(1, table.shape[1])], axis=1)


def _build_left_limbs(mesh: MeshBuilder, trunk: _Trunk) -> Dict[str, int]:
    keypoints: Dict[str, int] = {}
    _build_left_leg(mesh, trunk, keypoints)
    _build_left_arm(mesh, trunk, keypoints)
    return keypoints


def _build_left_leg(mesh: MeshBuilder, trunk: _Trunk, keypoints: Dict[str, int]) -> None:
    size = TRUNK_SEGMENTS
    loop = np.concatenate([trunk.rings[0][: size // 2 + 1], trunk.bridge])
    heights = np.concatenate([np.linspace(0.765, 0.100, 25), [0.080, 0.060, 0.040, 0.025, 0.012, 0.004]])
    rows = _interp_rows(_LEG_TABLE, heights)   # centre x, centre z, front, back, side, exponent
    centers = np.concatenate([mesh.points()[loop].mean(0, keepdims=True),
                              np.stack([rows[:, 0], heights, rows[:, 1]], 1)])
    sections = [(f, b, s, n) for f, b, s, n in rows[:, 2:]]
    rings = sweep_rings(mesh, loop, centers, np.array([0.0, 0.0, 1.0]), sections, 3, "left_leg")
    ring_h = np.array([mesh.points()[r][:, 1].mean() for r in rings])
    top_row = int(np.argmin(np.abs(ring_h - 0.100)))
    foot_loop, foot_skip = patch_hole(rings, (top_row, top_row + 4), (-8, 8))
    mesh.add_faces(strip_faces(mesh.points(), rings, skip=foot_skip))
    pole_cap(mesh, rings[-1], np.array([0.095, 0.0, -0.030]), "left_leg", at_end=True)
    heel = _nearest(mesh, np.concatenate(rings[-4:]), np.array([0.095, 0.004, -0.080]))
    keypoints["LHeel"] = heel
    _build_left_foot(mesh, foot_loop, keypoints)


def _build_left_foot(mesh: MeshBuilder, loop: np.ndarray, keypoints: Dict[str, int]) -> None:
    zs = np.linspace(0.040, 0.170, 8)
    rows = _interp_rows(_FOOT_TABLE, zs)   # centre x, centre y, top, bottom, half-width, exponent
    tip_z = skel.TOE_TIP[2] + 0.008
    dome = np.array([0.176, 0.183, 0.189])
    dome_scale = np.sqrt(1.0 - ((dome - 0.170) / (tip_z - 0.170)) ** 2)
    dome_rows = _interp_rows(_FOOT_TABLE, dome)
    dome_rows[:, 2:5] *= dome_scale[:, None]
    rows = np.concatenate([rows, dome_rows])
    zs = np.concatenate([zs, dome])
    centers = np.concatenate([mesh.points()[loop].mean(0, keepdims=True),
                              np.stack([rows[:, 0], rows[:, 1], zs], 1)])
    sections = [(top, bottom, width, n) for top, bottom, width, n in rows[:, 2:]]
    rings = sweep_rings(mesh, loop, centers, np.array([0.0, 1.0, 0.0]), sections, 3, "left_foot")
    mesh.add_faces(strip_faces(mesh.points(), rings))
    pole_cap(mesh, rings[-1], np.array([0.114, 0.017, tip_z]), "left_foot", at_end=True)
    candidates = np.concatenate(rings[-6:])
    keypoints["LBigToe"] = _nearest(mesh, candidates, np.array([0.085, 0.012, 0.180]))
    keypoints["LSmallToe"] = _nearest(mesh, candidates, np.array([0.145, 0.010, 0.150]))


def _build_left_arm(mesh: MeshBuilder, trunk: _Trunk, keypoints: Dict[str, int]) -> None:
    arm_x = np.linspace(0.190, 0.705, 26)
    palm_x = np.array([0.716, 0.727, 0.738, 0.750, 0.762, 0.774, 0.785])
    xs = np.concatenate([arm_x, palm_x])
    rows = _interp_rows(_ARM_TABLE, xs)       # z radius, y radius, exponent
    wrist = skel.rest_joints()[layout.JOINT_NAMES.index("left_wrist")]
    centers = np.stack([xs, np.full_like(xs, wrist[1]), np.full_like(xs, wrist[2])], 1)
    loop = trunk.arm_loop
    centers = np.concatenate([mesh.points()[loop].mean(0, keepdims=True), centers])
    sections = [(rz, rz, ry, n) for rz, ry, n in rows]
    rings = sweep_rings(mesh, loop, centers, np.array([0.0, 0.0, 1.0]), sections, 3, "left_arm")
    first_palm = len(arm_x) + 1
    thumb_loop, thumb_skip = patch_hole(rings, (first_palm, first_palm + 2), (-1, 1))
    mesh.add_faces(strip_faces(mesh.points(), rings, skip=thumb_skip))
    mesh.relabel(np.concatenate(rings[first_palm:]), "left_hand")
    _build_finger(mesh, thumb_loop, "thumb", keypoints)
    last = rings[-1]
    size = len(last)
    z = mesh.points()[last][:, 2]
    finger_z = [skel.finger_points(name)[0, 2] for name in FINGERS]
    webs = []
    for boundary in 0.5 * (np.array(finger_z[:-1]) + np.array(finger_z[1:])):
        webs.append(1 + int(np.argmin(np.abs(z[1:size // 2] - boundary))))
    cuts = [0] + webs + [size // 2]
    for k, name in enumerate(FINGERS):
        # Palm-side vertices lo..hi, then the back-of-hand vertices from above hi to above lo;
        # the "web" edges (hi, size-hi) and (size-lo, lo) are shared with the neighbour fingers.
        lo, hi = cuts[k], cuts[k + 1]
        ids = [i % size for i in list(range(lo, hi + 1)) + list(range(size - hi, size - lo + 1))]
        _build_finger(mesh, last[list(dict.fromkeys(ids))], name, keypoints)


def _build_finger(mesh: MeshBuilder, loop: np.ndarray, name: str, keypoints: Dict[str, int]) -> None:
    """A finger tube from ``loop`` along the skeleton's finger axis, ending in a rounded tip."""
    joints = skel.finger_points(name)
    half_width, half_thickness = skel.finger_radii(name)
    loop_center = mesh.points()[loop].mean(0)
    direction = joints[-1] - loop_center
    ahead = (joints - loop_center) @ direction / np.linalg.norm(direction) > 0.006
    normal = _loop_normal(mesh.points()[loop])
    normal *= np.sign(normal @ direction)
    path = np.concatenate([[loop_center, loop_center + 0.008 * normal], joints[ahead]])
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    total = arc[-1]
    tip_radius = 0.8 * half_width
    body = np.arange(0.007, total - tip_radius, 0.0072)
    dome_angles = np.radians([28.0, 52.0, 74.0])
    dome = (total - tip_radius) + tip_radius * np.sin(dome_angles)
    at = np.concatenate([body, dome])
    taper = 1.0 - 0.2 * at / total
    scale = np.concatenate([np.ones_like(body), np.cos(dome_angles)])
    centers = np.stack([np.interp(at, arc, path[:, d]) for d in range(3)], 1)
    centers = np.concatenate([[loop_center], centers])
    sections = [(half_width * t * s, half_width * t * s, half_thickness * t * s, 2.0)
                for t, s in zip(taper, scale)]
    u_hint = np.array([0.0, 1.0, 0.0]) if name == "thumb" else np.array([0.0, 0.0, 1.0])
    rings = sweep_rings(mesh, loop, centers, u_hint, sections, 2, f"left_{name}")
    mesh.add_faces(strip_faces(mesh.points(), rings))
    keypoints["l" + name] = pole_cap(mesh, rings[-1], path[-1], f"left_{name}", at_end=True)


def _loop_normal(points: np.ndarray) -> np.ndarray:
    """Unit normal of a closed polygon (Newell's method), sign following the vertex order."""
    normal = np.cross(points, np.roll(points, -1, axis=0)).sum(0)
    return normal / np.linalg.norm(normal)


def _build_left_eye(mesh: MeshBuilder, trunk: _Trunk, keypoints: Dict[str, int]) -> None:
    center = mesh.points()[trunk.eye_loop].mean(0) - np.array([0.0, 0.0, 0.010])
    _, front = uv_sphere(mesh, center, EYEBALL_RADIUS, rings=10, segments=12,
                         axis=np.array([0.0, 0.0, 1.0]), part="left_eye")
    keypoints["leye"] = front
    head = np.concatenate(trunk.rings[-20:])
    keypoints["lear"] = _nearest(mesh, head, np.array([0.12, 1.575, -0.005]))
    keypoints["nose"] = _nearest(mesh, head, np.array([0.0, 1.548, 0.2]))


def _nearest(mesh: MeshBuilder, candidates: np.ndarray, target: np.ndarray) -> int:
    points = mesh.points()[candidates]
    return int(candidates[np.argmin(np.linalg.norm(points - target, axis=1))])


# ----------------------------------------------------------------------------- counts and ids

def _fill_vertex_budget(points, faces, part, mirror):
    """Split long torso edges (in mirror pairs, one midline edge if the deficit is odd) until
    the vertex count is exactly SMPL-X's."""
    deficit = layout.NUM_VERTICES - len(points)
    if deficit < 0:
        raise RuntimeError(f"mannequin has {-deficit} vertices too many")
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = edges[edges[:, 0] < edges[:, 1]]
    torso = (points[:, 1] > 0.9) & (points[:, 1] < 1.3) & (part == 0)
    length = np.linalg.norm(points[edges[:, 0]] - points[edges[:, 1]], axis=1)
    on_left = (points[edges, 0] > 1e-9).all(1) & torso[edges].all(1)
    on_mid = (np.abs(points[edges, 0]) < 1e-12).all(1) & torso[edges].all(1)
    used = np.zeros(len(points), bool)
    chosen = []
    for side_mask, wanted in ((on_mid, deficit % 2), (on_left, deficit // 2)):
        candidates = np.nonzero(side_mask)[0]
        picked = 0
        for e in candidates[np.argsort(-length[candidates], kind="stable")]:
            if picked == wanted:
                break
            ends = [edges[e, 0], edges[e, 1], mirror[edges[e, 0]], mirror[edges[e, 1]]]
            if used[ends].any():
                continue
            used[ends] = True
            chosen.append(e)
            picked += 1
        if picked < wanted:
            raise RuntimeError("not enough torso edges to fill the vertex budget")
    for e in chosen:
        a, b = edges[e]
        pairs = [(a, b)] if on_mid[e] else [(a, b), (mirror[a], mirror[b])]
        first_new = len(points)
        for pa, pb in pairs:
            points, faces = split_edge(points, faces, pa, pb)
        part = np.concatenate([part, np.full(len(pairs), part[a])])
        if len(pairs) == 1:
            mirror = np.concatenate([mirror, [first_new]])
        else:
            mirror = np.concatenate([mirror, [first_new + 1, first_new]])
    return points, faces, part, mirror


def _mirror_keypoints(left: Dict[str, int], mirror: np.ndarray) -> Dict[str, int]:
    """Right-side keypoints are the mirror images of the left ones ('lear' -> 'rear',
    'LHeel' -> 'RHeel'); the nose is on the midline."""
    out = dict(left)
    for name, vertex in left.items():
        if name != "nose":
            out[{"l": "r", "L": "R"}[name[0]] + name[1:]] = int(mirror[vertex])
    return out


def _place_keypoints(mesh: MannequinMesh) -> MannequinMesh:
    """Permute vertices so each keypoint vertex sits at the index smplx reads it from."""
    count = len(mesh.points)
    order = np.full(count, -1)
    targets = dict(layout.EXTRA_VERTEX_IDS)
    for name, target in targets.items():
        order[target] = mesh.keypoints[name]
    rest = np.setdiff1d(np.arange(count), order[order >= 0])
    order[order < 0] = rest          # new index i holds old vertex order[i]
    new_of_old = np.empty(count, np.int64)
    new_of_old[order] = np.arange(count)
    return MannequinMesh(
        points=mesh.points[order], faces=new_of_old[mesh.faces], part=mesh.part[order],
        part_names=mesh.part_names, mirror=new_of_old[mesh.mirror[order]],
        keypoints=dict(targets))
