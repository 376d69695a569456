"""Small torch helpers of the refinement's optimisation: skeleton spheres for the
interpenetration term, exact rotation increments in a few ops, and ancestor tables for forward
kinematics by pointer jumping (a handful of batched products instead of a loop over joints).
"""
from __future__ import annotations

from typing import Sequence

import torch

from ros_phmr.body import BodyModel

NUM_BODY_JOINTS_2D = 22   # pelvis + 21 body joints: the joints whose projection is kept


def sphere_proxies(body: BodyModel) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inscribed spheres on the skeleton: (joint index a, joint index b, radius) per sphere,
    centred at the point halfway between joints a and b (a == b: at the joint); radius is the
    rest-pose distance from the centre to the nearest mesh vertex."""
    parents = body.parents
    pairs = [(j, j) for j in range(NUM_BODY_JOINTS_2D)]
    pairs += [(parents[j], j) for j in range(1, NUM_BODY_JOINTS_2D)]
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    joints = body.joint_template.detach().cpu()
    centres = 0.5 * (joints[a] + joints[b])                                        # (S, 3)
    radius = torch.cdist(centres, body.v_template.detach().cpu()).amin(1)          # (S,)
    return a, b, radius


def skew_generators(device=None) -> torch.Tensor:
    """(3, 9) matrix G with ``u @ G`` = the cross-product matrix [u]x, flattened."""
    g = torch.zeros(3, 3, 3)
    for axis, (i, j) in enumerate(((2, 1), (0, 2), (1, 0))):
        g[axis, i, j], g[axis, j, i] = 1.0, -1.0
    return g.reshape(3, 9).to(device)


def increment_rotation(w: torch.Tensor, generators: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of increments w (..., 3): the unit quaternion
    (1, w/2)/|(1, w/2)|, i.e. R = I + 2/(1+|u|^2) ([u]x + [u]x^2) with u = w/2 - an exact
    rotation by 2 atan(|w|/2) (about |w| for small w) about w, in a handful of ops (Rodrigues'
    series branches cost several times as many kernels per step). ``generators``: the
    :func:`skew_generators` times 0.5 (so that ``w @ generators`` is [u]x directly)."""
    scale = 8.0 / (4.0 + (w * w).sum(-1))                                             # 2/(1+|u|^2)
    k = (w @ generators).view(*w.shape[:-1], 3, 3)                                    # (..., 3, 3)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    return torch.addcmul(eye, scale[..., None, None], k + k @ k)


def ancestor_tables(parents: Sequence[int]) -> list[list[int]]:
    """Ancestor index tables for forward kinematics by pointer jumping.

    Round r maps each joint to its 2^r-th ancestor, with a virtual identity joint (index J)
    standing for "above the root"; ceil(log2(depth + 1)) rounds cover the whole tree.
    """
    count = len(parents)
    anc = [p if p >= 0 else count for p in parents] + [count]
    tables = []
    while any(a != count for a in anc[:count]):
        tables.append(anc)
        anc = [anc[a] for a in anc]
    return tables
