"""Rotation conversions used by the model heads and the body model.

Two 6D layouts exist in the checkpoints we load, and they are NOT interchangeable:

* ``"rows"`` (PyTorch3D, used by PromptHMR): the 6 numbers are the first two ROWS of R.
* ``"columns"`` (roma ``special_gramschmidt``, used by Multi-HMR): the first two COLUMNS of R.

For the same 6 numbers describing an orthonormal pair, the two conventions give R and R^T.

Every function here is pure torch with static control flow (``torch.where`` instead of
data-dependent ``if``), works over any leading batch dimensions, keeps gradients finite at the
singular points (angle 0 and pi) and never syncs with the host, so it can be traced, exported
to ONNX or captured in a CUDA graph.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ROT6D_CONVENTIONS = ("rows", "columns")

# Below this squared angle (rad^2) the Rodrigues coefficients use their Taylor series; the
# series error (theta^4 terms) is then far below float32 resolution.
_SMALL_ANGLE_SQ = 1e-6


def _check_convention(convention: str) -> None:
    if convention not in ROT6D_CONVENTIONS:
        raise ValueError(
            f"unknown rot6d convention {convention!r}; expected one of {ROT6D_CONVENTIONS} "
            "('rows' = PyTorch3D/PromptHMR, 'columns' = roma/Multi-HMR)"
        )


def _check_last_dims(x: torch.Tensor, dims: tuple, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < len(dims) or tuple(x.shape[-len(dims):]) != dims:
        raise ValueError(f"{name} must have shape (..., {', '.join(map(str, dims))}), got {tuple(x.shape)}")


def rot6d_to_matrix(x: torch.Tensor, convention: str = "rows") -> torch.Tensor:
    """Map 6 unconstrained numbers to a rotation by Gram-Schmidt. (..., 6) -> (..., 3, 3).

    a1 = x[..., 0:3], a2 = x[..., 3:6]; b1 = a1/|a1|; b2 = normalise(a2 - (b1.a2) b1);
    b3 = b1 x b2. ``"rows"`` stacks b1, b2, b3 as rows, ``"columns"`` as columns.
    Raw network outputs are unnormalised (entries around 10 are normal).
    """
    _check_convention(convention)
    _check_last_dims(x, (6,), "rot6d")
    a1, a2 = x[..., 0:3], x[..., 3:6]  # (..., 3) each
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    stack_dim = -2 if convention == "rows" else -1
    return torch.stack((b1, b2, b3), dim=stack_dim)  # (..., 3, 3)


def matrix_to_rot6d(R: torch.Tensor, convention: str = "rows") -> torch.Tensor:
    """Inverse of :func:`rot6d_to_matrix` on rotations. (..., 3, 3) -> (..., 6)."""
    _check_convention(convention)
    _check_last_dims(R, (3, 3), "rotation matrix")
    if convention == "rows":
        pair = R[..., 0:2, :]  # (..., 2, 3): rows 0 and 1
    else:
        pair = R[..., :, 0:2].transpose(-1, -2)  # (..., 2, 3): columns 0 and 1
    return pair.reshape(*R.shape[:-2], 6)


def _skew(v: torch.Tensor) -> torch.Tensor:
    """Cross-product matrix [v]_x. (..., 3) -> (..., 3, 3)."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack(
        (
            torch.stack((zero, -z, y), dim=-1),
            torch.stack((z, zero, -x), dim=-1),
            torch.stack((-y, x, zero), dim=-1),
        ),
        dim=-2,
    )


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula R = I + A [w]_x + B [w]_x^2 for a rotation vector w. (..., 3) -> (..., 3, 3).

    A = sin(t)/t and B = (1 - cos t)/t^2 = 0.5 * (sin(t/2)/(t/2))^2 (the second form avoids the
    cancellation of 1 - cos t in float32); both switch to their Taylor series near t = 0 so
    values and gradients stay finite there.
    """
    _check_last_dims(aa, (3,), "axis-angle")
    theta_sq = (aa * aa).sum(dim=-1)  # (...)
    small = theta_sq < _SMALL_ANGLE_SQ
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    half = 0.5 * theta
    a_coef = torch.where(small, 1.0 - theta_sq / 6.0 + theta_sq * theta_sq / 120.0, torch.sin(theta) / theta)
    sinc_half = torch.sin(half) / half
    b_coef = torch.where(small, 0.5 - theta_sq / 24.0 + theta_sq * theta_sq / 720.0, 0.5 * sinc_half * sinc_half)
    K = _skew(aa)  # (..., 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device)
    return eye + a_coef[..., None, None] * K + b_coef[..., None, None] * (K @ K)


def _matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (w, x, y, z) with w >= 0. (..., 3, 3) -> (..., 4).

    Each of the four candidate rows below equals 4*q_i*q; the row with the largest 4*q_i^2 is
    the best conditioned (|q_i| >= 1/2, so its norm 4|q_i| >= 2) and is normalised. Selection is
    a device-side gather, not indexing by a host value.
    """
    r00, r01, r02 = R[..., 0, 0], R[..., 0, 1], R[..., 0, 2]
    r10, r11, r12 = R[..., 1, 0], R[..., 1, 1], R[..., 1, 2]
    r20, r21, r22 = R[..., 2, 0], R[..., 2, 1], R[..., 2, 2]
    candidates = torch.stack(
        (
            torch.stack((1.0 + r00 + r11 + r22, r21 - r12, r02 - r20, r10 - r01), dim=-1),  # 4w * q
            torch.stack((r21 - r12, 1.0 + r00 - r11 - r22, r01 + r10, r02 + r20), dim=-1),  # 4x * q
            torch.stack((r02 - r20, r01 + r10, 1.0 - r00 + r11 - r22, r12 + r21), dim=-1),  # 4y * q
            torch.stack((r10 - r01, r02 + r20, r12 + r21, 1.0 - r00 - r11 + r22), dim=-1),  # 4z * q
        ),
        dim=-2,
    )  # (..., 4, 4)
    diag = torch.diagonal(candidates, dim1=-2, dim2=-1)  # (..., 4) = 4 q_i^2
    best = diag.argmax(dim=-1, keepdim=True)[..., None].expand(*diag.shape[:-1], 1, 4)  # (..., 1, 4)
    chosen = candidates.gather(-2, best).squeeze(-2)  # (..., 4)
    q = chosen / torch.linalg.vector_norm(chosen, dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """Rotation vector (axis * angle, angle in [0, pi]). (..., 3, 3) -> (..., 3).

    Goes through the quaternion (w >= 0): angle = 2 atan2(|v|, w), which is accurate near 0
    (no acos of a value near 1) and near pi (w -> 0, the axis comes from the diagonal-based
    candidate). At exactly pi, w and -w describe the same rotation and either axis sign is valid.
    """
    _check_last_dims(R, (3, 3), "rotation matrix")
    q = _matrix_to_quaternion(R)  # (..., 4)
    w, v = q[..., 0], q[..., 1:]
    n_sq = (v * v).sum(dim=-1)
    small = n_sq < _SMALL_ANGLE_SQ
    n = torch.sqrt(torch.where(small, torch.ones_like(n_sq), n_sq))
    # angle/|v| = 2 atan2(n, w)/n; near n = 0 (then w ~ 1) its series is 2/w - (2/3) n^2/w^3.
    w_safe = torch.where(small, w, torch.ones_like(w))
    factor = torch.where(
        small,
        2.0 / w_safe - (2.0 / 3.0) * n_sq / (w_safe * w_safe * w_safe),
        2.0 * torch.atan2(n, w) / n,
    )
    return v * factor[..., None]
