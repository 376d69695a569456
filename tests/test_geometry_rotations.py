"""Rotation conversions against roma golden data (Multi-HMR's library), scipy, and the conventions."""
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from ros_phmr.geometry.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rot6d,
    rot6d_to_matrix,
)

# Produced once by roma 1.8.0 outside the project (special_gramschmidt on Multi-HMR's reshape,
# rotvec_to_rotmat, rotmat_to_rotvec); see tests/data/geometry/README.md.
GOLDEN = np.load(Path(__file__).parent / "data" / "geometry" / "roma_rotations_golden.npz")


def _random_rotations(n, seed=0):
    return torch.from_numpy(Rotation.random(n, random_state=seed).as_matrix())  # (n, 3, 3) float64


def _rows_reference(six):
    """Independent numpy Gram-Schmidt over rows (PyTorch3D layout), written out per vector."""
    out = []
    for a in six:
        b1 = a[:3] / np.linalg.norm(a[:3])
        b2 = a[3:] - b1.dot(a[3:]) * b1
        b2 /= np.linalg.norm(b2)
        out.append(np.stack([b1, b2, np.cross(b1, b2)]))
    return np.stack(out)


def test_columns_convention_matches_roma_golden():
    got = rot6d_to_matrix(torch.from_numpy(GOLDEN["rot6d"]), convention="columns").numpy()
    np.testing.assert_allclose(got, GOLDEN["rot6d_columns_matrix"], atol=1e-12)


def test_rows_convention_matches_independent_gram_schmidt():
    six = GOLDEN["rot6d"]
    got = rot6d_to_matrix(torch.from_numpy(six), convention="rows").numpy()
    np.testing.assert_allclose(got, _rows_reference(six), atol=1e-12)


@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_rot6d_round_trip_and_output_is_rotation(convention):
    R = _random_rotations(200)
    six = matrix_to_rot6d(R, convention)
    assert six.shape == (200, 6)
    torch.testing.assert_close(rot6d_to_matrix(six, convention), R, atol=1e-12, rtol=0)
    # arbitrary (unnormalised, float32, batched) input still gives proper rotations
    raw = torch.randn(4, 5, 6) * 10
    Rr = rot6d_to_matrix(raw, convention)
    assert Rr.shape == (4, 5, 3, 3)
    torch.testing.assert_close(Rr @ Rr.transpose(-1, -2), torch.eye(3).expand(4, 5, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(Rr), torch.ones(4, 5), atol=1e-5, rtol=0)


@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_identity_6d_is_identity(convention):
    six = torch.tensor([1.0, 0, 0, 0, 1, 0])
    torch.testing.assert_close(rot6d_to_matrix(six, convention), torch.eye(3))


def test_conventions_are_transposes_on_orthonormal_input():
    R = _random_rotations(50, seed=3)
    six = matrix_to_rot6d(R, "rows")
    torch.testing.assert_close(rot6d_to_matrix(six, "columns"), R.transpose(-1, -2), atol=1e-12, rtol=0)
    assert not torch.allclose(rot6d_to_matrix(six, "columns"), R, atol=1e-3)


@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_prompthmr_init_global_orient_is_180_deg_about_x(convention):
    R = rot6d_to_matrix(torch.tensor([1.0, 0, 0, 0, -1, 0], dtype=torch.float64), convention)
    expected = Rotation.from_rotvec([np.pi, 0, 0]).as_matrix()
    np.testing.assert_allclose(R.numpy(), expected, atol=1e-12)


def test_axis_angle_to_matrix_matches_scipy_and_roma():
    rotvec = GOLDEN["rotvec"]
    got = axis_angle_to_matrix(torch.from_numpy(rotvec)).numpy()
    np.testing.assert_allclose(got, Rotation.from_rotvec(rotvec).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(got, GOLDEN["rotvec_matrix"], atol=1e-12)


def _assert_same_rotvec(got, ref, atol):
    """Equal rotation vectors; at angle pi the axis sign is free, so accept -ref there too."""
    angle = np.linalg.norm(ref, axis=-1)
    direct = np.abs(got - ref).max(axis=-1)
    flipped = np.abs(got + ref).max(axis=-1)
    ok = (direct <= atol) | ((angle > np.pi - 1e-3) & (flipped <= atol))
    assert ok.all(), f"mismatch at {np.nonzero(~ok)[0]}: got {got[~ok]}, ref {ref[~ok]}"


def test_matrix_to_axis_angle_matches_roma_and_scipy_including_near_pi():
    R = GOLDEN["rotvec_matrix"]
    got = matrix_to_axis_angle(torch.from_numpy(R)).numpy()
    _assert_same_rotvec(got, GOLDEN["matrix_rotvec"], atol=1e-7)
    _assert_same_rotvec(got, Rotation.from_matrix(R).as_rotvec(), atol=1e-7)


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-9), (torch.float32, 2e-6)])
def test_axis_angle_round_trip_near_zero_and_pi(dtype, atol):
    axis = torch.nn.functional.normalize(torch.randn(64, 3, dtype=torch.float64), dim=-1)
    for angle in (0.0, 1e-8, 1e-4, 0.3, 3.0, np.pi - 1e-5, np.pi):
        R = axis_angle_to_matrix((axis * angle).to(dtype))
        back = matrix_to_axis_angle(R)
        # compare as rotations (axis sign is free at pi)
        torch.testing.assert_close(axis_angle_to_matrix(back), R, atol=atol, rtol=0)
        assert (torch.linalg.vector_norm(back, dim=-1) <= np.pi + 1e-6).all()


def test_axis_angle_batched_any_leading_dims():
    aa = torch.randn(2, 3, 4, 3)
    R = axis_angle_to_matrix(aa)
    assert R.shape == (2, 3, 4, 3, 3)
    torch.testing.assert_close(R[1, 2, 3], axis_angle_to_matrix(aa[1, 2, 3]))
    assert matrix_to_axis_angle(R).shape == (2, 3, 4, 3)


def test_gradients_finite_at_singular_points():
    aa = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    axis_angle_to_matrix(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()
    # d R / d aa at 0 is the skew generator: numerical check of Rodrigues' derivative
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (torch.full((2, 3), 1e-5, dtype=torch.float64, requires_grad=True),))
    R = torch.stack([torch.eye(3, dtype=torch.float64), axis_angle_to_matrix(torch.tensor([np.pi, 0, 0], dtype=torch.float64))])
    R.requires_grad_(True)
    matrix_to_axis_angle(R).sum().backward()
    assert torch.isfinite(R.grad).all()
    six = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: rot6d_to_matrix(x, "columns"), (six,))


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="convention"):
        rot6d_to_matrix(torch.zeros(6), convention="cols")
    with pytest.raises(ValueError, match=r"\(\.\.\., 6\)"):
        rot6d_to_matrix(torch.zeros(3, 9))
    with pytest.raises(ValueError, match="3, 3"):
        matrix_to_axis_angle(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="torch.Tensor"):
        axis_angle_to_matrix(np.zeros(3))
