"""Lambert shading of rasterised fragments.

Why separate from the rasteriser: visibility is resolved once, then any number of looks
(solid colours, overlay tints, instance masks) are cheap per-pixel lookups.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .rasterizer import Fragments

# Light from above-left of the camera, pointing into the scene (optical frame: y down, z forward).
DEFAULT_LIGHT_DIR = np.array([-0.35, -0.6, 1.0])


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals. vertices (V,3), faces (F,3) -> (V,3) float64."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    tri = vertices[faces]                                            # (F, 3, 3)
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # (F, 3), length = 2 * area
    normals = np.zeros_like(vertices)
    for corner in range(3):
        for axis in range(3):
            normals[:, axis] += np.bincount(faces[:, corner], weights=face_n[:, axis],
                                            minlength=len(vertices))
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.maximum(norm, 1e-12)


def lambert_intensity(fragments: Fragments, meshes: Sequence[tuple], K: np.ndarray,
                      light_dir: np.ndarray = DEFAULT_LIGHT_DIR, ambient: float = 0.3) -> np.ndarray:
    """(H, W) float32 brightness in [0, 1] of the visible surface (0 on background).

    Normals are interpolated from vertex normals (smooth look) and turned towards the camera, so
    meshes of either winding shade the same; ``light_dir`` is the direction the light travels.
    A headlight term from the viewing ray keeps silhouettes readable.
    """
    h, w = fragments.mesh_id.shape
    out = np.zeros(h * w, dtype=np.float32)
    mesh_id = fragments.mesh_id.reshape(-1)
    face_id = fragments.face_id.reshape(-1)
    bary = fragments.bary.reshape(-1, 3).astype(np.float64)
    light = np.asarray(light_dir, dtype=np.float64)
    light = light / np.linalg.norm(light)
    K_inv = np.linalg.inv(np.asarray(K, dtype=np.float64))
    ys, xs = np.divmod(np.arange(h * w), w)
    for m, (vertices, faces) in enumerate(meshes):
        pix = np.flatnonzero(mesh_id == m)
        if pix.size == 0:
            continue
        faces = np.asarray(faces, dtype=np.int64)
        vn = vertex_normals(vertices, faces)
        corners = faces[face_id[pix]]                                 # (P, 3)
        n = np.einsum("pc,pcd->pd", bary[pix], vn[corners])          # (P, 3)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        # Viewing ray through the pixel centre (camera -> surface).
        ray = np.stack([xs[pix], ys[pix], np.ones(pix.size)], axis=1) @ K_inv.T
        ray /= np.linalg.norm(ray, axis=1, keepdims=True)
        cos_view = np.einsum("pd,pd->p", n, ray)
        n *= np.where(cos_view > 0, -1.0, 1.0)[:, None]             # turn normals towards the camera
        facing = np.abs(cos_view)
        diffuse = np.maximum(-(n @ light), 0.0)
        out[pix] = np.clip(ambient + (1.0 - ambient) * (0.65 * diffuse + 0.35 * facing), 0.0, 1.0)
    return out.reshape(h, w)
