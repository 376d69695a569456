"""Random draws that do not depend on the device the data is made on.

Values are drawn from the caller's generator on its own device (normally the CPU) and then
moved, so a seed gives the same scenes on a laptop and on a GPU; only bulk per-pixel noise is
drawn on the target device (``device_generator``), where drawing it on the CPU would be slow.
"""
from __future__ import annotations

import torch


def rand(generator: torch.Generator, *shape, device=None) -> torch.Tensor:
    return torch.rand(*shape, generator=generator, device=generator.device).to(device)


def randn(generator: torch.Generator, *shape, device=None) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, device=generator.device).to(device)


def device_generator(generator: torch.Generator, device) -> torch.Generator:
    """A generator on ``device`` seeded from ``generator`` (one draw)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return torch.Generator(device=device).manual_seed(seed)
