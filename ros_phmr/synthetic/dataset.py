"""Labelled synthetic multi-person images generated on the fly (GPU or CPU), for training and eval.

``SyntheticBatchMaker(body, ...).make(batch, generator)`` draws layouts (``crowd``), shapes
and poses (``poses``), poses the bodies with the batched SMPL-X-format model, renders all of
them at once (``splat_raster``), shades them (Lambert with random light, per-part colours) over
textured backgrounds (``backdrops``) and returns images plus exact labels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from . import draws
import torch.nn.functional as F

from ..geometry.rotations import matrix_to_axis_angle
from .backdrops import random_backdrops
from .crowd import Layout, sample_layout
from .poses import random_body_pose
from .splat_raster import render_fragments

NUM_BETAS = 10
HEAD_JOINT = 15
BODY_JOINTS = 22
# Colour groups: 0 skin, 1 top, 2 trousers, 3 shoes (by the joint that skins a vertex most), 4 shirt front, 5 face.
TOP, SHIRT_FRONT, FACE, COLOUR_GROUPS = 1, 4, 5, 6
_PART_OF_JOINT = [1, 2, 2, 1, 2, 2, 1, 2, 2, 1, 3, 3, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0] + [0] * 33


@dataclass
class SyntheticBatch:
    """B images, P person slots each (``valid`` says which are used). Camera optical frame, metres."""

    images: torch.Tensor         # (B, 3, H, W) float in [0, 1]
    K: torch.Tensor              # (B, 3, 3)
    content: torch.Tensor        # (B, 4) long x0, y0, x1, y1 of the non-letterbox area
    valid: torch.Tensor          # (B, P) bool
    detectable: torch.Tensor     # (B, P) bool: valid, head in the content, >= min_visible of the body seen
    betas: torch.Tensor          # (B, P, 10)
    global_orient: torch.Tensor  # (B, P, 3, 3)
    body_pose: torch.Tensor      # (B, P, 21, 3, 3)
    transl: torch.Tensor         # (B, P, 3) SMPL-X transl (mean hands, neutral face)
    joints: torch.Tensor         # (B, P, 127, 3)
    joints2d: torch.Tensor       # (B, P, 127, 2) pixels
    vertices: torch.Tensor       # (B, P, V, 3)
    boxes: torch.Tensor          # (B, P, 4) xyxy of the projected mesh, clipped to the content
    visible_boxes: torch.Tensor  # (B, P, 4) xyxy of the visible pixels (zeros when none)
    masks: torch.Tensor          # (B, P, H, W) bool visible pixels
    visible_fraction: torch.Tensor  # (B, P) visible pixels / pixels of the body alone
    depth: torch.Tensor          # (B, H, W) float32, inf = background
    parts: torch.Tensor          # (B, H, W) long: visible body joint 0..21 (hands -> wrists, face -> head), -1 = none

    def to_numpy_person(self, b: int) -> dict:
        """Labels of image ``b``'s used slots as numpy arrays (for eval and tests)."""
        keep = self.valid[b]
        out = {k: getattr(self, k)[b][keep].detach().cpu().numpy()
               for k in ("betas", "global_orient", "body_pose", "transl", "joints", "joints2d",
                         "boxes", "visible_boxes", "visible_fraction", "detectable")}
        out["global_orient_aa"] = matrix_to_axis_angle(self.global_orient[b][keep]).cpu().numpy()
        out["body_pose_aa"] = matrix_to_axis_angle(self.body_pose[b][keep]).cpu().numpy()
        return out


@dataclass
class PosedPeople:
    """``SyntheticBatchMaker.pose``: n = B * P person slots, camera optical frame, metres."""

    layout: Layout               # the images' cameras, content areas and used slots
    betas: torch.Tensor          # (n, 10)
    global_orient: torch.Tensor  # (n, 3, 3)
    body_pose: torch.Tensor      # (n, 21, 3, 3)
    transl: torch.Tensor         # (n, 3)
    vertices: torch.Tensor       # (n, V, 3)
    joints: torch.Tensor         # (n, 127, 3)


def _project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """points (B, P, N, 3), K (B, 3, 3) -> (B, P, N, 2) pixels."""
    z = points[..., 2:].clamp(min=1e-4)
    uv1 = torch.einsum("bij,bpnj->bpni", K, points / z)
    return uv1[..., :2]


def check_depth_range(depth_range) -> tuple:
    """(near, far) metres of the people's depth -> floats; refuses 0.5 > near or near >= far."""
    near, far = (float(v) for v in depth_range)
    if not 0.5 <= near < far:
        raise ValueError(f"depth_range must satisfy 0.5 <= near < far (metres), got {tuple(depth_range)}")
    return near, far


class SyntheticBatchMaker:
    """Makes batches with one body model on one device."""

    def __init__(self, body, height: int, width: int, max_people: int = 6, min_people: int = 1,
                 letterbox: bool = False, subdivisions: int = 4, min_visible: float = 0.2,
                 depth_range=(1.8, 9.0)):
        if not 1 <= min_people <= max_people <= 15:
            raise ValueError(f"need 1 <= min_people <= max_people <= 15, got {min_people}, {max_people}")
        if height < 16 or width < 16:
            raise ValueError(f"image must be at least 16x16, got {width}x{height}")
        self.body = body
        self.height, self.width = int(height), int(width)
        self.max_people, self.min_people = int(max_people), int(min_people)
        self.letterbox = bool(letterbox)
        self.subdivisions = int(subdivisions)
        self.min_visible = float(min_visible)
        self.depth_range = check_depth_range(depth_range)
        device = body.faces.device
        part = torch.tensor(_PART_OF_JOINT, device=device)[body.lbs_weights.argmax(1)]   # (V,)
        self.face_part = part[body.faces[:, 0]]                                             # (F,)
        # Body joint (0..21) that moves each face: finger and face joints climb to their ancestor.
        parents = list(body.parents)
        body_joint = []
        for j in range(len(parents)):
            while j >= BODY_JOINTS:
                j = parents[j]
            body_joint.append(j)
        vertex_joint = torch.tensor(body_joint, device=device)[body.lbs_weights.argmax(1)]
        self.face_joint = vertex_joint[body.faces[:, 0]]                                    # (F,)
        # Front and back must look different: a left-right symmetric mannequin in one colour
        # per part looks the same from the front and from behind, and heading becomes
        # unlearnable. The front of the shirt and the face get colours of their own.
        tri = body.v_template[body.faces]                                                   # (F, 3, 3)
        normal = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
        front = F.normalize(normal, dim=-1)[:, 2] > 0.3                                     # faces +z (forward)
        self.face_part = torch.where(front & (self.face_part == TOP), SHIRT_FRONT, self.face_part)
        self.face_part = torch.where(front & (self.face_joint == HEAD_JOINT), FACE, self.face_part)

    @property
    def device(self) -> torch.device:
        return self.body.faces.device

    @torch.no_grad()
    def pose(self, batch: int, generator: torch.Generator) -> PosedPeople:
        """The people of ``batch`` images placed and posed, not rendered: the first half of ``make``
        (same draws), for uses that need only geometry (``ros-phmr probe``'s lifting reference)."""
        B, P, H, W = int(batch), self.max_people, self.height, self.width
        dev = self.device
        lay = sample_layout(B, P, H, W, generator, dev, self.letterbox, self.min_people, self.depth_range)
        n = B * P
        betas = (draws.randn(generator, n, NUM_BETAS, device=dev) * 0.9).clamp(-2.5, 2.5)
        body_pose = random_body_pose(n, generator, dev)
        go = lay.global_orient.reshape(n, 3, 3)
        hands = self.body.mean_hands(n)
        posed = self.body(go, body_pose, betas, **hands)
        pelvis = posed.joints[:, 0]                                             # (n, 3)
        transl = lay.pelvis.reshape(n, 3) - pelvis
        # Unused slots go behind the camera (never rendered).
        transl = torch.where(lay.valid.reshape(n, 1), transl, transl.new_tensor([0.0, 0.0, -100.0]))
        return PosedPeople(layout=lay, betas=betas, global_orient=go, body_pose=body_pose, transl=transl,
                           vertices=posed.vertices + transl[:, None], joints=posed.joints + transl[:, None])

    @torch.no_grad()
    def make(self, batch: int, generator: torch.Generator) -> SyntheticBatch:
        B, P, H, W = int(batch), self.max_people, self.height, self.width
        dev, n = self.device, B * P
        people = self.pose(B, generator)
        lay, betas, go, body_pose, transl = (people.layout, people.betas, people.global_orient, people.body_pose,
                                             people.transl)
        verts, joints = people.vertices, people.joints                         # (n, V, 3), (n, 127, 3)

        image_index = torch.arange(B, device=dev).repeat_interleave(P)
        slot = torch.arange(P, device=dev).repeat(B)
        used = lay.valid.reshape(n).nonzero().squeeze(1)   # only used slots are splatted (host sync)
        frags = render_fragments(verts[used], self.body.faces, image_index[used], slot[used], lay.K, H, W,
                                 self.subdivisions)
        x0, y0, x1, y1 = (lay.content[:, i].view(B, 1, 1) for i in range(4))
        rows = torch.arange(H, device=dev).view(1, H, 1)
        cols = torch.arange(W, device=dev).view(1, 1, W)
        inside = (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)     # (B, H, W)
        slot_map = torch.where(inside, frags.slot, -1)
        masks = slot_map[:, None] == torch.arange(P, device=dev).view(1, P, 1, 1)   # (B, P, H, W)

        images = self._shade(verts.view(B, P, -1, 3), frags, slot_map, generator)
        images = images * inside[:, None]

        verts = verts.view(B, P, -1, 3)
        joints = joints.view(B, P, -1, 3)
        uv = _project(verts, lay.K)
        j2d = _project(joints, lay.K)
        lo = torch.stack([x0.view(B, 1), y0.view(B, 1)], -1).float()
        hi = torch.stack([x1.view(B, 1), y1.view(B, 1)], -1).float()
        boxes = torch.cat([torch.maximum(uv.amin(2), lo), torch.minimum(uv.amax(2), hi)], -1)   # (B, P, 4)
        visible_boxes = _mask_boxes(masks)
        alone = _silhouette_area(uv, lay.content, H, W)                       # (B, P)
        visible = masks.flatten(2).sum(-1).float()
        fraction = visible / alone.clamp(min=1.0)
        head = j2d[:, :, HEAD_JOINT]
        head_in = ((head[..., 0] >= lo[..., 0]) & (head[..., 0] < hi[..., 0])
                   & (head[..., 1] >= lo[..., 1]) & (head[..., 1] < hi[..., 1]))
        detectable = lay.valid & head_in & (fraction >= self.min_visible)
        return SyntheticBatch(
            images=images, K=lay.K, content=lay.content, valid=lay.valid, detectable=detectable,
            betas=betas.view(B, P, -1), global_orient=go.view(B, P, 3, 3),
            body_pose=body_pose.view(B, P, 21, 3, 3), transl=transl.view(B, P, 3), joints=joints,
            joints2d=j2d, vertices=verts, boxes=boxes, visible_boxes=visible_boxes, masks=masks,
            visible_fraction=fraction, depth=frags.depth,
            parts=torch.where(slot_map >= 0, self.face_joint[frags.face.clamp(min=0)], -1))

    def _shade(self, verts: torch.Tensor, frags, slot_map: torch.Tensor, generator) -> torch.Tensor:
        """Lambert shading of the visible faces over a random backdrop -> (B, 3, H, W)."""
        B, P = verts.shape[:2]
        H, W = slot_map.shape[1:]
        dev = verts.device

        def r(*shape):
            return draws.rand(generator, *shape, device=dev)

        faces = self.body.faces
        tri = verts[:, :, faces]                                                # (B, P, F, 3, 3)
        normal = torch.cross(tri[..., 1, :] - tri[..., 0, :], tri[..., 2, :] - tri[..., 0, :], dim=-1)
        normal = F.normalize(normal, dim=-1)                                    # (B, P, F, 3)
        centre = tri.mean(-2)
        # Two-sided: normals face the camera.
        normal = torch.where(((normal * centre).sum(-1, keepdim=True) > 0), -normal, normal)
        covered = slot_map >= 0
        s = slot_map.clamp(min=0)
        f = frags.face.clamp(min=0)
        b_idx = torch.arange(B, device=dev).view(B, 1, 1).expand(B, H, W)
        n_pix = normal[b_idx, s, f]                                             # (B, H, W, 3)
        light = F.normalize(torch.stack([2 * r(B) - 1, -0.5 - r(B), -0.3 - r(B)], -1), dim=-1)   # towards light
        ambient = 0.25 + 0.3 * r(B)
        lambert = (n_pix * light.view(B, 1, 1, 3)).sum(-1).clamp(min=0)         # (B, H, W)
        palette = r(B, P, COLOUR_GROUPS, 3) * 0.85 + 0.1                        # colour per person and group
        albedo = palette[b_idx, s, self.face_part[f]]                           # (B, H, W, 3)
        shade = (ambient.view(B, 1, 1) + (1 - ambient.view(B, 1, 1)) * lambert)[..., None]
        people = (albedo * shade).permute(0, 3, 1, 2)                           # (B, 3, H, W)
        back = random_backdrops(B, H, W, generator, dev)
        img = torch.where(covered[:, None], people, back)
        gain = 0.7 + 0.6 * r(B, 1, 1, 1)
        noise = torch.randn(B, 3, H, W, generator=draws.device_generator(generator, dev), device=dev) * 0.02 * r(B, 1, 1, 1)
        return (img * gain + noise).clamp(0, 1)


def _mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(B, P, H, W) bool -> (B, P, 4) xyxy pixel-edge boxes of the True pixels (zeros if none)."""
    H, W = masks.shape[-2:]
    any_row, any_col = masks.any(-1), masks.any(-2)                             # (B, P, H), (B, P, W)
    rows = torch.arange(H, device=masks.device).float()
    cols = torch.arange(W, device=masks.device).float()
    big = 1e9
    y0 = torch.where(any_row, rows, big).amin(-1)
    y1 = torch.where(any_row, rows + 1, -big).amax(-1)
    x0 = torch.where(any_col, cols, big).amin(-1)
    x1 = torch.where(any_col, cols + 1, -big).amax(-1)
    box = torch.stack([x0, y0, x1, y1], -1)
    return torch.where(any_row.any(-1, keepdim=True), box, torch.zeros_like(box))


def _silhouette_area(uv: torch.Tensor, content: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, P) pixels covered by each person's projected vertices alone (occlusion ignored),
    counted on a coarse 1/2-resolution grid and scaled back: the denominator of visibility."""
    B, P, V, _ = uv.shape
    h, w = (height + 1) // 2, (width + 1) // 2
    col = (uv[..., 0] / 2).round().long()
    row = (uv[..., 1] / 2).round().long()
    x0, y0, x1, y1 = (content[:, i].view(B, 1, 1) for i in range(4))
    ok = (col * 2 >= x0) & (col * 2 < x1) & (row * 2 >= y0) & (row * 2 < y1)
    cell = ((torch.arange(B * P, device=uv.device).view(B, P, 1) * h + row.clamp(0, h - 1)) * w
            + col.clamp(0, w - 1))
    grid = torch.zeros(B * P * h * w, device=uv.device)
    grid.scatter_(0, cell[ok], 1.0)
    return grid.view(B, P, -1).sum(-1) * 4.0
