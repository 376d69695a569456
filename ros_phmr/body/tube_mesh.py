"""Triangle-mesh building blocks for the synthetic mannequin: rings, swept tubes, caps, holes.

A body is a tree of tubes. Each tube is a stack of vertex rings, each ring counter-clockwise
around the tube's running direction, so that the quad ``(a[k], a[k+1], b[k+1], b[k])`` between
ring ``a`` and the next ring ``b`` faces outwards. A child tube starts from a *loop* of existing
vertices - the border of a rectangular hole cut into its parent's ring grid, or part of a ring
that splits (legs from the trunk, fingers from the palm) - so the whole body stays one closed,
consistently oriented surface without any mesh boolean.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np

_CURVE_SAMPLES = 720


class MeshBuilder:
    """Growing vertex/face arrays with a part label per vertex."""

    def __init__(self) -> None:
        self._points: List[np.ndarray] = []
        self._parts: List[np.ndarray] = []
        self._faces: List[np.ndarray] = []
        self.part_names: List[str] = []
        self.num_vertices = 0

    def part_id(self, name: str) -> int:
        if name not in self.part_names:
            self.part_names.append(name)
        return self.part_names.index(name)

    def add_vertices(self, points: np.ndarray, part: str) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        ids = np.arange(self.num_vertices, self.num_vertices + len(points))
        self._points.append(points)
        self._parts.append(np.full(len(points), self.part_id(part)))
        self.num_vertices += len(points)
        return ids

    def relabel(self, ids: np.ndarray, part: str) -> None:
        """Move already-created vertices to another part (e.g. the palm rings of the arm)."""
        parts = self.parts()
        parts[ids] = self.part_id(part)
        self._parts = [parts]

    def add_faces(self, faces: np.ndarray) -> None:
        self._faces.append(np.asarray(faces, dtype=np.int64).reshape(-1, 3))

    def points(self) -> np.ndarray:
        return np.concatenate(self._points)

    def parts(self) -> np.ndarray:
        return np.concatenate(self._parts)

    def faces(self) -> np.ndarray:
        return np.concatenate(self._faces)


# ----------------------------------------------------------------------------- cross-sections

def superellipse_curve(radius_u_pos: float, radius_u_neg: float, radius_w: float,
                       exponent: float) -> np.ndarray:
    """Dense closed cross-section (samples, 2) in (u, w), starting at +u, counter-clockwise.

    ``exponent`` 2 is an ellipse, larger values are boxier (torso, palm); the +u and -u halves
    may have different radii (chest vs back).
    """
    angle = np.linspace(0.0, 2.0 * np.pi, _CURVE_SAMPLES, endpoint=False)
    power = 2.0 / exponent
    cos, sin = np.cos(angle), np.sin(angle)
    u = np.sign(cos) * np.abs(cos) ** power * np.where(cos >= 0, radius_u_pos, radius_u_neg)
    w = np.sign(sin) * np.abs(sin) ** power * radius_w
    return np.stack([u, w], axis=-1)


def _arc_fractions(curve: np.ndarray) -> np.ndarray:
    """Arc-length position in [0, 1) of each sample of a closed curve (samples, 2)."""
    seg = np.linalg.norm(np.roll(curve, -1, axis=0) - curve, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)[:-1]])
    return cum / seg.sum()


def points_at_fractions(curve: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Points (k, 2) on a closed curve at arc-length fractions (k,) (any real, taken mod 1)."""
    arc = _arc_fractions(curve)
    closed_arc = np.concatenate([arc, [1.0]])
    closed = np.concatenate([curve, curve[:1]], axis=0)
    f = np.mod(fractions, 1.0)
    return np.stack([np.interp(f, closed_arc, closed[:, d]) for d in range(2)], axis=-1)


def fractions_at_angles(curve: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Unwrapped arc-length fraction (turns count as whole units) of the curve point seen from
    the centre at polar ``angles``, so increasing angles give increasing fractions."""
    arc = _arc_fractions(curve)
    polar = np.unwrap(np.arctan2(curve[:, 1], curve[:, 0]))
    polar = np.concatenate([polar, [polar[0] + 2.0 * np.pi]])
    closed_arc = np.concatenate([arc, [1.0]])
    turns = np.floor((angles - polar[0]) / (2.0 * np.pi))
    return turns + np.interp(angles - 2.0 * np.pi * turns, polar, closed_arc)


# ----------------------------------------------------------------------------- tubes

def tube_frames(centers: np.ndarray, u_hint: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tangents, u and w axes (each (R, 3)) along a centre polyline, u parallel-transported from
    ``u_hint`` so the rings do not twist; ``w = t x u`` makes rings counter-clockwise about t."""
    tangents = np.gradient(centers, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    u_axes = np.empty_like(centers)
    u = np.asarray(u_hint, dtype=np.float64)
    for k, t in enumerate(tangents):
        u = u - np.dot(u, t) * t
        u /= np.linalg.norm(u)
        u_axes[k] = u
    w_axes = np.cross(tangents, u_axes)
    return tangents, u_axes, w_axes


def orient_loop(points: np.ndarray, loop: np.ndarray, center: np.ndarray, u: np.ndarray,
                w: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Reorder a closed vertex loop to run counter-clockwise in the (u, w) plane, starting at the
    vertex closest to the +u direction; returns the loop and its unwrapped polar angles."""
    rel = points[loop] - center
    angles = np.arctan2(rel @ w, rel @ u)
    turning = np.sum(np.angle(np.exp(1j * (np.roll(angles, -1) - angles))))
    if turning < 0:
        loop, angles = loop[::-1], angles[::-1]
    start = int(np.argmin(np.abs(np.angle(np.exp(1j * angles)))))
    loop, angles = np.roll(loop, -start), np.roll(angles, -start)
    angles = np.unwrap(angles)
    angles = angles - 2.0 * np.pi * np.round(angles[0] / (2.0 * np.pi))
    return loop, angles


def sweep_rings(mesh: MeshBuilder, loop: np.ndarray, centers: np.ndarray, u_hint: np.ndarray,
                sections: Sequence[Tuple[float, float, float, float]], blend_rings: int,
                part: str) -> List[np.ndarray]:
    """Grow a tube from an existing vertex ``loop`` through ``centers`` (R+1, 3).

    ``centers[0]`` is the loop's centre; ring k >= 1 gets the cross-section ``sections[k-1]`` =
    (radius +u, radius -u, radius w, exponent). The first ``blend_rings`` rings morph from the
    loop's shape to the cross-section. Returns the ring id arrays, ring 0 being the re-ordered
    loop, every ring with the loop's vertex count and vertex 0 on the +u side.
    """
    points = mesh.points()
    _, u_axes, w_axes = tube_frames(centers, u_hint)
    loop, angles = orient_loop(points, np.asarray(loop), centers[0], u_axes[0], w_axes[0])
    count = len(loop)
    uniform = np.arange(count) / count
    loop_points = points[loop]
    rings = [loop]
    for k in range(1, len(centers)):
        curve = superellipse_curve(*sections[k - 1])
        alpha = min(1.0, k / max(blend_rings, 1))
        loop_fractions = fractions_at_angles(curve, angles)
        loop_fractions = np.maximum.accumulate(loop_fractions - np.round(loop_fractions[0]))
        fractions = (1.0 - alpha) * loop_fractions + alpha * uniform
        uw = points_at_fractions(curve, fractions)
        target = centers[k] + uw[:, :1] * u_axes[k] + uw[:, 1:] * w_axes[k]
        ring_points = (1.0 - alpha) * (loop_points + centers[k] - centers[0]) + alpha * target
        rings.append(mesh.add_vertices(ring_points, part))
    return rings


def strip_faces(points: np.ndarray, rings: Sequence[np.ndarray], skip: Optional[np.ndarray] = None,
                mirror_diagonals: bool = False) -> np.ndarray:
    """Two triangles per quad between consecutive equal-length rings (outward winding).

    ``skip`` (len(rings) - 1, ring length) marks quads left out (holes). Diagonals are the
    shorter ones, or with ``mirror_diagonals`` chosen so a ring symmetric under k -> -k (the
    trunk, mirrored in x) gets a mirror-symmetric triangulation.
    """
    faces = []
    for r in range(len(rings) - 1):
        a, b = rings[r], rings[r + 1]
        a1, b1 = np.roll(a, -1), np.roll(b, -1)
        if mirror_diagonals:
            use_first = np.arange(len(a)) < len(a) // 2
        else:
            d1 = np.linalg.norm(points[a] - points[b1], axis=1)
            d2 = np.linalg.norm(points[a1] - points[b], axis=1)
            use_first = d1 <= d2
        keep = np.ones(len(a), bool) if skip is None else ~skip[r]
        first = keep & use_first
        second = keep & ~use_first
        faces += [np.stack([a, a1, b1], 1)[first], np.stack([a, b1, b], 1)[first],
                  np.stack([a, a1, b], 1)[second], np.stack([a1, b1, b], 1)[second]]
    return np.concatenate(faces)


def pole_cap(mesh: MeshBuilder, ring: np.ndarray, pole_point: np.ndarray, part: str,
             at_end: bool = True) -> np.ndarray:
    """Close a tube end with a fan to one new pole vertex; returns the pole's id."""
    pole = mesh.add_vertices(pole_point, part)[0]
    nxt = np.roll(ring, -1)
    poles = np.full(len(ring), pole)
    fan = np.stack([ring, nxt, poles], 1) if at_end else np.stack([nxt, ring, poles], 1)
    mesh.add_faces(fan)
    return pole


def patch_hole(rings: Sequence[np.ndarray], rows: Tuple[int, int],
               columns: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Cut the quads ``rows[0] <= r < rows[1]``, ``columns[0] <= c < columns[1]`` (columns taken
    modulo the ring length) out of a ring grid.

    Returns the border loop of the hole (2 * (rows + columns) vertex ids) and the quad mask to
    pass to :func:`strip_faces`. The vertices inside the hole become unreferenced.
    """
    (r0, r1), (c0, c1) = rows, columns
    size = len(rings[0])
    col = lambda c: c % size  # noqa: E731  (short local index helper)
    loop = [rings[r0][col(c)] for c in range(c0, c1)]
    loop += [rings[r][col(c1)] for r in range(r0, r1)]
    loop += [rings[r1][col(c)] for c in range(c1, c0, -1)]
    loop += [rings[r][col(c0)] for r in range(r1, r0, -1)]
    skip = np.zeros((len(rings) - 1, size), bool)
    for r in range(r0, r1):
        for c in range(c0, c1):
            skip[r, col(c)] = True
    return np.asarray(loop), skip


def uv_sphere(mesh: MeshBuilder, center: np.ndarray, radius: float, rings: int, segments: int,
              axis: np.ndarray, part: str) -> Tuple[int, int]:
    """Closed sphere with poles on ``axis``; returns the ids of the (back, front) poles."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    helper = np.array([0.0, 1.0, 0.0]) if abs(axis[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(helper, axis)
    u /= np.linalg.norm(u)
    back = mesh.add_vertices(center - radius * axis, part)[0]
    ring_ids = []
    for k in range(1, rings + 1):
        polar = np.pi * k / (rings + 1)
        angle = 2 * np.pi * np.arange(segments) / segments
        w = np.cross(axis, u)
        pts = (center - radius * np.cos(polar) * axis
               + radius * np.sin(polar) * (np.cos(angle)[:, None] * u + np.sin(angle)[:, None] * w))
        ring_ids.append(mesh.add_vertices(pts, part))
    first = ring_ids[0]
    mesh.add_faces(np.stack([np.roll(first, -1), first, np.full(segments, back)], 1))
    mesh.add_faces(strip_faces(mesh.points(), ring_ids))
    front = pole_cap(mesh, ring_ids[-1], center + radius * axis, part, at_end=True)
    return back, front


# ----------------------------------------------------------------------------- whole-mesh edits

def split_edge(points: np.ndarray, faces: np.ndarray, a: int, b: int) -> Tuple[np.ndarray, np.ndarray]:
    """Insert the midpoint of edge (a, b), splitting both adjacent triangles in two.

    Adds one vertex and two faces, so vertex/face budgets can be met exactly without changing
    the surface's shape or topology.
    """
    new = len(points)
    points = np.concatenate([points, 0.5 * (points[a] + points[b])[None]])
    rows = []
    for src, dst in ((a, b), (b, a)):
        hit = np.nonzero(np.any((faces == src) & (np.roll(faces, -1, axis=1) == dst), axis=1))[0]
        if len(hit) != 1:
            raise RuntimeError(f"edge ({src}, {dst}) is not a manifold interior edge")
        rows.append(hit[0])
    extra = []
    for row in rows:
        face = faces[row]
        k = int(np.nonzero(face == (a if row == rows[0] else b))[0][0])
        first, second, third = face[k], face[(k + 1) % 3], face[(k + 2) % 3]
        faces[row] = (first, new, third)
        extra.append((new, second, third))
    return points, np.concatenate([faces, np.asarray(extra)])


def drop_unreferenced(points: np.ndarray, faces: np.ndarray,
                      *per_vertex: np.ndarray) -> Tuple[np.ndarray, ...]:
    """Remove vertices no face uses (hole interiors), keeping vertex order.

    Returns points, faces, the old -> new index map (meaningful for kept vertices) and the
    filtered per-vertex arrays.
    """
    used = np.zeros(len(points), bool)
    used[faces.ravel()] = True
    remap = np.cumsum(used) - 1
    return (points[used], remap[faces], remap) + tuple(v[used] for v in per_vertex)


def directed_edges(faces: np.ndarray) -> np.ndarray:
    """All (3F, 2) directed edges of the triangles."""
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def face_normals(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Un-normalised face normals (F, 3); their length is twice the face area."""
    p = points[faces]
    return np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
