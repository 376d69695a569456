"""Batched z-buffer rendering of many meshes into many images by dense surface-point splatting.

Why not triangles: a per-triangle scan needs data-dependent pixel lists; on a GPU it is far
cheaper to put a fixed barycentric grid of points on every triangle (15 per face by default),
project all of them at once and keep, per pixel, the nearest one with one ``scatter_reduce``
('amin') of packed int64 keys ``depth | person slot | face``. Faces of the training
resolution's bodies span a few pixels, so the grid leaves at most isolated holes, which one
3x3 closing pass fills (only pixels surrounded by covered ones, so silhouettes do not grow).

Everything is batched torch without host syncs, on any device.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

DEPTH_UNIT_M = 1e-4            # depth quantum of the z-buffer key
SLOT_BITS, FACE_BITS = 4, 16   # up to 16 people per image, 65536 faces
EMPTY_KEY = torch.iinfo(torch.int64).max


@dataclass
class Fragments:
    """Per pixel of B images of H x W: the visible person slot and face (-1 = background),
    camera depth (inf = background)."""

    slot: torch.Tensor    # (B, H, W) long
    face: torch.Tensor    # (B, H, W) long
    depth: torch.Tensor   # (B, H, W) float32


def barycentric_grid(subdivisions: int, device=None) -> torch.Tensor:
    """(S, 3) barycentric weights of a regular grid on a triangle, S = (n+1)(n+2)/2."""
    n = int(subdivisions)
    pts = [(i / n, j / n, (n - i - j) / n) for i in range(n + 1) for j in range(n + 1 - i)]
    return torch.tensor(pts, dtype=torch.float32, device=device)


def _neighbour_stack(keys: torch.Tensor) -> torch.Tensor:
    """(B, H, W) -> (8, B, H, W): the 8 neighbours of every pixel (EMPTY outside)."""
    padded = torch.nn.functional.pad(keys, (1, 1, 1, 1), value=EMPTY_KEY)
    h, w = keys.shape[-2:]
    return torch.stack([padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                        for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])


def points_per_chunk(device: torch.device) -> int:
    """Surface points splatted per pass: bounds the temporaries (about 60 bytes a point) at
    roughly 2 GB on a GPU, where fewer, larger passes keep the launch count down, and 250 MB
    on the CPU."""
    return 2**25 if device.type == "cuda" else 2**22


def render_fragments(vertices: torch.Tensor, faces: torch.Tensor, image_index: torch.Tensor,
                     slot: torch.Tensor, K: torch.Tensor, height: int, width: int,
                     subdivisions: int = 4, near: float = 0.05) -> Fragments:
    """vertices (P, V, 3) camera optical frame; faces (F, 3); image_index (P,) and slot (P,)
    (slot < 16) say where each mesh goes; K (B, 3, 3). Points nearer than ``near`` are skipped."""
    batch = K.shape[0]
    count, num_faces = vertices.shape[0], faces.shape[0]
    bary = barycentric_grid(subdivisions, vertices.device)                   # (S, 3)
    keys = torch.full((batch * height * width,), EMPTY_KEY, dtype=torch.int64, device=vertices.device)
    face_ids = torch.arange(num_faces, device=vertices.device)
    chunk = max(1, points_per_chunk(vertices.device) // (num_faces * bary.shape[0]))   # meshes per pass
    for p0 in range(0, count, chunk):
        verts = vertices[p0:p0 + chunk]
        tri = verts[:, faces]                                                # (p, F, 3, 3)
        pts = torch.einsum("sk,pfkc->pfsc", bary, tri)                       # (p, F, S, 3)
        Kp = K[image_index[p0:p0 + chunk]]                                   # (p, 3, 3)
        z = pts[..., 2]
        zc = z.clamp(min=1e-6)
        u = Kp[:, 0, 0, None, None] * pts[..., 0] / zc + Kp[:, 0, 1, None, None] * pts[..., 1] / zc + Kp[:, 0, 2, None, None]
        v = Kp[:, 1, 1, None, None] * pts[..., 1] / zc + Kp[:, 1, 2, None, None]
        col, row = torch.round(u).long(), torch.round(v).long()
        ok = (z > near) & (col >= 0) & (col < width) & (row >= 0) & (row < height)
        pix = (image_index[p0:p0 + chunk, None, None] * height + row.clamp(0, height - 1)) * width + col.clamp(0, width - 1)
        depth_q = (z / DEPTH_UNIT_M).clamp(0, 2**40).long()
        key = ((depth_q << (SLOT_BITS + FACE_BITS))
               | (slot[p0:p0 + chunk, None, None] << FACE_BITS)
               | face_ids[None, :, None])
        key = torch.where(ok, key, torch.full_like(key, EMPTY_KEY))
        keys.scatter_reduce_(0, pix.reshape(-1), key.reshape(-1), reduce="amin")
    keys = keys.view(batch, height, width)
    # Close isolated holes: an empty pixel with >= 6 covered neighbours takes the nearest of them.
    neighbours = _neighbour_stack(keys)
    covered = (neighbours != EMPTY_KEY).sum(0)
    fill = (keys == EMPTY_KEY) & (covered >= 6)
    keys = torch.where(fill, neighbours.min(0).values, keys)
    empty = keys == EMPTY_KEY
    face = torch.where(empty, -1, keys & ((1 << FACE_BITS) - 1))
    slot_id = torch.where(empty, -1, (keys >> FACE_BITS) & ((1 << SLOT_BITS) - 1))
    depth = torch.where(empty, float("inf"), (keys >> (SLOT_BITS + FACE_BITS)).float() * DEPTH_UNIT_M)
    return Fragments(slot=slot_id, face=face, depth=depth)
