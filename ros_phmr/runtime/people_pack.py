"""Per-person results packed into one float32 matrix on the device, read back with one copy.

Reading eight tensors per frame costs eight synchronising copies; packing them on the GPU (in
the captured graph) costs one. ``PackLayout`` names the column ranges so the host can take
zero-copy numpy views of each field.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
import torch

from ros_phmr.geometry.projection import project_points
from ros_phmr.geometry.rotations import matrix_to_axis_angle


@dataclass(frozen=True)
class PackLayout:
    """Field name -> (start, stop, trailing shape) columns of the packed (P, width) matrix."""

    fields: Tuple[Tuple[str, int, int, Tuple[int, ...]], ...]

    @property
    def width(self) -> int:
        return self.fields[-1][2] if self.fields else 0

    def unpack(self, packed: np.ndarray) -> Dict[str, np.ndarray]:
        """(P, width) host array -> name -> (P, *shape) views."""
        return {name: packed[:, a:b].reshape(packed.shape[0], *shape) for name, a, b, shape in self.fields}


def pack_people(tensors: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, PackLayout]:
    """name -> (P, ...) tensors -> ((P, width) float32, layout). Order is the dict's."""
    columns: List[torch.Tensor] = []
    fields = []
    start = 0
    for name, value in tensors.items():
        count = value.shape[0]
        flat = value.reshape(count, -1).float()
        fields.append((name, start, start + flat.shape[1], tuple(value.shape[1:])))
        start += flat.shape[1]
        columns.append(flat)
    return torch.cat(columns, dim=1), PackLayout(tuple(fields))


def person_tensors(rotmats: torch.Tensor, joints: torch.Tensor, K: torch.Tensor,
                   vertices: torch.Tensor = None, **extra: torch.Tensor) -> Dict[str, torch.Tensor]:
    """What a PersonEstimate needs, on the device: axis-angle (P, R, 3), 3D joints (P, J, 3),
    their pixels under K (3, 3) (P, J, 2), optional vertices, plus ``extra`` (betas, transl...)."""
    joints = joints.float()
    out = {"aa": matrix_to_axis_angle(rotmats.float()), "joints": joints,
           "uv": project_points(joints, K.float())}
    out.update(extra)
    if vertices is not None:
        out["vertices"] = vertices
    return out
