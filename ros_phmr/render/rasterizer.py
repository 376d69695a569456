"""Batched z-buffer rasteriser for triangle meshes in a pinhole camera, in plain numpy.

Why our own: the project renders synthetic scenes and overlay pictures on machines without GL
or a GPU, and must not download a renderer. The rasteriser only resolves visibility; colours
are computed afterwards for the winning pixels (see ``shading``), so the per-candidate work is a
handful of vectorised array operations.

Pixel convention (ROS / OpenCV, as in ``ros_phmr.geometry.camera``): pixel (row i, column j)
is sampled at its centre u = j, v = i.

Method: every triangle is projected, its pixel bounding box is enumerated as (triangle, pixel)
candidates in one flat array (chunked to bound memory), barycentric coordinates at pixel centres
decide coverage, and a sort by (pixel, depth) keeps the nearest candidate per pixel.
Depth is interpolated perspective-correctly (1/z is linear in screen space).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# Candidate (triangle, pixel) pairs handled at once; bounds peak memory to a few hundred MB.
_CHUNK_CANDIDATES = 2_000_000


@dataclass(frozen=True)
class Fragments:
    """What is visible at every pixel.

    mesh_id   (H, W) int32, -1 where no mesh covers the pixel
    face_id   (H, W) int32, triangle index within its mesh, -1 for background
    depth     (H, W) float32, camera z in metres, +inf for background
    bary      (H, W, 3) float32, perspective-correct barycentric weights of the face's corners
    """

    mesh_id: np.ndarray
    face_id: np.ndarray
    depth: np.ndarray
    bary: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """(H, W) bool: pixels where some mesh is visible."""
        return self.mesh_id >= 0


def _check_intrinsics(K: np.ndarray) -> np.ndarray:
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)):
        raise ValueError(f"K must be a finite (3, 3) matrix, got shape {K.shape}")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"K must have positive focal lengths, got fx={K[0, 0]}, fy={K[1, 1]}")
    return K


def _check_mesh(vertices: np.ndarray, faces: np.ndarray, index: int):
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"mesh {index}: vertices must be (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"mesh {index}: faces must be an integer (F, 3) array, got {faces.shape} {faces.dtype}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(f"mesh {index}: face indices out of range for {len(vertices)} vertices")
    if not np.all(np.isfinite(vertices)):
        raise ValueError(f"mesh {index}: vertices contain NaN or inf")
    return vertices, faces.astype(np.int64)


def _screen_triangles(meshes, K, near):
    """Project all meshes' triangles; drop those that touch the near plane.

    Returns per kept triangle: corner pixel coords (T,3,2), corner depths (T,3), mesh id (T,),
    face id (T,).
    """
    corners_uv, corners_z, mesh_ids, face_ids = [], [], [], []
    for m, (vertices, faces) in enumerate(meshes):
        vertices, faces = _check_mesh(vertices, faces, m)
        tri = vertices[faces]                                   # (F, 3, 3)
        z = tri[..., 2]                                         # (F, 3)
        keep = np.all(z > near, axis=1)
        tri, z = tri[keep], z[keep]
        u = K[0, 0] * tri[..., 0] / z + K[0, 1] * tri[..., 1] / z + K[0, 2]
        v = K[1, 1] * tri[..., 1] / z + K[1, 2]
        corners_uv.append(np.stack([u, v], axis=-1))
        corners_z.append(z)
        mesh_ids.append(np.full(len(z), m, dtype=np.int32))
        face_ids.append(np.flatnonzero(keep).astype(np.int32))
    if not corners_uv:
        empty = np.zeros((0,), dtype=np.int32)
        return np.zeros((0, 3, 2)), np.zeros((0, 3)), empty, empty
    return (np.concatenate(corners_uv), np.concatenate(corners_z),
            np.concatenate(mesh_ids), np.concatenate(face_ids))


def _pixel_boxes(uv, width, height):
    """Inclusive integer pixel ranges whose centres (u = x, v = y) may fall inside each triangle."""
    x0 = np.clip(np.ceil(uv[..., 0].min(axis=1)), 0, width).astype(np.int64)
    x1 = np.clip(np.floor(uv[..., 0].max(axis=1)), -1, width - 1).astype(np.int64)
    y0 = np.clip(np.ceil(uv[..., 1].min(axis=1)), 0, height).astype(np.int64)
    y1 = np.clip(np.floor(uv[..., 1].max(axis=1)), -1, height - 1).astype(np.int64)
    w = np.maximum(x1 - x0 + 1, 0)
    h = np.maximum(y1 - y0 + 1, 0)
    return x0, y0, w, h


def _chunks(counts, limit):
    """Split triangle indices into consecutive ranges with at most ``limit`` candidates each
    (a single bigger triangle gets a range of its own)."""
    csum = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = csum[start - 1] if start > 0 else 0
        stop = int(np.searchsorted(csum, base + limit, side="right"))
        stop = max(stop, start + 1)
        yield start, stop
        start = stop


def rasterize(meshes: Sequence[tuple], K: np.ndarray, width: int, height: int,
              near: float = 1e-3) -> Fragments:
    """Resolve visibility of ``meshes`` = [(vertices (V,3), faces (F,3)), ...] given in the camera
    optical frame (x right, y down, z forward) for intrinsics ``K`` and a ``width`` x ``height`` image.

    Triangles with a corner closer than ``near`` are skipped (no near-plane clipping); both windings
    are rendered (no back-face culling), so meshes need no consistent orientation.
    """
    if int(width) <= 0 or int(height) <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    width, height = int(width), int(height)
    K = _check_intrinsics(K)
    uv, z, tri_mesh, tri_face = _screen_triangles(meshes, K, near)

    # Edge-function set-up per triangle: barycentric b_i = (A_i x + B_i y + C_i) / area2.
    p0, p1, p2 = uv[:, 0], uv[:, 1], uv[:, 2]                  # (T, 2) each
    area2 = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p2[:, 0] - p0[:, 0]) * (p1[:, 1] - p0[:, 1])
    good = np.abs(area2) > 1e-12
    x0, y0, w, h = _pixel_boxes(uv, width, height)
    counts = np.where(good, w * h, 0)
    keep = counts > 0
    p0, p1, p2, area2 = p0[keep], p1[keep], p2[keep], area2[keep]
    x0, y0, w, counts = x0[keep], y0[keep], w[keep], counts[keep]
    inv_z = 1.0 / z[keep]                                       # (T, 3)
    tri_mesh, tri_face = tri_mesh[keep], tri_face[keep]
    # Coefficients of the edge functions opposite each corner, pre-divided by the signed area.
    edges = []
    for a, b in ((p1, p2), (p2, p0), (p0, p1)):
        A = (a[:, 1] - b[:, 1]) / area2
        B = (b[:, 0] - a[:, 0]) / area2
        C = (a[:, 0] * b[:, 1] - b[:, 0] * a[:, 1]) / area2
        edges.append((A, B, C))

    n_pix = width * height
    best_depth = np.full(n_pix, np.inf, dtype=np.float64)
    best_tri = np.full(n_pix, -1, dtype=np.int64)
    best_bary = np.zeros((n_pix, 3), dtype=np.float64)

    for start, stop in _chunks(counts, _CHUNK_CANDIDATES):
        c = counts[start:stop]
        total = int(c.sum())
        tri = np.repeat(np.arange(start, stop), c)              # (N,) triangle of each candidate
        offsets = np.cumsum(c) - c
        local = np.arange(total) - np.repeat(offsets, c)
        px = x0[tri] + local % w[tri]
        py = y0[tri] + local // w[tri]
        b = np.stack([A[tri] * px + B[tri] * py + C[tri] for A, B, C in edges], axis=1)   # (N, 3)
        inside = np.all(b >= 0.0, axis=1)
        tri, px, py, b = tri[inside], px[inside], py[inside], b[inside]
        # Perspective-correct: 1/z and attribute/z are linear in screen space.
        w_persp = b * inv_z[tri]                                # (N, 3)
        inv_depth = w_persp.sum(axis=1)
        depth = 1.0 / inv_depth
        bary = w_persp * depth[:, None]
        pix = py * width + px
        # Nearest candidate per pixel within the chunk, then merge with the running z-buffer.
        order = np.lexsort((depth, pix))
        pix_sorted = pix[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = pix_sorted[1:] != pix_sorted[:-1]
        win = order[first]
        pix_w = pix[win]
        closer = depth[win] < best_depth[pix_w]
        win, pix_w = win[closer], pix_w[closer]
        best_depth[pix_w] = depth[win]
        best_tri[pix_w] = tri[win]
        best_bary[pix_w] = bary[win]

    covered = best_tri >= 0
    mesh_id = np.full(n_pix, -1, dtype=np.int32)
    face_id = np.full(n_pix, -1, dtype=np.int32)
    mesh_id[covered] = tri_mesh[best_tri[covered]]
    face_id[covered] = tri_face[best_tri[covered]]
    return Fragments(
        mesh_id=mesh_id.reshape(height, width),
        face_id=face_id.reshape(height, width),
        depth=best_depth.astype(np.float32).reshape(height, width),
        bary=best_bary.astype(np.float32).reshape(height, width, 3),
    )
