"""The two fixed positional encodings stored as buffers in PromptHMR checkpoints.

* ``RandomFourierEncoding`` (SAM's random spatial frequencies): a point (x, y) in [0, 1]^2 maps
  to [sin(2 pi (2p - 1) G), cos(2 pi (2p - 1) G)] with a Gaussian matrix G (2, D/2) saved in the
  checkpoint (``positional_encoding_gaussian_matrix``). Used for box corners and as the image
  tokens' positional encoding (cell centres of the token grid).
* ``PersonIndexEncoding``: the sinusoid table of "Attention is all you need" (``pos_table``,
  (1, 100, D)) added per person index in the cross-person attention.
"""
import math

import numpy as np
import torch
from torch import nn


class RandomFourierEncoding(nn.Module):
    def __init__(self, num_features: int):
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_features))

    def encode(self, unit_coords: torch.Tensor) -> torch.Tensor:
        """(..., 2) coordinates in [0, 1] (x, y) -> (..., 2 * num_features)."""
        projected = (2 * unit_coords - 1) @ self.positional_encoding_gaussian_matrix
        projected = 2 * math.pi * projected
        return torch.cat([torch.sin(projected), torch.cos(projected)], dim=-1)

    def grid(self, rows: int, cols: int) -> torch.Tensor:
        """Encoding of every token-grid cell centre -> (rows * cols, 2 * num_features), row-major."""
        matrix = self.positional_encoding_gaussian_matrix
        y = (torch.arange(rows, device=matrix.device, dtype=torch.float32) + 0.5) / rows
        x = (torch.arange(cols, device=matrix.device, dtype=torch.float32) + 0.5) / cols
        coords = torch.stack(torch.broadcast_tensors(x[None, :], y[:, None]), dim=-1)  # (rows, cols, 2)
        return self.encode(coords).reshape(rows * cols, -1)


def sinusoid_table(positions: int, dim: int) -> torch.Tensor:
    """(1, positions, dim): sin on even, cos on odd channels, angle pos / 10000^(2*(j//2)/dim)."""
    pos = np.arange(positions, dtype=np.float64)[:, None]
    exponent = 2 * (np.arange(dim) // 2) / dim
    angles = pos / np.power(10000.0, exponent)[None, :]
    table = np.where(np.arange(dim) % 2 == 0, np.sin(angles), np.cos(angles))
    return torch.from_numpy(table).float()[None]


class PersonIndexEncoding(nn.Module):
    def __init__(self, dim: int, max_people: int = 100):
        super().__init__()
        self.register_buffer("pos_table", sinusoid_table(max_people, dim))

    @property
    def max_people(self) -> int:
        return self.pos_table.shape[1]

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        """(N,) long person indices -> (N, D); indices past the table reuse its last row."""
        return self.pos_table[0, index.clamp(max=self.max_people - 1)]
